// The gallery: one tile per participant, laid out to fill the stage.
import { h, icon, initials, hueFor } from "./dom.js";

const GAP = 8;
const MAX_ASPECT = 16 / 9;

/**
 * Best grid for n tiles in a w x h box: the column count that gives the largest tiles, with tile
 * aspect kept between 4:3 and 16:9 on a landscape stage, 3:4 and 16:9 on a portrait one.
 */
export function bestLayout(n, width, height, gap = GAP) {
  const minAspect = width >= height ? 4 / 3 : 3 / 4;
  let best = { cols: 1, rows: 1, tileWidth: 0, tileHeight: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const cellW = (width - (cols - 1) * gap) / cols;
    const cellH = (height - (rows - 1) * gap) / rows;
    if (cellW <= 0 || cellH <= 0) continue;
    const w = Math.min(cellW, cellH * MAX_ASPECT);
    const hgt = Math.min(cellH, w / minAspect);
    if (w * hgt > best.tileWidth * best.tileHeight) {
      best = { cols, rows, tileWidth: Math.floor(w), tileHeight: Math.floor(hgt) };
    }
  }
  return best;
}

class Tile {
  constructor(participant, isSelf) {
    this.id = participant.id;
    this.isSelf = isSelf;
    this.participant = participant;
    this.videoTrack = null;
    this.audioTrack = null;
    this.localVideoOn = false;

    this.video = h("video", {
      autoplay: true,
      playsInline: true,
      muted: true, // sound plays through the <audio> element
      attrs: { playsinline: "", "aria-hidden": "true" },
      class: isSelf ? "mirrored" : "",
    });
    this.audio = isSelf ? null : h("audio", { autoplay: true, attrs: { "aria-hidden": "true" } });
    this.avatarText = h("span", { class: "avatar-initials" });
    this.avatar = h("div", { class: "avatar" }, this.avatarText);
    this.micBadge = h(
      "span",
      { class: "mic-badge", title: "Microphone muted", attrs: { role: "img", "aria-label": "Microphone muted" } },
      icon("micOff"),
    );
    this.nameEl = h("span", { class: "tile-name" });
    this.orgEl = h("span", { class: "tile-org" });
    this.el = h(
      "div",
      {
        class: "tile",
        dataset: { participantId: participant.id },
        attrs: { role: "group" },
      },
      this.video,
      this.avatar,
      this.audio,
      h("div", { class: "tile-label" }, this.micBadge, this.nameEl, this.orgEl),
    );
    if (isSelf) this.el.dataset.self = "true";
    this.onTrackMute = () => this.render();
    this.update(participant);
  }

  update(participant) {
    this.participant = { ...this.participant, ...participant };
    this.render();
  }

  setTracks({ camera = null, microphone = null } = {}) {
    if (camera !== this.videoTrack) {
      this.videoTrack?.removeEventListener("mute", this.onTrackMute);
      this.videoTrack?.removeEventListener("unmute", this.onTrackMute);
      this.videoTrack = camera;
      camera?.addEventListener("mute", this.onTrackMute);
      camera?.addEventListener("unmute", this.onTrackMute);
      this.video.srcObject = camera ? new MediaStream([camera]) : null;
      if (camera) this.play(this.video);
    }
    if (this.audio && microphone !== this.audioTrack) {
      this.audioTrack = microphone;
      this.audio.srcObject = microphone ? new MediaStream([microphone]) : null;
      if (microphone) this.play(this.audio);
    }
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
    if (!this.videoTrack || this.videoTrack.readyState === "ended") return false;
    if (this.isSelf) return !p.video_muted;
    return !p.video_muted && !this.videoTrack.muted;
  }

  render() {
    const p = this.participant;
    const name = p.name || "Guest";
    this.nameEl.textContent = this.isSelf ? `${name} (You)` : name;
    this.orgEl.textContent = p.organisation || "";
    this.orgEl.hidden = !p.organisation;
    this.avatarText.textContent = initials(name);
    this.avatar.style.setProperty("--hue", String(hueFor(p.id)));
    const videoOn = this.hasVideo();
    this.el.classList.toggle("video-off", !videoOn);
    this.micBadge.hidden = !p.audio_muted;
    const parts = [this.isSelf ? `You, ${name}` : name];
    if (p.organisation) parts.push(p.organisation);
    if (p.audio_muted) parts.push("microphone muted");
    if (!videoOn) parts.push("camera off");
    this.el.setAttribute("aria-label", parts.join(", "));
  }

  setSpeaking(on) {
    this.el.classList.toggle("speaking", on && !this.participant.audio_muted);
  }

  destroy() {
    this.setTracks({});
    this.el.remove();
  }
}

export class Gallery {
  constructor(container) {
    this.container = container;
    this.tiles = new Map(); // id -> Tile, in display order (self first, then by arrival)
    this.resizeObserver = new ResizeObserver(() => this.layout());
    this.resizeObserver.observe(container);
  }

  has(id) {
    return this.tiles.has(id);
  }

  upsert(participant, { isSelf = false } = {}) {
    let tile = this.tiles.get(participant.id);
    if (tile) {
      tile.update(participant);
      return tile;
    }
    tile = new Tile(participant, isSelf);
    if (isSelf) {
      this.tiles = new Map([[participant.id, tile], ...this.tiles]);
      this.container.prepend(tile.el);
    } else {
      this.tiles.set(participant.id, tile);
      this.container.append(tile.el);
    }
    this.layout();
    return tile;
  }

  remove(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.destroy();
    this.tiles.delete(id);
    this.layout();
  }

  clear() {
    for (const tile of this.tiles.values()) tile.destroy();
    this.tiles.clear();
    this.layout();
  }

  setTracks(id, tracks) {
    this.tiles.get(id)?.setTracks(tracks);
  }

  setSpeaking(id, on) {
    this.tiles.get(id)?.setSpeaking(on);
  }

  /** Retry playback of every element (after a user gesture unblocks autoplay). */
  resumePlayback() {
    for (const tile of this.tiles.values()) {
      if (tile.video.srcObject) tile.video.play().catch(() => {});
      if (tile.audio?.srcObject) tile.audio.play().catch(() => {});
    }
  }

  layout() {
    const n = this.tiles.size;
    // clientWidth/Height include the padding; the tiles only get the content box.
    const style = getComputedStyle(this.container);
    const width = this.container.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 1;
    const height = this.container.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom) - 1;
    if (!n || width <= 0 || height <= 0) return;
    const { tileWidth, tileHeight } = bestLayout(n, width, height);
    this.container.style.setProperty("--tile-w", `${tileWidth}px`);
    this.container.style.setProperty("--tile-h", `${tileHeight}px`);
    this.container.dataset.count = String(n);
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.clear();
  }
}
