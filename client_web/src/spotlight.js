// The gallery's spotlight: the large view of a screen share, of a participant pinned locally, or
// (when this client presents) a note with a "Stop presenting" button.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";

export class Spotlight {
  /**
   * onUnpin(): the Unpin button; onStop(): the Stop presenting button; stageAction: {allowed(),
   * show(participant id)} for "Show on stage" under someone's screen share (hosts and staff).
   */
  constructor({ onUnpin, onStop, stageAction = null }) {
    this.stageAction = stageAction;
    this.video = h("video", {
      autoplay: true,
      playsInline: true,
      muted: true,
      attrs: { playsinline: "", "aria-hidden": "true" },
    });
    this.label = h("p", { class: "spotlight-label", attrs: { "aria-live": "polite" } });
    this.unpin = h("button", {
      type: "button",
      class: "spotlight-unpin",
      text: t("tile.unpin"),
      on: { click: () => onUnpin() },
    });
    this.stop = h("button", {
      type: "button",
      class: "button button-danger spotlight-stop",
      text: t("stage.stopPresenting"),
      on: { click: () => onStop() },
    });
    this.self = h(
      "div",
      { class: "spotlight-self" },
      icon("screen", "spotlight-self-icon"),
      h("p", { text: t("stage.selfPresenting") }),
      this.stop,
    );
    this.toStage = h("button", {
      type: "button",
      class: "spotlight-unpin spotlight-to-stage",
      text: t("spotlight.showOnStage"),
      dataset: { testid: "spotlight-to-stage" },
      on: { click: () => this.presenterId && this.stageAction?.show(this.presenterId) },
    });
    this.el = h(
      "section",
      { class: "spotlight", hidden: true, attrs: { "aria-label": t("spotlight.label") } },
      this.video,
      this.self,
      h("div", { class: "spotlight-bar" }, this.label, this.toStage, this.unpin),
    );
  }

  /**
   * Show presenter p ({id, track, kind: "screen" | "self-screen" | "pin"}) whose tile is `tile`
   * (if it has one), or hide the spotlight when p is null.
   */
  show(p, tile) {
    this.el.hidden = !p;
    if (!p) {
      this.video.srcObject = null;
      delete this.el.dataset.participantId;
      return;
    }
    const name = tile ? tile.participant.name || t("common.guest") : t("common.someone");
    this.el.dataset.participantId = p.id || "";
    this.el.dataset.kind = p.kind;
    this.presenterId = p.id;
    // A participant's share in this view: hosts and staff put it on everyone's stage in one click.
    this.toStage.hidden = !(p.kind === "screen" && this.stageAction?.allowed());
    this.self.hidden = p.kind !== "self-screen";
    this.video.hidden = p.kind === "self-screen";
    this.unpin.hidden = p.kind !== "pin";
    this.video.classList.toggle("mirrored", Boolean(p.kind === "pin" && tile?.isSelf));
    if (p.kind === "screen") this.label.textContent = t("spotlight.presenting", { name });
    else if (p.kind === "self-screen") this.label.textContent = t("spotlight.selfPresenting");
    else this.label.textContent = t(tile?.isSelf ? "spotlight.selfPinned" : "spotlight.pinned", { name });
    const track = p.kind === "pin" && tile?.isSelf ? tile.videoTrack : p.track;
    const current = this.video.srcObject ? this.video.srcObject.getVideoTracks()[0] : null;
    if (track !== current) {
      this.video.srcObject = track ? new MediaStream([track]) : null;
      if (track) this.video.play().catch(() => {});
    }
  }

  /** Retry playback (after a user gesture unblocks autoplay). */
  resumePlayback() {
    if (this.video.srcObject) this.video.play().catch(() => {});
  }
}
