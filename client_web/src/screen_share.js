// Sharing this client's screen: capture (getDisplayMedia, tuned for detail), publish it, and for
// hosts and staff put it on the stage in the same step; stop (from the browser's own "Stop
// sharing" too) and publish without it. The server gives the stage back to what it showed before.
import { toast } from "./dom.js";
import { t } from "./i18n.js";

export class ScreenShare {
  constructor(meeting) {
    this.meeting = meeting;
    this.screen = null; // {stream, track} while sharing
  }

  /** Share the screen; toStage: also put it on the stage for everyone (hosts and staff). */
  async start({ toStage = false } = {}) {
    const m = this.meeting;
    if (this.screen || m.state.status !== "joined") return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (err) {
      if (err && err.name !== "NotAllowedError" && err.name !== "AbortError") toast(t("share.failed"), "error");
      return;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    if ("contentHint" in track) track.contentHint = "detail";
    this.screen = { stream, track };
    track.addEventListener("ended", () => this.stop());
    m.controls?.setSharing(true);
    m.gallery.setSelfPresenting({ onStop: () => this.stop() });
    try {
      await m.republish();
    } catch {
      toast(t("share.failed"), "error");
      this.stop();
      return;
    }
    const selfId = m.selfId();
    if (toStage && this.screen && selfId) {
      m.stageView?.setStage({ kind: "participant", participant_id: selfId, source: "screen" });
    }
  }

  /** The publish entry for the screen share, if sharing. */
  entry() {
    return this.screen ? { track: this.screen.track, source: "screen", stream: this.screen.stream } : null;
  }

  async stop() {
    if (!this.screen) return;
    const { stream } = this.screen;
    this.screen = null;
    stream.getTracks().forEach((track) => track.stop());
    this.meeting.controls?.setSharing(false);
    this.meeting.gallery.setSelfPresenting(null);
    await this.meeting.republish().catch(() => {});
  }

  /** The meeting is over: let the capture go, publish nothing. */
  release() {
    this.screen?.stream.getTracks().forEach((track) => track.stop());
    this.screen = null;
  }
}
