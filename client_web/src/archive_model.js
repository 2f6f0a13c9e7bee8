// The archive page's pure logic (archive.js draws it): what the stage showed at a moment of a
// recording, the scrubber's markers, which recorded tracks play at a moment and where in their file,
// the tiles the tracks make, and the page's fragment. No DOM: node --test runs it.

/** How far (seconds) a media element may drift from the master clock before it is sought back. */
export const MAX_DRIFT = 0.25;
/** The playback speeds offered. */
export const SPEEDS = [1, 1.5, 2];

const STAGE_KINDS = new Set(["empty", "panel", "document", "participant"]);

/**
 * The fragment's parameters: `#room=ID&t=TOKEN&recording=REC` -> {room, token, recording} (each
 * "" when absent).
 */
export function archiveParams(hash) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  return { room: params.get("room") || "", token: params.get("t") || "", recording: params.get("recording") || "" };
}

/** The fragment with `recording` set to `id`, every other parameter kept as it was. */
export function hashWithRecording(hash, id) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  params.set("recording", id);
  return `#${params.toString()}`;
}

/** The JSON request's path: the host's invite token rides in the query, the organiser's key in a header. */
export function archivePath(roomId, token = "") {
  const path = `/api/rooms/${encodeURIComponent(roomId)}/archive`;
  return token ? `${path}?t=${encodeURIComponent(token)}` : path;
}

/** A media or image URL with the archive's ticket (URL-encoded) appended; unchanged without one. */
export function withTicket(url, ticket) {
  if (!url || !ticket) return url || "";
  return `${url}${url.includes("?") ? "&" : "?"}ticket=${encodeURIComponent(ticket)}`;
}

/** The recording to show: the one named in the fragment, else the newest (latest start). */
export function pickRecording(recordings, id = "") {
  const list = Array.isArray(recordings) ? recordings.filter((r) => r && r.id) : [];
  if (!list.length) return null;
  const named = id ? list.find((r) => r.id === id) : null;
  if (named) return named;
  return list.reduce((best, r) => (startMs(r) > startMs(best) ? r : best));
}

function startMs(recording) {
  const ms = Date.parse(recording?.started);
  return Number.isNaN(ms) ? -Infinity : ms;
}

/**
 * A recording's length in seconds: its `duration`, else stopped - started, else the end of its
 * last track or stage entry (never negative, never NaN).
 */
export function recordingDuration(recording) {
  const d = Number(recording?.duration);
  if (Number.isFinite(d) && d > 0) return d;
  const span = (Date.parse(recording?.stopped) - Date.parse(recording?.started)) / 1000;
  if (Number.isFinite(span) && span > 0) return span;
  let end = 0;
  for (const track of recording?.tracks || []) end = Math.max(end, Number(track.end_offset) || 0);
  for (const e of recording?.stage || []) end = Math.max(end, Number(e.t) || 0);
  return end;
}

/** "1:02" / "1:02:05": a number of seconds as a clock (floored to the second; bad input is 0). */
export function clockText(seconds) {
  const total = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** `t` kept within [0, duration]. */
export function clampTime(t, duration) {
  const v = Number(t);
  if (!Number.isFinite(v) || v < 0) return 0;
  return Math.min(v, Math.max(0, Number(duration) || 0));
}

// ---- the stage ---------------------------------------------------------------------------------

function entryTime(e) {
  const v = Number(e?.t);
  return Number.isFinite(v) ? v : 0;
}

/** A stage state's kind, "empty" for anything unknown. */
function kindOf(stage) {
  return STAGE_KINDS.has(stage?.kind) ? stage.kind : "empty";
}

/** The fields that decide what a stage state shows (a pointer move or a version bump changes none). */
export function stageKey(stage) {
  const kind = kindOf(stage);
  if (kind === "panel") return `panel:${stage.panel_id}`;
  if (kind === "document") return `document:${stage.document_id}:${Number(stage.page) || 0}`;
  if (kind === "participant") return `participant:${stage.participant_id}:${stage.source || "camera"}`;
  return "empty";
}

/**
 * A `panel_data` entry as the PanelUpdate a live `panel_data` event carries ({panel_id, data,
 * error, updated_at, ok_at}). The entry's `data` is the event's data; an entry whose `data` is a
 * whole event (it has its own panel_id and data) is taken as that event.
 */
export function panelUpdate(entry) {
  const inner = entry?.data;
  if (inner && typeof inner === "object" && !Array.isArray(inner) && "panel_id" in inner && "data" in inner) {
    return { updated_at: null, ok_at: null, error: null, ...inner };
  }
  return {
    panel_id: entry?.panel_id ?? null,
    data: inner ?? null,
    error: entry?.error ?? null,
    updated_at: entry?.updated_at ?? null,
    ok_at: entry?.ok_at ?? null,
  };
}

/**
 * What the stage showed at `t` (seconds from the recording's start), from the recording's stage
 * entries (oldest first; unknown types ignored): {stage, panel, panelData, page, title}.
 * - stage: the latest `stage` state at or before t ({kind: "empty"} before any);
 * - panel: for a panel stage, its spec from the latest `panels` entry at or before t (null if that
 *   list lacks it);
 * - panelData: that panel's latest `panel_data` at or before t as a PanelUpdate; an update without
 *   data (a source error) carries the last data before it, as the meeting shows it;
 * - page: for a document stage, the latest `page` entry of that document and page at or before t
 *   (null when that page was never copied: the page shows a placeholder);
 * - title: a document's title (from its page entries, at or before t, else any), or a panel's.
 */
export function stageAt(entries, t) {
  const list = Array.isArray(entries) ? entries : [];
  let stage = null;
  let panels = [];
  const data = new Map(); // panel id -> PanelUpdate
  const pages = new Map(); // "doc:page" -> page entry
  const titles = new Map(); // document id -> title
  for (const e of list) {
    if (!e || entryTime(e) > t) break;
    if (e.type === "stage" && e.stage && typeof e.stage === "object") stage = e.stage;
    else if (e.type === "panels" && Array.isArray(e.panels)) panels = e.panels;
    else if (e.type === "panel_data" && e.panel_id != null) {
      const update = panelUpdate(e);
      const previous = data.get(e.panel_id);
      data.set(e.panel_id, update.data == null && previous?.data != null ? { ...update, data: previous.data } : update);
    } else if (e.type === "page" && e.document_id != null) {
      pages.set(`${e.document_id}:${Number(e.page) || 0}`, e);
      if (e.title) titles.set(e.document_id, e.title);
    }
  }
  const shown = stage ? { ...stage, kind: kindOf(stage) } : { kind: "empty" };
  const result = { stage: shown, panel: null, panelData: null, page: null, title: null };
  if (shown.kind === "panel") {
    result.panel = panels.find((p) => p && p.id === shown.panel_id) || null;
    result.panelData = data.get(shown.panel_id) || null;
    result.title = result.panel?.title ?? null;
  } else if (shown.kind === "document") {
    result.page = pages.get(`${shown.document_id}:${Number(shown.page) || 0}`) || null;
    result.title = titles.get(shown.document_id)
      ?? list.find((e) => e?.type === "page" && e.document_id === shown.document_id && e.title)?.title
      ?? null;
  }
  return result;
}

/** The ids stageAt's result shows (window.sitroom.archive.state().stage and the stage's attributes). */
export function stageSummary(at) {
  const s = at?.stage || { kind: "empty" };
  const kind = kindOf(s);
  const out = { kind };
  if (kind === "panel") out.panel_id = s.panel_id ?? null;
  if (kind === "document") Object.assign(out, { document_id: s.document_id ?? null, page: Number(s.page) || 0 });
  if (kind === "participant") Object.assign(out, { participant_id: s.participant_id ?? null, source: s.source || "camera" });
  return out;
}

/**
 * The scrubber's markers: one for each time the stage started showing something else (a pointer
 * move or a version bump is no change; the state at the start is no marker). Each: {t, kind,
 * panel_id?, document_id?, page?, participant_id?, source?, title?}, oldest first.
 */
export function markers(entries) {
  const list = Array.isArray(entries) ? entries : [];
  const out = [];
  let key = null;
  let panels = [];
  const titles = new Map();
  for (const e of list) if (e?.type === "page" && e.document_id != null && e.title && !titles.has(e.document_id)) titles.set(e.document_id, e.title);
  for (const e of list) {
    if (e?.type === "panels" && Array.isArray(e.panels)) panels = e.panels;
    if (e?.type !== "stage" || !e.stage || typeof e.stage !== "object") continue;
    const next = stageKey(e.stage);
    const first = key === null;
    if (next === key) continue;
    key = next;
    if (first && entryTime(e) <= 0) continue;
    const marker = { t: entryTime(e), ...stageSummary({ stage: e.stage }) };
    if (marker.kind === "panel") marker.title = panels.find((p) => p?.id === marker.panel_id)?.title ?? null;
    if (marker.kind === "document") marker.title = titles.get(marker.document_id) ?? null;
    out.push(marker);
  }
  return out;
}

// ---- tracks ------------------------------------------------------------------------------------

function offsets(track) {
  const start = Number(track?.start_offset);
  const end = Number(track?.end_offset);
  const s = Number.isFinite(start) ? Math.max(0, start) : 0;
  return { start: s, end: Number.isFinite(end) && end >= s ? end : Infinity };
}

/** Whether a track's file covers moment `t`: start_offset <= t <= end_offset. */
export function trackActive(track, t) {
  const { start, end } = offsets(track);
  return t >= start && t <= end;
}

/** Where moment `t` is in the track's file (seconds; 0 before it starts, its length after it ended). */
export function mediaTime(track, t) {
  const { start, end } = offsets(track);
  return Math.max(0, Math.min(t, end) - start);
}

/** "before" (not in the recording yet), "active" or "after" (left) for a track at `t`. */
export function trackPhase(track, t) {
  const { start, end } = offsets(track);
  if (t < start) return "before";
  return t > end ? "after" : "active";
}

/**
 * How a media element at `current` (its currentTime) should follow the master clock at `t`:
 * {play: whether it should be playing, seekTo: a time to seek it to, or null}. It seeks only when
 * it is off by more than MAX_DRIFT (a stopped element is put on its place too), never past
 * `length` (the file's own duration, when known).
 */
export function followPlan(track, t, current, { playing = true, length = Infinity } = {}) {
  const phase = trackPhase(track, t);
  let target = mediaTime(track, t);
  if (Number.isFinite(length) && length > 0) target = Math.min(target, length);
  const off = !Number.isFinite(current) || Math.abs(current - target) > MAX_DRIFT;
  return { play: playing && phase === "active", seekTo: off ? target : null, phase };
}

const SOURCE_ORDER = { camera: 0, screen: 1 };

/**
 * The tiles the recorded tracks make, in order of first appearance: one per participant and video
 * source (camera, screen: a screen share is its own tile), holding its video track(s) (several when
 * the participant published again) and the audio that goes with it: a screen's audio to the screen
 * tile, other audio to the camera tile (else the participant's first video tile). A participant
 * with audio only gets a name tile (video: [], source: the audio's source).
 * Each: {key, participant_id, name, city, source, videos: [track], audios: [track], start}.
 */
export function tileGroups(tracks) {
  const list = (Array.isArray(tracks) ? tracks : []).filter((tr) => tr && tr.participant_id != null);
  const tiles = new Map();
  const tileOf = (tr, source) => {
    const key = `${tr.participant_id}:${source}`;
    if (!tiles.has(key)) {
      tiles.set(key, { key, participant_id: tr.participant_id, name: tr.name || "", city: tr.city || "", source, videos: [], audios: [], start: Infinity });
    }
    return tiles.get(key);
  };
  for (const tr of list) {
    if (tr.kind !== "video") continue;
    const tile = tileOf(tr, tr.source || "camera");
    tile.videos.push(tr);
  }
  for (const tr of list) {
    if (tr.kind !== "audio") continue;
    const screen = String(tr.source || "").startsWith("screen");
    const own = [...tiles.values()].filter((tile) => tile.participant_id === tr.participant_id && tile.videos.length);
    const home = (screen ? own.find((tile) => tile.source === "screen") : own.find((tile) => tile.source === "camera"))
      || own.find((tile) => tile.source === "camera") || own[0] || tileOf(tr, tr.source || "microphone");
    home.audios.push(tr);
  }
  for (const tile of tiles.values()) {
    for (const tr of [...tile.videos, ...tile.audios]) tile.start = Math.min(tile.start, offsets(tr).start);
    if (!tile.name) tile.name = [...tile.videos, ...tile.audios].find((tr) => tr.name)?.name || "";
    tile.videos.sort((a, b) => offsets(a).start - offsets(b).start);
  }
  return [...tiles.values()].sort((a, b) => a.start - b.start
    || (SOURCE_ORDER[a.source] ?? 2) - (SOURCE_ORDER[b.source] ?? 2)
    || String(a.participant_id).localeCompare(String(b.participant_id)));
}

/**
 * The video track a participant stage shows at `t`: that participant's track of that source (camera
 * by default) which covers t, else the nearest one in time (its tile then says "not yet" / "left"),
 * else null (nothing of it was recorded).
 */
export function stageTrack(tracks, stage, t) {
  if (stage?.kind !== "participant") return null;
  const source = stage.source || "camera";
  const own = (Array.isArray(tracks) ? tracks : [])
    .filter((tr) => tr && tr.kind === "video" && tr.participant_id === stage.participant_id && (tr.source || "camera") === source);
  if (!own.length) return null;
  const distance = (tr) => {
    const { start, end } = offsets(tr);
    return t < start ? start - t : t > end ? t - end : 0;
  };
  return own.reduce((best, tr) => (distance(tr) < distance(best) ? tr : best));
}

/** The state a tile shows at `t`: the phase of its video track covering t, else of its nearest one. */
export function tilePhase(tile, t) {
  const tracks = tile?.videos?.length ? tile.videos : tile?.audios || [];
  if (!tracks.length) return "after";
  if (tracks.some((tr) => trackActive(tr, t))) return "active";
  return tracks.every((tr) => trackPhase(tr, t) === "before") ? "before" : "after";
}

/**
 * Whether the master clock should hold (wait) at this moment: every media element that should be
 * playing now is still buffering. ready: [{active, buffering, failed}]. With none active, or one
 * ready, the clock goes on.
 */
export function shouldHold(elements) {
  const active = (elements || []).filter((e) => e.active && !e.failed);
  return active.length > 0 && active.every((e) => e.buffering);
}
