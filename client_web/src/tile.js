// One participant's tile in the gallery: their camera (or initials when it is off or not decoded),
// name and organisation, the microphone-muted, hand and role badges, the layer of their camera
// received (video_layers) and "Video paused: poor connection", the pin button and the reactions
// that float over it. The <audio> that plays their sound lives in the gallery's sink.
import { h, initials, hueFor } from "./dom.js";
import { icon } from "./icons.js";
import { t, timeZone } from "./i18n.js";
import { describeLayer } from "./video_layers.js";
import { dayMarker, dayOffset, knownZone, localTime, wallClock } from "./clock_strip.js";

const REACTION_MS = 3200;

export class Tile {
  constructor(gallery, participant, isSelf) {
    this.gallery = gallery;
    this.id = participant.id;
    this.isSelf = isSelf;
    this.participant = participant;
    this.videoTrack = null;
    this.audioTrack = null;
    this.screenTrack = null;
    this.videoAllowed = true;
    this.bandwidthPaused = false; // the SFU stopped forwarding this camera: the link is too poor

    this.video = h("video", {
      autoplay: true,
      playsInline: true,
      muted: true, // sound plays through the <audio> element
      attrs: { playsinline: "", "aria-hidden": "true" },
      class: isSelf ? "mirrored" : "",
    });
    this.audio = isSelf ? null : h("audio", { autoplay: true, attrs: { "aria-hidden": "true" } });
    if (this.audio) {
      gallery.audioSink.append(this.audio);
      if (gallery.sinkId && this.audio.setSinkId) this.audio.setSinkId(gallery.sinkId).catch(() => {});
    }
    this.el = this.build(participant);
    if (isSelf) this.el.dataset.self = "true";
    this.onTrackMute = () => this.render();
    this.update(participant);
  }

  /** The tile element: the video, the avatar, the badges, the pin button, reactions and label. */
  build(participant) {
    this.avatarText = h("span", { class: "avatar-initials", attrs: { translate: "no" } });
    this.avatar = h("div", { class: "avatar" }, this.avatarText);
    this.micBadge = h(
      "span",
      { class: "mic-badge", title: t("status.micMuted"), attrs: { role: "img", "aria-label": t("status.micMuted") } },
      icon("micOff"),
    );
    this.handBadge = h(
      "span",
      { class: "hand-badge", title: t("status.handRaised"), hidden: true, attrs: { role: "img", "aria-label": t("status.handRaised") } },
      icon("hand"),
    );
    this.roleBadge = h("span", { class: "role-badge", hidden: true });
    this.layerBadge = h("span", { class: "layer-badge", hidden: true, dataset: { testid: "tile-layer" } });
    this.bandwidthNote = h("p", { class: "tile-bandwidth-paused", hidden: true, text: t("tile.pausedBandwidth") });
    this.nameEl = h("span", { class: "tile-name" });
    this.orgEl = h("span", { class: "tile-org", attrs: { translate: "no" } });
    // a delegate's city's local time (the Participant's time_zone): small, after the name
    this.localTimeEl = h("time", { class: "tile-local-time", hidden: true, dataset: { testid: "tile-local-time" } });
    this.pinBtn = h(
      "button",
      { type: "button", class: "tile-pin", on: { click: () => this.gallery.togglePin(this.id) } },
      icon("pin"),
    );
    this.reactions = h("div", { class: "tile-reactions", attrs: { "aria-hidden": "true" } });
    return h(
      "div",
      {
        class: "tile",
        dataset: { participantId: participant.id },
        attrs: { role: "group" },
      },
      this.video,
      this.avatar,
      this.bandwidthNote,
      h("div", { class: "tile-top" }, this.handBadge, this.roleBadge, this.layerBadge),
      this.pinBtn,
      this.reactions,
      h("div", { class: "tile-label" }, this.micBadge, this.nameEl, this.orgEl, this.localTimeEl),
    );
  }

  update(participant) {
    this.participant = { ...this.participant, ...participant };
    this.render();
  }

  setTracks({ camera = null, microphone = null, screen = null } = {}) {
    if (camera !== this.videoTrack) {
      this.videoTrack?.removeEventListener("mute", this.onTrackMute);
      this.videoTrack?.removeEventListener("unmute", this.onTrackMute);
      this.videoTrack = camera;
      camera?.addEventListener("mute", this.onTrackMute);
      camera?.addEventListener("unmute", this.onTrackMute);
      this.attachVideo(true);
    }
    if (this.audio && microphone !== this.audioTrack) {
      this.audioTrack = microphone;
      this.audio.srcObject = microphone ? new MediaStream([microphone]) : null;
      if (microphone) this.play(this.audio);
    }
    this.screenTrack = screen;
    this.render();
  }

  /** Show the camera in this tile's <video>, or detach it (no decoding) when not allowed. */
  attachVideo(force = false) {
    const want = this.videoAllowed && this.videoTrack ? this.videoTrack : null;
    const current = this.video.srcObject ? this.video.srcObject.getVideoTracks()[0] || null : null;
    if (!force && want === current) return;
    this.video.srcObject = want ? new MediaStream([want]) : null;
    this.watchingFrame = false;
    if (want) this.play(this.video);
  }

  setVideoAllowed(allowed) {
    if (this.isSelf) allowed = true;
    if (allowed === this.videoAllowed) return;
    this.videoAllowed = allowed;
    this.attachVideo();
    this.render();
  }

  play(media) {
    const attempt = media.play();
    if (attempt && attempt.catch) {
      attempt.catch((err) => {
        if (err && err.name === "NotAllowedError") {
          document.dispatchEvent(new CustomEvent("sitroom:autoplay-blocked"));
        }
      });
    }
  }

  hasVideo() {
    const p = this.participant;
    if (!this.videoTrack || this.videoTrack.readyState === "ended" || !this.videoAllowed) return false;
    if (this.isSelf) return !p.video_muted;
    return !p.video_muted && !this.videoTrack.muted;
  }

  /**
   * Redraw the local time of the participant's city (when they came with a time zone); not on
   * one's own tile (the strip's "You" says it). Returns the words a screen reader says, or "".
   */
  tickLocalTime(now = new Date()) {
    const p = this.participant;
    const zone = !this.isSelf && knownZone(p.time_zone) ? p.time_zone : null;
    this.localTimeEl.hidden = !zone;
    if (!zone) return "";
    const time = localTime(now, zone);
    const marker = dayMarker(dayOffset(now, zone, timeZone()));
    const city = p.city || zone;
    this.localTimeEl.textContent = marker ? `${time} ${marker}` : time;
    this.localTimeEl.setAttribute("datetime", wallClock(now, zone));
    this.localTimeEl.dataset.timeZone = zone;
    this.localTimeEl.title = t("clocks.tileTitle", { city, time });
    return t("clocks.tileSpoken", { city, time });
  }

  render() {
    const p = this.participant;
    const name = p.name || t("common.guest");
    this.nameEl.textContent = this.isSelf ? t("common.selfName", { name }) : name;
    if (p.name) this.nameEl.setAttribute("translate", "no"); // a name, not words to translate
    else this.nameEl.removeAttribute("translate");
    this.orgEl.textContent = p.organisation || "";
    this.orgEl.hidden = !p.organisation;
    this.avatarText.textContent = initials(name);
    this.avatar.style.setProperty("--hue", String(hueFor(p.id)));
    const videoOn = this.hasVideo();
    this.el.classList.toggle("video-off", !videoOn);
    this.el.classList.toggle("video-paused", !this.videoAllowed && Boolean(this.videoTrack));
    this.micBadge.hidden = !p.audio_muted;
    this.handBadge.hidden = !p.hand_raised;
    this.el.classList.toggle("hand-raised", Boolean(p.hand_raised));
    const roleText = { host: t("roles.host"), staff: t("roles.staff") }[p.role] || "";
    this.roleBadge.textContent = roleText;
    this.roleBadge.hidden = !roleText;
    const pinned = this.gallery.pinnedId === this.id;
    this.el.classList.toggle("pinned", pinned);
    this.pinBtn.setAttribute("aria-label", t(pinned ? "tile.unpinName" : "tile.pinName", { name }));
    this.pinBtn.title = t(pinned ? "tile.unpin" : "tile.pin");
    this.pinBtn.setAttribute("aria-pressed", String(pinned));
    const parts = [this.isSelf ? t("tile.selfLabel", { name }) : name];
    if (roleText) parts.push(t(p.role === "host" ? "status.spoken.host" : "status.spoken.staff"));
    if (p.organisation) parts.push(p.organisation);
    const localTimeText = this.tickLocalTime();
    if (localTimeText) parts.push(localTimeText);
    if (p.audio_muted) parts.push(t("status.spoken.micMuted"));
    if (!videoOn) parts.push(t("status.spoken.cameraOff"));
    if (p.hand_raised) parts.push(t("status.spoken.handRaised"));
    if (this.bandwidthPaused) parts.push(t("tile.pausedBandwidth"));
    this.el.setAttribute("aria-label", parts.join(", "));
  }

  /**
   * The SFU's video_layers entry for this camera (or null): the layer received on the tile
   * (data-layer, data-layer-height and a small badge) or, while the SFU paused it for a poor
   * connection, a note over the last frame or the initials.
   */
  setLayer(video) {
    const { layer, height, text, paused } = describeLayer(video, t);
    const el = this.el;
    if (layer === null) delete el.dataset.layer;
    else el.dataset.layer = String(layer);
    if (height === null) delete el.dataset.layerHeight;
    else el.dataset.layerHeight = String(height);
    if (paused) el.dataset.videoPaused = "bandwidth";
    else delete el.dataset.videoPaused;
    el.classList.toggle("bandwidth-paused", paused);
    this.bandwidthNote.hidden = !paused;
    if (paused !== this.bandwidthPaused) {
      this.bandwidthPaused = paused;
      this.render(); // the spoken label says it too
    }
    this.layerBadge.textContent = text;
    this.layerBadge.hidden = !text;
    if (text) this.layerBadge.title = t("tile.layerTitle", { quality: text });
  }

  setSpeaking(on) {
    this.el.classList.toggle("speaking", on && !this.participant.audio_muted);
  }

  showReaction(emoji) {
    const el = h("span", { class: "tile-reaction", text: emoji });
    this.reactions.append(el);
    setTimeout(() => el.remove(), REACTION_MS);
  }

  destroy() {
    this.setTracks({});
    this.audio?.remove();
    this.el.remove();
  }
}
