// The gallery: one tile per participant, laid out to fill the stage, in pages of up to 49 tiles;
// a spotlight (a screen share, or a participant pinned locally; spotlight.js) with the tiles in a
// strip beside it. Each tile is a Tile (tile.js).
// Only tiles on the current page are in the document, and only a few remote videos are decoded at
// once on a phone: the others show the participant's initials (their <video> has no srcObject).
import { h } from "./dom.js";
import { videoKey } from "./media.js";
import { Tile } from "./tile.js";
import { Spotlight } from "./spotlight.js";
import { SelfDock } from "./self_dock.js";
import { t, formatNumber } from "./i18n.js";
import { bestLayout, tilesThatFit, paginate, pageSizeFor, tileSizeFor, MAX_PAGE } from "./gallery_layout.js";

export { bestLayout, tilesThatFit, paginate, MAX_PAGE }; // the layout's unit tests import them from here

const COMPACT_VIDEOS = 4; // remote videos decoded at once on a phone
const WIDE_VIDEOS = 49;

export class Gallery {
  /** container: the element to fill. options.compact(): whether to use phone limits. */
  constructor(container, { compact } = {}) {
    this.container = container;
    this.container.classList.add("gallery");
    this.tiles = new Map(); // id -> Tile, in display order (self first, then by arrival)
    this.page = 0;
    this.pageCount = 1;
    this.activeSpeakerId = null;
    this.pinnedId = null;
    this.presenter = null; // {id, track, name, isSelf}
    this.selfPresenting = null; // {onStop} while this client shares its screen
    this.compact = compact || (() => matchMedia("(max-width: 600px), (max-height: 500px)").matches);
    this.visibleIds = [];
    this.videoLayers = new Map(); // participant id -> their camera's entry in the latest video_layers
    this.onVideosChanged = null; // set by the meeting: the videos shown may have changed

    this.audioSink = h("div", { class: "audio-sink", attrs: { "aria-hidden": "true" } });
    this.stageAction = null; // set by the meeting: {allowed(), show(id)} (Spotlight's "Show on stage")
    this.spotlight = new Spotlight({
      onUnpin: () => this.togglePin(this.pinnedId),
      onStop: () => this.selfPresenting?.onStop(),
      stageAction: { allowed: () => Boolean(this.stageAction?.allowed()), show: (id) => this.stageAction?.show(id) },
    });
    this.grid = h("div", { class: "gallery-grid" });
    this.pager = this.buildPager();
    this.selfDock = new SelfDock(this.container);
    this.container.append(this.spotlight.el, this.grid, this.pager, this.selfDock.el, this.audioSink);
    this.resizeObserver = new ResizeObserver(() => this.layout());
    this.resizeObserver.observe(container);
  }

  /** Redraw the local times on the tiles of delegates (clock_strip.js: each new minute). */
  tickLocalTimes() {
    const now = new Date();
    for (const tile of this.tiles.values()) tile.tickLocalTime(now);
  }

  /** The page buttons below the tiles (hidden while everyone fits on one page). */
  buildPager() {
    this.pageLabel = h("span", { class: "pager-label", attrs: { "aria-live": "polite" } });
    this.prevBtn = h(
      "button",
      {
        type: "button",
        class: "pager-button",
        dataset: { testid: "gallery-prev" },
        attrs: { "aria-label": t("gallery.previousPage") },
        on: { click: () => this.setPage(this.page - 1) },
      },
      "‹",
    );
    this.nextBtn = h(
      "button",
      {
        type: "button",
        class: "pager-button",
        dataset: { testid: "gallery-next" },
        attrs: { "aria-label": t("gallery.nextPage") },
        on: { click: () => this.setPage(this.page + 1) },
      },
      "›",
    );
    return h(
      "nav",
      { class: "gallery-pager", hidden: true, attrs: { "aria-label": t("gallery.pages") } },
      this.prevBtn,
      this.pageLabel,
      this.nextBtn,
    );
  }

  has(id) {
    return this.tiles.has(id);
  }

  get selfId() {
    for (const tile of this.tiles.values()) if (tile.isSelf) return tile.id;
    return null;
  }

  upsert(participant, { isSelf = false } = {}) {
    let tile = this.tiles.get(participant.id);
    if (tile) {
      const wasVideoMuted = Boolean(tile.participant.video_muted);
      tile.update(participant);
      // A camera turned on or off changes which videos are decoded (and forwarded at all).
      if (Boolean(tile.participant.video_muted) !== wasVideoMuted) this.layout();
      return tile;
    }
    tile = new Tile(this, participant, isSelf);
    if (!isSelf) tile.setLayer(this.videoLayers.get(participant.id) || null);
    if (isSelf) this.tiles = new Map([[participant.id, tile], ...this.tiles]);
    else this.tiles.set(participant.id, tile);
    this.layout();
    return tile;
  }

  remove(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.destroy();
    this.tiles.delete(id);
    if (this.pinnedId === id) this.pinnedId = null;
    if (this.activeSpeakerId === id) this.activeSpeakerId = null;
    if (this.presenter && this.presenter.id === id) this.presenter = null;
    this.layout();
  }

  clear() {
    for (const tile of this.tiles.values()) tile.destroy();
    this.tiles.clear();
    this.pinnedId = null;
    this.presenter = null;
    this.layout();
  }

  setTracks(id, tracks) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.setTracks(tracks);
    this.updatePresenter();
  }

  setSpeaking(id, on) {
    this.tiles.get(id)?.setSpeaking(on);
  }

  /** The SFU's dominant speaker (or null): highlighted and kept on every page. */
  setActiveSpeaker(id) {
    const next = id && this.tiles.has(id) ? id : null;
    if (next === this.activeSpeakerId) return;
    this.activeSpeakerId = next;
    for (const tile of this.tiles.values()) tile.el.classList.toggle("active-speaker", tile.id === next);
    this.layout();
  }

  togglePin(id) {
    this.pinnedId = id && this.pinnedId !== id ? id : null;
    for (const tile of this.tiles.values()) tile.render();
    this.updatePresenter(true);
  }

  showReaction(id, emoji) {
    const tile = this.tiles.get(id);
    if (tile && tile.el.isConnected) {
      tile.showReaction(emoji);
      return true;
    }
    return false;
  }

  /** This client is sharing its screen (onStop: called by the Stop presenting button) or not. */
  setSelfPresenting(state) {
    this.selfPresenting = state;
    this.updatePresenter(true);
  }

  /** What the stage shows now ({id, source} or null): the spotlight never shows it a second time. */
  setOnStage(onStage) {
    const key = onStage ? `${onStage.id}:${onStage.source}` : "";
    if (key === this.onStageKey) return;
    this.onStageKey = key;
    this.updatePresenter(true);
  }

  /** Pick what the spotlight shows: the newest screen share, else a pinned participant. */
  updatePresenter(force = false) {
    const onStage = (id, source) => this.onStageKey === `${id}:${source}`;
    let presenter = null;
    for (const tile of this.tiles.values()) {
      if (!tile.isSelf && tile.screenTrack && tile.screenTrack.readyState !== "ended" && !onStage(tile.id, "screen")) {
        presenter = { id: tile.id, track: tile.screenTrack, kind: "screen" };
      }
    }
    if (!presenter && this.selfPresenting && !onStage(this.selfId, "screen")) {
      presenter = { id: this.selfId, track: null, kind: "self-screen" };
    }
    if (!presenter && this.pinnedId && this.tiles.has(this.pinnedId) && !onStage(this.pinnedId, "camera")) {
      const tile = this.tiles.get(this.pinnedId);
      presenter = { id: tile.id, track: tile.isSelf ? null : tile.videoTrack, kind: "pin" };
    }
    const prev = this.presenter;
    const same = prev && presenter && prev.id === presenter.id && prev.track === presenter.track && prev.kind === presenter.kind;
    if (same && !force) return;
    if (!same || force) {
      this.presenter = presenter;
      this.renderSpotlight();
      this.layout();
    }
  }

  renderSpotlight() {
    const p = this.presenter;
    this.container.classList.toggle("has-spotlight", Boolean(p));
    this.spotlight.show(p, p ? this.tiles.get(p.id) : null);
  }

  setPage(page) {
    const next = Math.max(0, Math.min(this.pageCount - 1, page));
    if (next === this.page) return;
    this.page = next;
    this.layout();
  }

  /**
   * The remote videos shown now, as a Set of videoKey(participant id, source): the tiles whose
   * camera is decoded and the spotlight. The meeting asks the SFU not to forward the others
   * (subscribe_prefs); onVideosChanged() is called whenever this may have changed.
   */
  shownVideos() {
    const shown = new Set();
    for (const tile of this.tiles.values()) {
      if (!tile.isSelf && tile.videoAllowed && tile.videoTrack) shown.add(videoKey(tile.id, "camera"));
    }
    const p = this.presenter;
    if (p && p.id && p.track) shown.add(videoKey(p.id, p.kind === "screen" ? "screen" : "camera"));
    return shown;
  }

  /**
   * The elements showing the remote videos of shownVideos(): [{id, source, el}] (a pinned camera
   * twice: its tile in the strip and the spotlight).
   */
  shownVideoElements() {
    const shown = [];
    for (const tile of this.tiles.values()) {
      if (!tile.isSelf && tile.videoAllowed && tile.videoTrack && tile.el.isConnected) {
        shown.push({ id: tile.id, source: "camera", el: tile.video });
      }
    }
    const p = this.presenter;
    if (p && p.id && p.track) shown.push({ id: p.id, source: p.kind === "screen" ? "screen" : "camera", el: this.spotlight.video });
    return shown;
  }

  /**
   * The server's `video_layers` (docs/protocol.md): each remote tile shows the layer of the
   * camera it receives, or that the SFU paused it for a poor connection.
   */
  setVideoLayers(videos) {
    this.videoLayers = new Map();
    for (const v of Array.isArray(videos) ? videos : []) {
      if (v && typeof v === "object" && v.source === "camera" && typeof v.participant_id === "string") this.videoLayers.set(v.participant_id, v);
    }
    for (const tile of this.tiles.values()) {
      if (!tile.isSelf) tile.setLayer(this.videoLayers.get(tile.id) || null);
    }
  }

  /** Retry playback of every element (after a user gesture unblocks autoplay). */
  resumePlayback() {
    for (const tile of this.tiles.values()) {
      if (tile.video.srcObject) tile.video.play().catch(() => {});
      if (tile.audio?.srcObject) tile.audio.play().catch(() => {});
    }
    this.spotlight.resumePlayback();
  }

  /** Play every participant's sound on this output device (setSinkId, where supported). */
  async setSinkId(deviceId) {
    this.sinkId = deviceId || "";
    for (const tile of this.tiles.values()) {
      if (tile.audio && tile.audio.setSinkId) await tile.audio.setSinkId(this.sinkId).catch(() => {});
    }
  }

  contentBox(el) {
    const style = getComputedStyle(el);
    return {
      width: el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 1,
      height: el.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom) - 1,
    };
  }

  /** Lay the tiles out again: page size, the page shown, decoded videos, tile size, page buttons. */
  layout() {
    if (!this.container.isConnected) return;
    const compact = this.compact();
    const strip = Boolean(this.presenter);
    const portrait = this.container.clientHeight > this.container.clientWidth;
    this.container.classList.toggle("strip-bottom", strip && portrait);
    this.container.classList.toggle("strip-side", strip && !portrait);
    const { width, height } = this.contentBox(this.grid);
    const ids = [...this.tiles.keys()];
    if (!ids.length || width <= 0 || height <= 0) {
      this.grid.replaceChildren();
      this.selfDock.hold(null);
      this.pager.hidden = true;
      this.onVideosChanged?.();
      return;
    }
    const box = { strip, portrait, compact, width, height };
    const speaker = this.activeSpeakerId || this.pinnedId;
    // On a phone with others in the meeting your own video is a small view you can move, as in
    // Zoom and Jitsi, not a tile that takes a third of the screen.
    // (Not in a short strip under the stage: there every tile is small already.)
    const roomy = this.container.clientHeight > 320;
    const docked = compact && roomy && ids.length > 1 && this.selfId ? this.tiles.get(this.selfId) : null;
    this.selfDock.hold(docked);
    const gridIds = docked ? ids.filter((id) => id !== docked.id) : ids;
    const { pages } = paginate(gridIds, { selfId: docked ? null : this.selfId, speakerId: speaker, pageSize: pageSizeFor(box) });
    this.pageCount = pages.length;
    if (this.page >= pages.length) this.page = pages.length - 1;
    const paged = pages.length > 1;
    if (paged !== this.container.classList.contains("paged") && !this.relayout) {
      // The page buttons take room below the tiles: measure again with (or without) them.
      this.container.classList.toggle("paged", paged);
      this.relayout = true;
      try {
        this.layout();
      } finally {
        this.relayout = false;
      }
      return;
    }
    const visible = pages[this.page];
    const changed = this.showTiles(visible);
    this.allowVideos(visible, compact, changed);
    this.onVideosChanged?.();
    const { tileWidth, tileHeight } = tileSizeFor(visible.length, box);
    this.container.style.setProperty("--tile-w", `${tileWidth}px`);
    this.container.style.setProperty("--tile-h", `${tileHeight}px`);
    this.container.dataset.count = String(ids.length);
    this.renderPager(pages.length);
  }

  /**
   * Put this page's tiles in the grid, in order (moving a tile within the document keeps its video
   * playing). Returns whether the tiles shown changed.
   */
  showTiles(visible) {
    const changed = visible.length !== this.visibleIds.length || visible.some((id, i) => id !== this.visibleIds[i]);
    if (changed) {
      const els = visible.map((id) => this.tiles.get(id).el);
      this.grid.replaceChildren(...els);
      this.visibleIds = visible;
    }
    return changed;
  }

  /** Decode only the videos a user can see, and on a phone only a few of them. */
  allowVideos(visible, compact, changed) {
    const budget = (compact ? COMPACT_VIDEOS : WIDE_VIDEOS) - (this.presenter && this.presenter.track ? 1 : 0);
    const priority = [...visible].sort((a, b) => this.rank(b) - this.rank(a));
    let allowed = 0;
    const allow = new Set();
    for (const id of priority) {
      const tile = this.tiles.get(id);
      if (tile.isSelf) continue;
      if (tile.videoTrack && !tile.participant.video_muted && allowed < budget) {
        allow.add(id);
        allowed++;
      }
    }
    for (const tile of this.tiles.values()) {
      tile.setVideoAllowed(tile.isSelf || allow.has(tile.id));
      if (changed && tile.el.isConnected && tile.video.srcObject && tile.video.paused) tile.play(tile.video);
    }
  }

  renderPager(pageCount) {
    this.pager.hidden = pageCount < 2;
    this.prevBtn.disabled = this.page === 0;
    this.nextBtn.disabled = this.page >= pageCount - 1;
    this.pageLabel.textContent = t("gallery.pageOf", { page: formatNumber(this.page + 1), total: formatNumber(pageCount) });
    this.container.dataset.page = String(this.page + 1);
  }

  /** Who gets a decoded video first: the pinned one, the speaker, then by order. */
  rank(id) {
    if (id === this.pinnedId) return 3;
    if (id === this.activeSpeakerId) return 2;
    return 0;
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.clear();
    this.audioSink.remove();
  }
}
