// What this participant sees when a host acts on their microphone or camera (docs/protocol.md,
// `moderated`): muted, with "Ask to unmute" while the meeting does not let them unmute themselves;
// allowed to unmute again. The notice is a banner over the meeting.
import { h, actionToast } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";

const NOTICE_MS = 8000; // a notice without an action goes after this long

export class SelfModeration {
  /**
   * meeting: muted and unmuted through it; request(event, payload); settings(): the meeting
   * settings now (allow_self_unmute).
   */
  constructor({ meeting, request, settings }) {
    this.meeting = meeting;
    this.request = request;
    this.settings = settings;
    this.forced = { audio: false, video: false }; // muted by a host and not yet allowed back
    this.banner = null;
  }

  /** A new join: nothing is forced any more (a mute held by the server comes with the ack). */
  reset() {
    this.forced = { audio: false, video: false };
  }

  onModerated(d) {
    if (!d || (d.kind !== "audio" && d.kind !== "video")) return;
    const by = d.by || t("moderation.theHost");
    const audio = d.kind === "audio";
    if (d.action === "mute") {
      this.forced[d.kind] = !this.settings().allow_self_unmute;
      this.meeting.forceLocalMute(d.kind);
      const ask = t(audio ? "moderation.askUnmute" : "moderation.askVideo");
      let key;
      if (this.forced[d.kind]) key = audio ? "moderation.mutedYou" : "moderation.stoppedYourVideo";
      else key = audio ? "moderation.mutedYouMayUnmute" : "moderation.stoppedYourVideoMayStart";
      this.showBanner(t(key, { by }), this.forced[d.kind] ? ask : null, d.kind);
    } else if (d.action === "allow_unmute") {
      this.forced[d.kind] = false;
      this.hideBanner();
      actionToast(t(audio ? "moderation.allowsUnmute" : "moderation.allowsVideo", { by }), t(audio ? "controls.unmute" : "controls.startVideo"), () => {
        if (d.kind === "audio" && !this.meeting.audioOn) this.meeting.toggleMic();
        if (d.kind === "video" && !this.meeting.videoOn) this.meeting.toggleCamera();
      }, { testid: "allowed-unmute" });
    }
  }

  /** Whether this participant may turn `kind` back on by themselves; if not, says so. */
  mayUnmute(kind) {
    if (!this.forced[kind] || this.settings().allow_self_unmute) return true;
    this.showBanner(t(kind === "audio" ? "moderation.hostMutedYou" : "moderation.hostStoppedYourVideo"), t(kind === "audio" ? "moderation.askUnmute" : "moderation.askVideo"), kind);
    return false;
  }

  /** The notice over the meeting, with an "Ask to..." button when actionLabel is given. */
  showBanner(text, actionLabel, kind) {
    this.hideBanner();
    const close = h("button", { type: "button", class: "toast-close", text: "×", attrs: { "aria-label": t("common.dismiss") } });
    const el = h("div", { class: "moderated-banner", dataset: { testid: "moderated-notice" }, attrs: { role: "alert" } },
      icon(kind === "audio" ? "micOff" : "cameraOff"), h("span", { class: "moderated-text", text }));
    if (actionLabel) el.append(this.askButton(actionLabel, kind));
    el.append(close);
    close.addEventListener("click", () => this.hideBanner());
    this.banner = el;
    this.meeting.root.querySelector(".meeting")?.append(el);
    if (!actionLabel) setTimeout(() => this.banner === el && this.hideBanner(), NOTICE_MS);
  }

  /** "Ask to unmute" / "Ask to start video": request_unmute, then it says it asked. */
  askButton(label, kind) {
    const ask = h("button", { type: "button", class: "button button-small button-primary", text: label, dataset: { testid: "ask-unmute" } });
    ask.addEventListener("click", async () => {
      ask.disabled = true;
      try {
        await this.request("request_unmute", { kind });
        ask.textContent = t("moderation.asked");
      } catch {
        ask.disabled = false;
      }
    });
    return ask;
  }

  hideBanner() {
    this.banner?.remove();
    this.banner = null;
  }
}
