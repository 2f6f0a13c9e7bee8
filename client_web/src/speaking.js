// The speaking ring on the tiles. getSynchronizationSources() gives the level of the last packet
// received only, and speech is bursty: a syllable is loud for a few packets, Chromium's fake
// microphone above -40 dBov for about 100 ms every 500 ms. Sampled every 250 ms (half the beep's
// period) the ring was either always or never on, depending on the phase. So: sample every
// SPEAKING_POLL_MS, and keep the ring for SPEAKING_HOLD_MS after the last loud sample (across the
// pauses between words). This participant's own ring follows the microphone's LevelMeter.
import { LevelMeter } from "./capture.js";

// A received level at or above the SFU's voice level (-40 dBov, media/speaker.py), sampled often
// enough to catch a short sound, held so it does not flicker.
const SPEAKING_LEVEL = 0.0095; // -40 dBov is 0.01: a little under, so exactly -40 counts
const SELF_SPEAKING_LEVEL = 0.08; // LevelMeter's scale (rms * 4), not dBov
export const SPEAKING_POLL_MS = 50; // getSynchronizationSources() costs ~1 us: cheap for 49 tiles
const SPEAKING_HOLD_MS = 700;

/** The level of the last packet a microphone receiver got (0 when unknown). */
function receivedLevel(receiver) {
  try {
    const sources = receiver ? receiver.getSynchronizationSources() : [];
    return sources.length ? sources[0].audioLevel || 0 : 0;
  } catch {
    return 0;
  }
}

export class SpeakingRing {
  /**
   * active(): whether in the meeting now; remoteTracks(): participant id -> tracks (with their
   * `receivers`); self(): {id, track, on}, this participant and their microphone; show(id, on):
   * the ring on a tile.
   */
  constructor({ active, remoteTracks, self, show }) {
    this.active = active;
    this.remoteTracks = remoteTracks;
    this.self = self;
    this.show = show;
    this.heardAt = new Map(); // participant id -> last loud sample
    this.selfMeter = null;
  }

  /** Sample every received microphone and this participant's own (every SPEAKING_POLL_MS). */
  poll() {
    if (!this.active()) return;
    const now = performance.now();
    const heard = this.heardAt;
    const speaking = (id, loud) => {
      if (loud) heard.set(id, now);
      const at = heard.get(id);
      this.show(id, at !== undefined && now - at < SPEAKING_HOLD_MS);
    };
    const remote = this.remoteTracks();
    for (const [id, tracks] of remote) speaking(id, receivedLevel(tracks.receivers?.microphone) >= SPEAKING_LEVEL);
    const self = this.self();
    for (const id of heard.keys()) if (id !== self.id && !remote.has(id)) heard.delete(id);
    if (self.id && self.track) {
      if (!this.selfMeter) this.selfMeter = new LevelMeter(self.track);
      speaking(self.id, self.on && this.selfMeter.level() > SELF_SPEAKING_LEVEL);
    }
  }

  /** The microphone changed: the self level meter follows the new one. */
  resetSelfMeter() {
    if (!this.selfMeter) return;
    this.selfMeter.close();
    this.selfMeter = null;
  }

  close() {
    this.selfMeter?.close();
    this.selfMeter = null;
  }
}
