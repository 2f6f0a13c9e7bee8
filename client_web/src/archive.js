// The archive page (/archive#room=ID[&t=HOST_TOKEN][&recording=REC]): plays a recorded meeting, the
// recorded tiles in sync on one timeline and the stage as it was at each moment (a panel's chart as
// it was, the document page shown). archive_model.js holds the logic; this file draws it.
//
// One master clock (wall time × speed) drives everything: every <video> and <audio> follows it,
// playing while the clock is within its track's [start_offset, end_offset] at clock - start_offset,
// sought back only when it drifts more than MAX_DRIFT (at most once a second each, so a slow element
// is not sought over and over while it loads). Stalls: the clock waits while every element that
// should be playing is buffering (a slow network pauses the whole meeting, as a video player does),
// at most HOLD_MAX_MS in a row; when only some are buffering it goes on and they catch up by seeking.
import { h, initials, hueFor } from "./dom.js";
import { icon } from "./icons.js";
import { t, language, formatDateTime, formatNumber, timeZone, zoneLabel } from "./i18n.js";
import { siteHeader } from "./site_header.js";
import { PanelView } from "./panels.js";
import { loadCities, citiesNow } from "./cities.js";
import { storedOrganiserKey } from "./organiser_key.js";
import { formatInZone } from "./console_model.js";
import {
  SPEEDS, archiveParams, hashWithRecording, archivePath, withTicket, pickRecording, recordingDuration, clockText,
  clampTime, stageAt, stageSummary, markers, followPlan, tileGroups, stageTrack, tilePhase, trackPhase, shouldHold,
} from "./archive_model.js";

const HOLD_MAX_MS = 8000;
const RESEEK_MS = 1000;
const STEP_SECONDS = 5;
const PAGE_SECONDS = 30;
const HAVE_FUTURE_DATA = 3;
const PLAY_SVG = '<svg viewBox="0 0 24 24" width="24" height="24" fill="currentColor"><path d="M7 4.5v15l12.5-7.5z"/></svg>';
const PAUSE_SVG = '<svg viewBox="0 0 24 24" width="24" height="24" fill="currentColor"><rect x="6" y="4.5" width="4" height="15" rx="1"/><rect x="14" y="4.5" width="4" height="15" rx="1"/></svg>';

/** The page's hooks for tests, kept on window.sitroom.archive (stable: the browser tests use them). */
const hooks = {
  player: null,
  error: null,
  clock() {
    return this.player ? this.player.now() : 0;
  },
  seek(seconds) {
    this.player?.seek(seconds);
  },
  play() {
    this.player?.play();
  },
  pause() {
    this.player?.pause();
  },
  state() {
    const p = this.player;
    if (!p) return { ready: false, error: this.error, t: 0, playing: false, stage: null };
    return { ready: true, error: null, ...p.state() };
  },
};

// ---- loading -----------------------------------------------------------------------------------

class ArchiveError extends Error {
  /** reason: "no-room" | "no-key" | "refused" | "not-found" | "network" | "failed" | "empty". */
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

/** GET the archive: the host's token in the query, else the organiser key this browser keeps. */
async function fetchArchive({ room, token }) {
  if (!room) throw new ArchiveError("no-room", t("archive.errors.noRoom"));
  const key = token ? "" : storedOrganiserKey();
  if (!token && !key) throw new ArchiveError("no-key", t("archive.errors.noKey"));
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(archivePath(room, token), { headers, credentials: "same-origin" });
  } catch {
    throw new ArchiveError("network", t("errors.network"));
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401 || response.status === 403) {
    throw new ArchiveError("refused", t(token ? "archive.errors.hostRefused" : "archive.errors.keyRefused"));
  }
  if (response.status === 404) throw new ArchiveError("not-found", t("archive.errors.notFound"));
  if (!response.ok || !body || typeof body !== "object") {
    throw new ArchiveError("failed", body?.error?.message || t("errors.serverAnswered", { status: response.status }));
  }
  return body;
}

/** A message in place of the player (data-testid archive-error); organisers get a link to the console. */
function errorCard(err, { organiser }) {
  const reason = err instanceof ArchiveError ? err.reason : "failed";
  const message = err?.message || t("errors.unknown");
  const consoleLink = organiser && ["no-room", "no-key", "refused", "not-found", "empty"].includes(reason)
    ? h("a", { class: "button button-primary", href: "/console", dataset: { testid: "archive-console-link" } }, t("archive.openConsole"))
    : null;
  return h("section", { class: "card archive-message", dataset: { testid: "archive-error", reason }, attrs: { role: "alert", "aria-labelledby": "archive-message-title" } },
    h("h1", { id: "archive-message-title", text: t(reason === "empty" ? "archive.errors.emptyTitle" : "archive.errors.title"), attrs: { tabindex: "-1" } }),
    h("p", { text: message }),
    consoleLink ? h("div", { class: "archive-message-actions" }, consoleLink) : null);
}

// ---- the stage ---------------------------------------------------------------------------------

/** The stage as it was: a panel (PanelView, as in the meeting), a document page, a participant's video. */
class ArchiveStage {
  constructor({ tracks, ticket, nameOf, follower }) {
    this.tracks = tracks;
    this.ticket = ticket;
    this.nameOf = nameOf;
    this.follower = follower; // the stage video's follower (Player keeps it in sync)
    this.key = null;
    this.view = null; // {type, ...}
    this.status = h("span", { class: "stage-status-text" });
    this.pageChip = h("span", { class: "stage-status-page", hidden: true });
    this.body = h("div", { class: "stage-body archive-stage-body" });
    this.el = h("section", { class: "stage-view archive-stage", dataset: { testid: "archive-stage", stageKind: "empty" }, attrs: { "aria-label": t("archive.stageLabel") } },
      h("div", { class: "stage-bar archive-stage-bar" }, h("div", { class: "stage-bar-status" }, this.status, this.pageChip)),
      this.body);
  }

  /** Show stageAt's result `at` (cheap when nothing changed). */
  render(at, now) {
    const s = stageSummary(at);
    const d = this.el.dataset;
    d.stageKind = s.kind;
    for (const [attr, value] of [["panelId", s.panel_id], ["documentId", s.document_id], ["page", s.page], ["participantId", s.participant_id], ["source", s.source]]) {
      if (value === undefined || value === null) delete d[attr];
      else d[attr] = String(value);
    }
    if (s.kind === "panel") this.renderPanel(at);
    else if (s.kind === "document") this.renderDocument(at, s);
    else if (s.kind === "participant") this.renderParticipant(s, now);
    else this.message("empty", t("archive.stage.empty"), "", t("archive.stage.emptyStatus"));
  }

  clear() {
    this.view?.panel?.destroy();
    if (this.view?.type === "participant") this.follower.setTrack(null);
    this.view = null;
    this.key = null;
    this.body.replaceChildren();
    this.pageChip.hidden = true;
  }

  message(key, text, detail, status) {
    this.status.textContent = status;
    if (this.key === `msg:${key}:${text}:${detail}`) return;
    this.clear();
    this.key = `msg:${key}:${text}:${detail}`;
    this.body.append(h("div", { class: "stage-message" },
      h("p", { class: "stage-message-title", text }),
      detail ? h("p", { text: detail, attrs: { translate: "no" } }) : null));
  }

  renderPanel(at) {
    const { panel, panelData } = at;
    if (!panel) return this.message("panel", t("archive.stage.panelMissing"), "", t("archive.stage.panelStatusUnknown"));
    this.status.textContent = t("archive.stage.panelStatus", { title: panel.title });
    const dataKey = panelData ? [panelData.data, panelData.error, panelData.updated_at, panelData.ok_at] : null;
    let v = this.view;
    // A new view for another panel, or to go back to "no data yet" (PanelView keeps data it had).
    if (v?.type !== "panel" || v.id !== panel.id || (!panelData && v.dataKey)) {
      this.clear();
      const view = new PanelView(panel, { cities: citiesNow() });
      v = this.view = { type: "panel", id: panel.id, panel: view, spec: panel, dataKey: null };
      this.key = `panel:${panel.id}`;
      this.body.append(view.el);
      view.waiting.textContent = t("archive.stage.noPanelData");
    } else if (v.spec !== panel) {
      v.spec = panel;
      v.panel.setPanel(panel);
      v.dataKey = null; // a new kind drops the data: give it again
    }
    if (dataKey && !(v.dataKey && dataKey.every((x, i) => x === v.dataKey[i]))) {
      v.dataKey = dataKey;
      v.panel.setData(panelData);
    }
  }

  renderDocument(at, s) {
    const page = at.page;
    const total = page?.page_count;
    this.pageChip.hidden = false;
    this.pageChip.textContent = total
      ? t("documents.pageOf", { page: formatNumber(s.page + 1), total: formatNumber(total) })
      : t("archive.stage.page", { page: formatNumber(s.page + 1) });
    const title = at.title || t("archive.stage.documentUntitled");
    if (!page) {
      this.message("page", t("archive.stage.pageMissing"), at.title || "", title);
      this.pageChip.hidden = false;
      return;
    }
    this.status.textContent = title;
    const src = withTicket(page.image, this.ticket);
    if (this.view?.type !== "document") {
      this.clear();
      const img = h("img", { class: "archive-page-image", alt: "", dataset: { testid: "archive-page" }, attrs: { draggable: "false" } });
      const failed = h("p", { class: "archive-page-failed", hidden: true, text: t("archive.stage.pageFailed") });
      img.addEventListener("error", () => {
        failed.hidden = false;
        img.hidden = true;
      });
      img.addEventListener("load", () => {
        failed.hidden = true;
        img.hidden = false;
      });
      this.view = { type: "document", img, src: null };
      this.key = "document";
      this.body.append(h("div", { class: "archive-page" }, img, failed));
      this.pageChip.hidden = false;
    }
    const v = this.view;
    if (v.src !== src) {
      v.src = src;
      v.img.src = src;
      if (page.width && page.height) {
        v.img.width = page.width;
        v.img.height = page.height;
      }
      v.img.alt = t("archive.stage.pageAlt", { title, page: formatNumber(s.page + 1) });
    }
  }

  renderParticipant(s, now) {
    const name = this.nameOf(s.participant_id);
    const screen = s.source === "screen";
    this.status.textContent = t(screen ? "stage.labelScreen" : "stage.labelCamera", { name });
    const track = stageTrack(this.tracks, { kind: "participant", participant_id: s.participant_id, source: s.source }, now);
    if (!track) return this.message("participant", t(screen ? "archive.stage.screenMissing" : "archive.stage.cameraMissing", { name }), "", this.status.textContent);
    if (this.view?.type !== "participant") {
      this.clear();
      const f = this.follower;
      const off = h("p", { class: "stage-participant-off", hidden: true });
      this.view = { type: "participant", off };
      this.key = "participant";
      this.body.append(h("div", { class: "stage-participant archive-stage-participant", dataset: { testid: "archive-stage-video" } }, f.el, off));
    }
    const v = this.view;
    this.follower.setTrack(track);
    const phase = this.follower.failed ? "failed" : trackPhase(track, now);
    v.off.hidden = phase === "active";
    this.follower.el.hidden = phase !== "active";
    if (phase === "failed") v.off.textContent = t("archive.tile.missing");
    else if (phase === "before") v.off.textContent = t("archive.tile.notYet");
    else if (phase === "after") v.off.textContent = t("archive.tile.left");
  }

  destroy() {
    this.clear();
  }
}

// ---- media elements ----------------------------------------------------------------------------

/** One <video> or <audio> following the master clock for one recorded track (or none yet). */
class Follower {
  constructor(kind, ticket, { onBlocked, onChange } = {}) {
    this.ticket = ticket;
    this.onBlocked = onBlocked;
    this.onChange = onChange;
    this.track = null;
    this.failed = false;
    this.blocked = false;
    this.lastSeek = -Infinity;
    this.el = kind === "audio"
      ? h("audio", { preload: "auto" })
      : h("video", { preload: "auto", muted: true, playsInline: true, attrs: { playsinline: "", muted: "", "aria-hidden": "true" } });
    this.el.addEventListener("error", () => {
      if (!this.el.getAttribute("src")) return;
      this.failed = true;
      this.onChange?.();
    });
  }

  setTrack(track) {
    if (track === this.track) return;
    this.track = track;
    this.failed = false;
    this.lastSeek = -Infinity;
    if (track) this.el.src = withTicket(track.url, this.ticket);
    else this.unload();
  }

  unload() {
    this.el.pause();
    this.el.removeAttribute("src");
    this.el.load();
  }

  /** Whether this element should be playing at `t` and is still loading (for the clock's hold). */
  waitState(t) {
    const active = Boolean(this.track) && trackPhase(this.track, t) === "active";
    // A file shorter than its track's offsets say has ended: nothing to wait for.
    return { active, failed: this.failed || this.blocked, buffering: this.el.readyState < HAVE_FUTURE_DATA && !this.el.ended };
  }

  /** Follow the clock at `t`: play or pause, and seek when drifted (force: on a user's seek). */
  follow(t, { playing, rate, force = false, gesture = false }) {
    const el = this.el;
    if (!this.track || this.failed) return;
    const plan = followPlan(this.track, t, el.currentTime, { playing, length: el.duration });
    const nowMs = performance.now();
    if (plan.seekTo !== null && (force || (!el.seeking && nowMs - this.lastSeek > RESEEK_MS))) {
      this.lastSeek = nowMs;
      try {
        el.currentTime = plan.seekTo;
      } catch {
        /* not seekable yet (no metadata): the next tick tries again */
      }
    }
    if (el.playbackRate !== rate) el.playbackRate = rate;
    if (gesture) this.blocked = false;
    if (plan.play && el.paused && !this.blocked && !(el.ended && plan.seekTo === null)) {
      el.play().catch((err) => {
        if (err?.name === "NotAllowedError") {
          this.blocked = true;
          this.onBlocked?.();
        }
      });
    } else if (!plan.play && !el.paused) {
      el.pause();
    }
  }

  destroy() {
    this.track = null;
    this.unload();
    this.el.remove();
  }
}

/** A participant's tile: their video(s), or their initials, name and city, and what it is at `t`. */
function makeTile(group, player) {
  const screen = group.source === "screen";
  const name = group.name || t("archive.someone");
  const videos = group.videos.map((track) => {
    const f = new Follower("video", player.ticket, { onChange: () => player.refresh() });
    f.setTrack(track);
    return f;
  });
  const audios = group.audios.map((track) => {
    const f = new Follower("audio", player.ticket, { onBlocked: () => player.soundBlocked(), onChange: () => player.refresh() });
    f.setTrack(track);
    return f;
  });
  const state = h("p", { class: "archive-tile-state" });
  const audioChip = h("span", { class: "archive-tile-chip", hidden: true, text: t("archive.tile.noSound") });
  const avatar = h("div", { class: "avatar" }, h("span", { class: "avatar-initials", text: initials(name), attrs: { "aria-hidden": "true" } }));
  avatar.style.setProperty("--hue", String(hueFor(group.participant_id)));
  const el = h("div", {
    class: `tile archive-tile${videos.length ? "" : " audio-only"}`,
    dataset: { testid: "archive-tile", participantId: String(group.participant_id), source: group.source },
    attrs: { role: "group", "aria-label": t(screen ? "archive.tile.screenLabel" : "archive.tile.label", { name }) },
  },
  videos.map((f) => f.el),
  avatar,
  state,
  audioChip,
  h("div", { class: "tile-label", attrs: { translate: "no" } },
    screen ? icon("screen", "archive-tile-icon") : null,
    h("span", { class: "tile-name", text: screen ? t("archive.tile.screenName", { name }) : name }),
    group.city ? h("span", { class: "tile-org", text: group.city }) : null),
  audios.map((f) => f.el));
  let shown = "";
  return {
    el,
    followers: [...videos, ...audios],
    render(now) {
      const activeVideo = videos.find((f) => f.track && trackPhase(f.track, now) === "active");
      let phase = tilePhase(group, now);
      const failed = videos.length ? (activeVideo ? activeVideo.failed : videos.every((f) => f.failed)) : audios.every((f) => f.failed);
      if (failed) phase = "failed";
      const waiting = phase === "active" && activeVideo && activeVideo.el.readyState < HAVE_FUTURE_DATA && player.playing;
      const key = `${phase}:${videos.indexOf(activeVideo)}:${waiting}:${audios.some((f) => f.failed)}`;
      if (key === shown) return;
      shown = key;
      el.dataset.phase = phase;
      for (const f of videos) f.el.hidden = f !== activeVideo;
      el.classList.toggle("video-off", !activeVideo || phase !== "active" || activeVideo.failed);
      el.classList.toggle("is-out", phase === "before" || phase === "after");
      const text = {
        before: t("archive.tile.notYet"),
        after: t("archive.tile.left"),
        failed: t("archive.tile.missing"),
      }[phase] || (waiting ? t("archive.tile.loading") : "");
      state.textContent = text;
      state.hidden = !text;
      audioChip.hidden = !audios.some((f) => f.failed) || phase === "failed";
    },
  };
}

// ---- the player ----------------------------------------------------------------------------------

class Player {
  constructor({ recording, ticket, startAt = 0 }) {
    this.recording = recording;
    this.ticket = ticket || "";
    this.entries = Array.isArray(recording.stage) ? recording.stage : [];
    this.tracks = Array.isArray(recording.tracks) ? recording.tracks.filter((tr) => tr && tr.url) : [];
    this.duration = recordingDuration(recording);
    this.t = clampTime(startAt, this.duration);
    this.playing = false;
    this.rate = 1;
    this.base = 0; // performance.now() when t was last set while playing
    this.holdSince = 0;
    this.holding = false; // playing, but waiting for media (see the file's head)
    this.dragging = false;
    this.frame = 0;
    this.timer = 0;
    this.names = new Map();
    for (const tr of this.tracks) if (tr.name && !this.names.has(tr.participant_id)) this.names.set(tr.participant_id, tr.name);

    this.stageFollower = new Follower("video", this.ticket, { onChange: () => this.refresh() });
    this.stage = new ArchiveStage({
      tracks: this.tracks,
      ticket: this.ticket,
      nameOf: (id) => this.names.get(id) || t("archive.someone"),
      follower: this.stageFollower,
    });
    this.tiles = tileGroups(this.tracks).map((group) => makeTile(group, this));
    this.followers = [...this.tiles.flatMap((tile) => tile.followers), this.stageFollower];
    this.build();
    this.tick = this.tick.bind(this);
    this.onKey = this.onKey.bind(this);
    document.addEventListener("keydown", this.onKey);
    this.render({ force: true });
  }

  build() {
    this.playIcon = h("span", { class: "icon", html: PLAY_SVG, attrs: { "aria-hidden": "true" } });
    this.playButton = h("button", {
      type: "button",
      class: "archive-play",
      dataset: { testid: "archive-play" },
      attrs: { "aria-label": t("archive.play") },
      on: { click: () => (this.playing ? this.pause() : this.play({ gesture: true })) },
    }, this.playIcon);
    this.time = h("span", { class: "archive-time", dataset: { testid: "archive-time" }, attrs: { translate: "no" } });
    this.waiting = h("span", { class: "archive-waiting", hidden: true, text: t("archive.buffering") });
    this.scrubber = h("input", {
      type: "range",
      class: "archive-scrubber",
      id: "archive-scrubber",
      min: "0",
      max: String(this.duration),
      step: "0.1",
      value: String(this.t),
      dataset: { testid: "archive-scrubber" },
      attrs: { "aria-label": t("archive.scrubber") },
    });
    this.scrubber.addEventListener("input", () => this.seek(Number(this.scrubber.value)));
    this.scrubber.addEventListener("pointerdown", () => { this.dragging = true; });
    for (const ev of ["pointerup", "pointercancel", "change", "blur"]) this.scrubber.addEventListener(ev, () => { this.dragging = false; });
    this.scrubber.addEventListener("keydown", (event) => this.onScrubberKey(event));
    this.markerRow = h("div", { class: "archive-markers" }, this.markerButtons());
    this.speed = h("select", { id: "archive-speed", class: "archive-speed", dataset: { testid: "archive-speed" } },
      SPEEDS.map((s) => h("option", { value: String(s), text: t("archive.speedOption", { speed: formatNumber(s) }) })));
    this.speed.value = "1";
    this.speed.addEventListener("change", () => this.setRate(Number(this.speed.value)));
    this.soundButton = h("button", { type: "button", class: "button button-small archive-sound", dataset: { testid: "archive-sound" }, text: t("archive.soundOn") });
    this.soundButton.addEventListener("click", () => {
      this.soundNote.hidden = true;
      this.render({ force: true, gesture: true });
    });
    this.soundNote = h("p", { class: "archive-sound-note", hidden: true, attrs: { role: "status" } }, h("span", { text: t("archive.soundBlocked") }), this.soundButton);

    const controls = h("div", { class: "archive-controls", attrs: { role: "group", "aria-label": t("archive.controls") } },
      this.playButton,
      h("div", { class: "archive-timeline" }, this.markerRow, this.scrubber),
      h("div", { class: "archive-readout" }, this.time, this.waiting),
      h("label", { class: "archive-speed-field", htmlFor: "archive-speed" },
        h("span", { class: "visually-hidden", text: t("archive.speed") }),
        this.speed));
    // Focusable: on a laptop the column scrolls, and the keyboard must reach what it hides.
    const tileList = h("div", { class: "archive-tiles", attrs: { role: "list", "aria-label": t("archive.tilesLabel"), tabindex: "0" } },
      this.tiles.length
        ? this.tiles.map((tile) => h("div", { class: "archive-tile-item", attrs: { role: "listitem" } }, tile.el))
        : h("p", { class: "archive-no-media", text: t("archive.noMedia") }));
    this.el = h("section", { class: "archive-player", dataset: { testid: "archive-player" }, attrs: { "aria-label": t("archive.playerLabel") } },
      this.stage.el, tileList, controls, this.soundNote);
  }

  /** What a marker points at, in words ("Panel: Air quality", "Budget 2027, page 3", ...). */
  markerText(m) {
    if (m.kind === "panel") return m.title ? t("archive.what.panel", { title: m.title }) : t("archive.what.panelUntitled");
    if (m.kind === "document") {
      return t("archive.what.document", { title: m.title || t("archive.stage.documentUntitled"), page: formatNumber(m.page + 1) });
    }
    if (m.kind === "participant") {
      const name = this.names.get(m.participant_id) || t("archive.someone");
      return t(m.source === "screen" ? "archive.what.screen" : "archive.what.camera", { name });
    }
    return t("archive.what.empty");
  }

  markerButtons() {
    if (!(this.duration > 0)) return [];
    return markers(this.entries).filter((m) => m.t <= this.duration).map((m) => {
      const label = t("archive.marker", { time: clockText(m.t), what: this.markerText(m) });
      const b = h("button", {
        type: "button",
        class: `archive-marker marker-${m.kind}`,
        title: label,
        dataset: { testid: "archive-marker", t: String(m.t), kind: m.kind },
        attrs: { "aria-label": label },
      });
      b.style.left = `${(m.t / this.duration) * 100}%`;
      b.addEventListener("click", () => this.seek(m.t));
      return b;
    });
  }

  now() {
    if (!this.playing || this.holding) return this.t;
    return clampTime(this.t + ((performance.now() - this.base) / 1000) * this.rate, this.duration);
  }

  /** Fix the clock at its current value (before a change of speed, a pause, a hold). */
  settle() {
    this.t = this.now();
    this.base = performance.now();
  }

  play({ gesture = false } = {}) {
    if (this.playing || !(this.duration > 0)) return;
    if (this.t >= this.duration - 0.05) this.t = 0; // at the end: from the start again
    this.playing = true;
    this.holding = false;
    this.base = performance.now();
    this.holdSince = 0;
    this.render({ force: true, gesture });
    this.loop();
  }

  pause() {
    if (!this.playing) return;
    this.settle();
    this.playing = false;
    this.holding = false;
    this.stopLoop();
    this.render({ force: true });
  }

  seek(seconds) {
    const v = Number(seconds);
    if (!Number.isFinite(v)) return;
    this.t = clampTime(v, this.duration);
    this.base = performance.now();
    this.holdSince = 0;
    this.render({ force: true });
  }

  setRate(rate) {
    if (!SPEEDS.includes(rate)) return;
    this.settle();
    this.rate = rate;
    this.speed.value = String(rate);
    this.render({ force: false });
  }

  state() {
    return {
      t: this.now(),
      playing: this.playing,
      waiting: this.playing && this.holding,
      rate: this.rate,
      duration: this.duration,
      recording: this.recording.id,
      stage: stageSummary(stageAt(this.entries, this.now())),
    };
  }

  soundBlocked() {
    this.soundNote.hidden = false;
  }

  /** Something changed outside the clock (an element failed): draw again. */
  refresh() {
    this.render({ force: false });
  }

  loop() {
    this.stopLoop();
    const frame = () => {
      this.tick();
      if (this.playing) this.frame = requestAnimationFrame(frame);
    };
    this.frame = requestAnimationFrame(frame);
    // requestAnimationFrame stops in a background tab: the clock still ends the recording there.
    this.timer = setInterval(this.tick, 1000);
  }

  stopLoop() {
    cancelAnimationFrame(this.frame);
    clearInterval(this.timer);
    this.frame = 0;
    this.timer = 0;
  }

  tick() {
    if (!this.playing) return;
    if (this.now() >= this.duration) {
      this.t = this.duration;
      this.playing = false;
      this.stopLoop();
      this.render({ force: true });
      return;
    }
    const hold = shouldHold(this.followers.map((f) => f.waitState(this.now())));
    const nowMs = performance.now();
    const holdNow = hold && (!this.holdSince || nowMs - this.holdSince < HOLD_MAX_MS);
    if (holdNow && !this.holding) {
      this.settle();
      this.holding = true; // the clock stands still
      this.holdSince ||= nowMs;
    } else if (!holdNow && this.holding) {
      this.holding = false;
      this.base = nowMs;
    }
    if (!hold) this.holdSince = 0;
    this.waiting.hidden = !this.holding;
    this.render({ force: false });
  }

  /** Draw the moment the clock shows and put every media element on it. */
  render({ force = false, gesture = false } = {}) {
    const now = this.now();
    const at = stageAt(this.entries, now);
    this.stage.render(at, now);
    for (const tile of this.tiles) tile.render(now);
    for (const f of this.followers) f.follow(now, { playing: this.playing, rate: this.rate, force, gesture });
    const text = `${clockText(now)} / ${clockText(this.duration)}`;
    if (this.time.textContent !== text) {
      this.time.textContent = text;
      this.scrubber.setAttribute("aria-valuetext", t("archive.scrubberValue", { time: clockText(now), total: clockText(this.duration) }));
    }
    if (!this.dragging || force) {
      const value = String(Math.round(now * 10) / 10);
      if (this.scrubber.value !== value) this.scrubber.value = value;
    }
    this.scrubber.style.setProperty("--progress", `${this.duration > 0 ? (now / this.duration) * 100 : 0}%`);
    if (this.playButton.dataset.playing !== String(this.playing)) {
      this.playButton.dataset.playing = String(this.playing);
      this.playIcon.innerHTML = this.playing ? PAUSE_SVG : PLAY_SVG;
      this.playButton.setAttribute("aria-label", t(this.playing ? "archive.pause" : "archive.play"));
      this.playButton.title = t(this.playing ? "archive.pause" : "archive.play");
    }
    if (!this.playing) this.waiting.hidden = true;
    this.el.dataset.waiting = String(this.playing && this.holding);
  }

  onScrubberKey(event) {
    const jumps = { ArrowLeft: -STEP_SECONDS, ArrowDown: -STEP_SECONDS, ArrowRight: STEP_SECONDS, ArrowUp: STEP_SECONDS, PageDown: -PAGE_SECONDS, PageUp: PAGE_SECONDS };
    if (event.key in jumps) this.seek(this.now() + jumps[event.key]);
    else if (event.key === "Home") this.seek(0);
    else if (event.key === "End") this.seek(this.duration);
    else return;
    event.preventDefault();
  }

  /** Space plays and pauses (except where it types or presses a button); arrows step 5 s. */
  onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = target?.tagName || "";
    const typing = target?.isContentEditable || tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && target.type !== "range");
    if (typing) return;
    if (event.key === " " || event.code === "Space") {
      if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY") return; // Space presses it
      event.preventDefault();
      if (this.playing) this.pause();
      else this.play({ gesture: true });
    } else if (tag !== "INPUT" && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      event.preventDefault();
      this.seek(this.now() + (event.key === "ArrowLeft" ? -STEP_SECONDS : STEP_SECONDS));
    }
  }

  destroy() {
    this.playing = false;
    this.stopLoop();
    document.removeEventListener("keydown", this.onKey);
    this.stage.destroy();
    for (const f of this.followers) f.destroy();
    this.el.remove();
  }
}

// ---- the page ----------------------------------------------------------------------------------

/** "Thursday 3 December 2026, 18:00 (GMT+9)", and the room's own time when its zone differs. */
function whenLines(recording, room) {
  if (!recording.started || Number.isNaN(Date.parse(recording.started))) return [];
  const local = `${formatDateTime(recording.started)} (${zoneLabel(recording.started)})`;
  const lines = [t("archive.recordedYourTime", { when: local })];
  const zone = room?.time_zone;
  if (zone && zone !== timeZone()) {
    const there = formatInZone(recording.started, zone, language(), { dateStyle: "full", timeStyle: "short" });
    if (there) lines.push(t("archive.recordedRoomTime", { when: there, zone: zone.replace(/_/g, " ") }));
  }
  return lines;
}

function recordingOption(r) {
  const when = r.started ? formatDateTime(r.started, { dateStyle: "medium", timeStyle: "short" }) : r.id;
  return h("option", { value: r.id, text: t("archive.recordingOption", { when, duration: clockText(recordingDuration(r)) }) });
}

let watchingHash = false;
let stopCurrent = null;
let generation = 0; // a newer showArchive (the fragment or the language changed) supersedes a slower one

export async function showArchive(root, sitroom = window.sitroom, { startAt = 0 } = {}) {
  const gen = ++generation;
  stopCurrent?.();
  stopCurrent = null;
  hooks.player = null;
  hooks.error = null;
  if (sitroom && !sitroom.archive) sitroom.archive = hooks;
  if (!watchingHash) {
    watchingHash = true;
    window.addEventListener("hashchange", () => showArchive(root, sitroom));
  }
  document.title = t("archive.pageTitle");
  const params = archiveParams(location.hash);
  const organiser = !params.token;
  const main = h("main", { class: "archive-body", dataset: { testid: "archive" } },
    h("p", { class: "archive-loading", attrs: { role: "status" }, text: t("archive.loading") }));
  root.replaceChildren(
    h("div", { class: "start archive" },
      siteHeader({ label: t("archive.heading"), compact: true, languageId: "archive-language",
        onLanguage: () => showArchive(root, sitroom, { startAt: hooks.clock() }) }),
      main));

  const fail = (err) => {
    hooks.error = { reason: err instanceof ArchiveError ? err.reason : "failed", message: err?.message || "" };
    const card = errorCard(err, { organiser });
    main.replaceChildren(card);
    card.querySelector("h1").focus({ preventScroll: true });
  };
  let archive;
  try {
    [archive] = await Promise.all([fetchArchive(params), loadCities()]);
  } catch (err) {
    if (gen === generation) fail(err);
    return;
  }
  if (gen !== generation) return;
  const recordings = Array.isArray(archive.recordings) ? archive.recordings : [];
  const room = archive.room || {};
  if (room.name) document.title = t("archive.pageTitleRoom", { name: room.name });
  const chosen = pickRecording(recordings, params.recording);
  if (!chosen) {
    fail(new ArchiveError("empty", t("archive.errors.empty")));
    return;
  }

  const info = h("div", { class: "archive-facts" });
  const picker = recordings.length > 1
    ? h("select", { id: "archive-recordings", class: "field-select archive-recordings", dataset: { testid: "archive-recordings" } },
      [...recordings].sort((a, b) => Date.parse(b.started) - Date.parse(a.started)).map(recordingOption))
    : null;
  const header = h("section", { class: "archive-head", attrs: { "aria-labelledby": "archive-title" } },
    h("div", { class: "archive-head-text" },
      h("p", { class: "eyebrow", text: t("archive.eyebrow") }),
      h("h1", { id: "archive-title", text: room.name || t("archive.untitled"), attrs: { translate: "no", tabindex: "-1" } }),
      info),
    picker ? h("label", { class: "archive-picker", htmlFor: "archive-recordings" },
      h("span", { class: "field-label", text: t("archive.recordings") }), picker) : null);
  const slot = h("div", { class: "archive-slot" });
  main.replaceChildren(header, slot);

  let player = null;
  const open = (recording, at = 0) => {
    player?.destroy();
    player = new Player({ recording, ticket: archive.ticket, startAt: at });
    hooks.player = player;
    info.replaceChildren(...[
      ...whenLines(recording, room).map((line) => h("span", { class: "archive-when", text: line })),
      h("span", { class: "archive-when", dataset: { testid: "archive-duration" }, text: t("archive.duration", { time: clockText(player.duration) }) }),
      organiser ? h("a", { class: "archive-console", href: "/console" }, t("archive.backToConsole")) : null,
    ].filter(Boolean));
    slot.replaceChildren(player.el);
    if (picker) picker.value = recording.id;
  };
  picker?.addEventListener("change", () => {
    const next = recordings.find((r) => r.id === picker.value);
    if (!next) return;
    history.replaceState(history.state, "", `${location.pathname}${location.search}${hashWithRecording(location.hash, next.id)}`);
    open(next);
  });
  open(chosen, startAt);
  stopCurrent = () => player?.destroy();
}
