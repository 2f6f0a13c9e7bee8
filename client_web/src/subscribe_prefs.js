// Which videos the SFU need not forward to this client (docs/protocol.md, subscribe_prefs): every
// received video that is not on screen (detached tiles, other gallery pages, a phone's budget);
// and how large each one shown is, so the SFU forwards the simulcast layer that fits (a thumbnail
// gets the low one, the pinned speaker and the stage the top one).
// Sent a little after the videos shown last changed, and checked every PREFS_POLL_MS anyway (a stage
// browsed privately or resized changes what is shown without an event).
import { pausedVideos, videoKey, MAX_PAUSED } from "./media.js";

const PREFS_DEBOUNCE_MS = 250;
export const PREFS_POLL_MS = 1000;
export const MAX_SIDE = 16384; // the server's bound on a size
// A size that changed by more than this share, or crossed a layer's size (a 1280x720 camera's
// layers are 320x180, 640x360 and 1280x720), is sent again; smaller changes are not worth it.
export const SIZE_CHANGE = 0.15;
const LAYER_WIDTHS = [320, 640, 1280];
const LAYER_HEIGHTS = [180, 360, 720];
const NOTHING = Object.freeze({ paused: "[]", sizes: [] }); // what a new connection has

/** An element's size in device pixels ({width, height}), or null if it takes no room on screen. */
export function deviceSize(el, ratio = globalThis.devicePixelRatio || 1) {
  if (!el || !el.isConnected || el.hidden) return null;
  const rect = el.getBoundingClientRect();
  const side = (v) => Math.min(MAX_SIDE, Math.max(0, Math.round(v * ratio)));
  const width = side(rect.width);
  const height = side(rect.height);
  return width > 0 && height > 0 ? { width, height } : null;
}

/**
 * The `sizes` list of subscribe_prefs from the videos shown ([{participant_id, source, width,
 * height}], a video shown twice, e.g. in its tile and in the spotlight, counted at its largest):
 * each pair once, in a stable order, no more than the server accepts.
 */
export function videoSizes(shown) {
  const largest = new Map();
  for (const v of shown || []) {
    if (!v || !v.participant_id || (v.source !== "camera" && v.source !== "screen")) continue;
    if (!(v.width > 0 && v.height > 0)) continue;
    const key = videoKey(v.participant_id, v.source);
    const prev = largest.get(key);
    largest.set(key, {
      participant_id: v.participant_id,
      source: v.source,
      width: Math.min(MAX_SIDE, Math.round(Math.max(v.width, prev?.width || 0))),
      height: Math.min(MAX_SIDE, Math.round(Math.max(v.height, prev?.height || 0))),
    });
  }
  const sizes = [...largest.values()];
  sizes.sort((a, b) => (a.participant_id < b.participant_id ? -1 : a.participant_id > b.participant_id ? 1 : a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  return sizes.slice(0, MAX_PAUSED);
}

/**
 * Whether two `sizes` lists differ enough to tell the server again: another set of videos, or a
 * size that changed by more than SIZE_CHANGE or crossed a layer's size.
 */
export function sizesChanged(previous, next) {
  const before = new Map((previous || []).map((v) => [videoKey(v.participant_id, v.source), v]));
  if (before.size !== (next || []).length) return true;
  const moved = (a, b, marks) => Math.abs(b - a) > SIZE_CHANGE * Math.max(a, 1) || marks.some((m) => a < m !== b < m);
  return next.some((v) => {
    const old = before.get(videoKey(v.participant_id, v.source));
    return !old || moved(old.width, v.width, LAYER_WIDTHS) || moved(old.height, v.height, LAYER_HEIGHTS);
  });
}

/** The remote videos on screen: decoded gallery tiles, the spotlight, and the shared stage. */
export function shownVideos(gallery, stageView) {
  const shown = gallery ? gallery.shownVideos() : new Set();
  const current = stageView?.current;
  if (current?.type === "participant" && current.id) shown.add(videoKey(current.id, current.source || "camera"));
  return shown;
}

/** The size of every remote video shown (videoSizes): gallery tiles, the spotlight, the stage. */
export function shownSizes(gallery, stageView) {
  const shown = [];
  const add = (participantId, source, el) => {
    const size = deviceSize(el);
    if (size) shown.push({ participant_id: participantId, source, ...size });
  };
  for (const v of gallery ? gallery.shownVideoElements() : []) add(v.id, v.source, v.el);
  const current = stageView?.current;
  if (current?.type === "participant" && current.id && current.view?.video && !current.view.video.hidden) {
    add(current.id, current.source || "camera", current.view.video);
  }
  return videoSizes(shown);
}

export class SubscribePrefs {
  /**
   * request(event, payload); ready(): joined, receiving, and connected; remoteTracks(): the tracks
   * the gallery was given (participant id -> {camera?, screen?}); shown(): shownVideos(); sizes():
   * shownSizes(); session(): the meeting's session number; accepted(paused, sizes): the server
   * has these lists now.
   */
  constructor({ request, ready, remoteTracks, shown, sizes = () => [], session, accepted }) {
    this.request = request;
    this.ready = ready;
    this.remoteTracks = remoteTracks;
    this.shown = shown;
    this.sizes = sizes;
    this.session = session;
    this.accepted = accepted;
    this.sent = NOTHING; // what the server has: {paused: JSON of the list, sizes} (a new connection: none)
    this.sending = null;
    this.timer = 0;
  }

  /** A new connection: the server pauses nothing for it yet, and knows no sizes. */
  reset() {
    this.sent = NOTHING;
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
   * Tell the server which videos not to forward and how large the others are, when that changed
   * (sizes: by enough to matter, sizesChanged). The whole lists each time (docs/protocol.md,
   * subscribe_prefs), so a failed send is repaired by the next one.
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
    const sizes = this.sizes();
    const next = { paused: JSON.stringify(paused), sizes };
    const same = (prefs) => Boolean(prefs) && prefs.paused === next.paused && !sizesChanged(prefs.sizes, sizes);
    if (same(this.sent) || same(this.sending)) return;
    const session = this.session();
    this.sending = next;
    this.request("subscribe_prefs", { paused, sizes })
      .then(() => {
        if (session !== this.session()) return;
        this.sent = next;
        this.accepted(paused, sizes);
      })
      .catch((err) => {
        // A refusal would be refused again: do not resend the same lists every second.
        if (session === this.session() && typeof err.code === "string" && !["timeout", "disconnected"].includes(err.code)) {
          this.sent = next;
        }
      })
      .finally(() => {
        if (this.sending === next) this.sending = null;
      });
  }
}
