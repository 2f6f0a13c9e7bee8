// What this client publishes (docs/protocol.md, publish): its microphone and camera, and its screen
// while sharing it (collab.js), on one Publisher (media.js) per joined session.
import { toast } from "./dom.js";
import { Publisher } from "./media.js";
import { t } from "./i18n.js";

/** The publish entries: the microphone and camera of `media`, then the screen share (or null). */
export function publishEntries(media, screen) {
  const entries = [];
  if (media.audioTrack) entries.push({ track: media.audioTrack, source: "microphone", stream: media.stream });
  if (media.videoTrack) entries.push({ track: media.videoTrack, source: "camera", stream: media.stream });
  if (screen) entries.push(screen);
  return entries;
}

export class Publishing {
  /**
   * entries(): what to publish now (publishEntries); request(event, payload); iceServers(): from
   * the join ack; simulcast(): whether the server takes a camera in layers (the join ack's
   * `simulcast`); session(): the meeting's session number; onConnectionState(state): the publish
   * connection's state, for the current session only.
   */
  constructor({ entries, request, iceServers, simulcast = () => true, session, onConnectionState }) {
    this.entries = entries;
    this.request = request;
    this.iceServers = iceServers;
    this.simulcast = simulcast;
    this.session = session;
    this.onConnectionState = onConnectionState;
    this.publisher = null;
  }

  get pc() {
    return this.publisher?.pc ?? null;
  }

  /** Publish on a new connection, for `session` (after joining). */
  async start(session) {
    const entries = this.entries();
    if (!entries.length) return;
    this.publisher = new Publisher({
      iceServers: this.iceServers(),
      simulcast: this.simulcast(),
      request: this.request,
      onConnectionState: (s) => session === this.session() && this.onConnectionState(s),
    });
    try {
      await this.publisher.setTracks(entries);
    } catch (err) {
      if (session !== this.session()) return;
      // Server-side failures also arrive as an `error` event (and a toast); report local ones.
      console.warn("publish failed:", err);
      if (typeof err.code !== "string" || err.code === "timeout") {
        toast(t("meeting.publishFailed"), "error");
      }
    }
  }

  /** Publish the current set of tracks again, on the connection there is (or a new one). */
  async update(session) {
    if (this.publisher) await this.publisher.setTracks(this.entries());
    else await this.start(session);
  }

  /** The server's `publish_layers`: which simulcast layers of a sender to send (media.js). */
  setLayers(payload) {
    return this.publisher ? this.publisher.setLayers(payload) : Promise.resolve(false);
  }

  close() {
    this.publisher?.close();
    this.publisher = null;
  }
}
