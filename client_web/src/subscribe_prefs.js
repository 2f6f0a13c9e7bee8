// Which videos the SFU need not forward to this client (docs/protocol.md, subscribe_prefs): every
// received video that is not on screen (detached tiles, other gallery pages, a phone's budget).
// Sent a little after the videos shown last changed, and checked every PREFS_POLL_MS anyway (a stage
// browsed privately changes what is shown without an event).
import { pausedVideos, videoKey } from "./media.js";

const PREFS_DEBOUNCE_MS = 250;
export const PREFS_POLL_MS = 1000;

/** The remote videos on screen: decoded gallery tiles, the spotlight, and the shared stage. */
export function shownVideos(gallery, stageView) {
  const shown = gallery ? gallery.shownVideos() : new Set();
  const current = stageView?.current;
  if (current?.type === "participant" && current.id) shown.add(videoKey(current.id, current.source || "camera"));
  return shown;
}

export class SubscribePrefs {
  /**
   * request(event, payload); ready(): joined, receiving, and connected; remoteTracks(): the tracks
   * the gallery was given (participant id -> {camera?, screen?}); shown(): shownVideos();
   * session(): the meeting's session number; accepted(paused): the server has this list now.
   */
  constructor({ request, ready, remoteTracks, shown, session, accepted }) {
    this.request = request;
    this.ready = ready;
    this.remoteTracks = remoteTracks;
    this.shown = shown;
    this.session = session;
    this.accepted = accepted;
    this.sent = "[]"; // JSON of the paused list the server has (a new connection: none)
    this.sending = null;
    this.timer = 0;
  }

  /** A new connection: the server pauses nothing for it yet. */
  reset() {
    this.sent = "[]";
    this.sending = null;
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.sync(), PREFS_DEBOUNCE_MS);
  }

  stop() {
    clearTimeout(this.timer);
  }

  /**
   * Tell the server which videos not to forward, when that changed. The whole list each time
   * (docs/protocol.md, subscribe_prefs), so a failed send is repaired by the next one.
   */
  sync() {
    if (!this.ready()) return;
    // From the tracks the gallery was given (not the latest offer's consumers, which may not be
    // attached yet): a video is paused only once it could have been shown.
    const videos = [];
    for (const [id, tracks] of this.remoteTracks()) {
      for (const source of ["camera", "screen"]) {
        if (tracks[source]) videos.push({ participant_id: id, source, kind: "video" });
      }
    }
    const paused = pausedVideos(videos, this.shown());
    const body = JSON.stringify(paused);
    if (body === this.sent || body === this.sending) return;
    const session = this.session();
    this.sending = body;
    this.request("subscribe_prefs", { paused })
      .then(() => {
        if (session !== this.session()) return;
        this.sent = body;
        this.accepted(paused);
      })
      .catch((err) => {
        // A refusal would be refused again: do not resend the same list every second.
        if (session === this.session() && typeof err.code === "string" && !["timeout", "disconnected"].includes(err.code)) {
          this.sent = body;
        }
      })
      .finally(() => {
        if (this.sending === body) this.sending = null;
      });
  }
}
