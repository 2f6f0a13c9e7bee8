// Pure functions behind the stage (no DOM, no chart.js): formatting, data-shape checks, the panel
// editor's payload, document URLs, follow/browse resolution. Unit-tested in test/stage.test.mjs.
// Texts come from the catalogues (t), times and numbers are in the page's language (language(),
// or the `lang` given).
import { t, language } from "./i18n.js";

export const PANEL_KINDS = ["timeseries", "kpi", "table"];
export const FEEDS = ["air_quality", "traffic", "incidents"];
export const POLLUTANTS = ["pm25", "pm10", "no2", "o3"];
export const POLLUTANT_LABELS = { pm25: "PM2.5", pm10: "PM10", no2: "NO2", o3: "O3" };

/** "Line chart", "Key figures", "Table" (in the page's language); an unknown kind as it is. */
export function kindLabel(kind) {
  return PANEL_KINDS.includes(kind) ? t(`panels.kinds.${kind}`) : String(kind ?? "");
}

/** "Air quality", "Traffic", "Incidents" (in the page's language); an unknown feed as it is. */
export function feedLabel(feed) {
  return FEEDS.includes(feed) ? t(`panels.feeds.${feed}`) : String(feed ?? "");
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

export function isIsoTime(value) {
  return typeof value === "string" && ISO_TIME.test(value) && !Number.isNaN(Date.parse(value));
}

function clockParts(iso, timeZone, withSeconds, lang) {
  if (iso === null || iso === undefined || iso === "") return "";
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (withSeconds) options.second = "2-digit";
  if (timeZone) options.timeZone = timeZone;
  return new Intl.DateTimeFormat(lang || language(), options).format(date);
}

/**
 * "09:30:05" (24-hour, local time unless timeZone is given, in the page's language unless `lang`
 * is given); "" for a missing or bad time.
 */
export function formatClock(iso, timeZone, lang) {
  return clockParts(iso, timeZone, true, lang);
}

/** "09:30" for table cells that hold times. */
export function formatShortTime(iso, timeZone, lang) {
  return clockParts(iso, timeZone, false, lang);
}

/** Trend arrow and its spoken meaning. */
export function trendArrow(trend) {
  if (trend === "up") return { symbol: "↑", label: t("panels.trend.up") };
  if (trend === "down") return { symbol: "↓", label: t("panels.trend.down") };
  return { symbol: "→", label: t("panels.trend.flat") };
}

const TONES = {
  good: "good",
  moderate: "moderate",
  bad: "bad",
  open: "bad",
  dispatched: "moderate",
  resolved: "good",
  high: "bad",
  medium: "moderate",
  low: "good",
};

/** Colour tone of a status-like cell value ("open" -> "bad"), or null if it is not one. */
export function statusTone(value) {
  if (typeof value !== "string") return null;
  return TONES[value.trim().toLowerCase()] || null;
}

/** Columns whose values are shown as coloured chips. */
export function isStatusColumn(name) {
  return /^(status|severity|state|level)\b/i.test(String(name).trim());
}

/**
 * Text of a table cell or KPI value: numbers with at most two decimals in the page's language
 * (or `lang`; no thousands separators, as the data has them), times as "09:30".
 */
export function formatCell(value, timeZone, lang) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? t("panels.yes") : t("panels.no");
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "—";
    return new Intl.NumberFormat(lang || language(), { maximumFractionDigits: 2, useGrouping: false }).format(value);
  }
  const text = String(value);
  if (isIsoTime(text)) return formatShortTime(text, timeZone, lang);
  return text;
}

/**
 * Chart model of timeseries PanelData: {labels, series: [{name, values}], unit}, or null when the
 * data does not have the documented shape.
 */
export function timeseriesModel(data, timeZone, lang) {
  if (!data || typeof data !== "object" || !Array.isArray(data.t) || !data.series || typeof data.series !== "object") {
    return null;
  }
  const labels = data.t.map((time) => (isIsoTime(time) ? formatClock(time, timeZone, lang) : String(time)));
  const series = [];
  for (const [name, values] of Object.entries(data.series)) {
    if (!Array.isArray(values)) continue;
    series.push({ name, values: values.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null)) });
  }
  return { labels, series, unit: typeof data.unit === "string" ? data.unit : "" };
}

/** KPI tiles of kpi PanelData, or null. */
export function kpiModel(data) {
  if (!data || !Array.isArray(data.tiles)) return null;
  return data.tiles
    .filter((t) => t && typeof t === "object")
    .map((t) => ({
      label: String(t.label ?? ""),
      value: t.value,
      unit: t.unit ? String(t.unit) : "",
      trend: ["up", "down", "flat"].includes(t.trend) ? t.trend : "flat",
      status: ["good", "moderate", "bad"].includes(t.status) ? t.status : null,
    }));
}

/** {columns, rows, statusColumns: Set of indexes} of table PanelData, or null. */
export function tableModel(data) {
  if (!data || !Array.isArray(data.columns) || !Array.isArray(data.rows)) return null;
  const columns = data.columns.map((c) => String(c));
  const rows = data.rows.filter(Array.isArray);
  const statusColumns = new Set();
  columns.forEach((c, i) => isStatusColumn(c) && statusColumns.add(i));
  return { columns, rows, statusColumns };
}

/** Append the session key to a page or thumbnail URL. */
export function withKey(url, key) {
  if (!url) return "";
  if (!key) return url;
  return `${url}${url.includes("?") ? "&" : "?"}k=${encodeURIComponent(key)}`;
}

// The refusals said in our own words (documents.uploadErrors.<code> in the catalogues).
const UPLOAD_ERRORS = new Set(["unsupported_type", "too_large", "too_many_pages", "page_too_large", "broken_file",
  "render_timeout", "forbidden", "invalid_token", "bad_request", "network"]);

/** Words for a refused upload (the server's code), falling back to its message. */
export function uploadErrorText(code, message) {
  if (UPLOAD_ERRORS.has(code)) return t(`documents.uploadErrors.${code}`);
  return message || t("documents.uploadFailed");
}

/** The largest w x h box of the page's aspect that fits in the container. */
export function fitBox(containerW, containerH, pageW, pageH) {
  if (!(containerW > 0 && containerH > 0 && pageW > 0 && pageH > 0)) return { width: 0, height: 0 };
  const scale = Math.min(containerW / pageW, containerH / pageH);
  return { width: Math.floor(pageW * scale), height: Math.floor(pageH * scale) };
}

/** page + delta, kept inside 0..count-1. */
export function clampPage(page, delta, count) {
  const p = (Number.isInteger(page) ? page : 0) + delta;
  return Math.max(0, Math.min(Math.max(0, count - 1), p));
}

/** What a stage (or browse target) points at, as a comparable key. */
export function targetKey(t) {
  if (!t) return "empty";
  switch (t.kind) {
    case "panel":
      return `panel:${t.panel_id}`;
    case "document":
      return `document:${t.document_id}:${t.page ?? 0}`;
    case "participant":
      return `participant:${t.participant_id}:${t.source || "camera"}`;
    default:
      return "empty";
  }
}

/**
 * What this client shows: the stage, unless it browses privately and following is not locked.
 * Returns {target, following}.
 */
export function viewTarget(stage, browse) {
  if (!browse || !stage || stage.locked_follow) return { target: stage || { kind: "empty" }, following: true };
  return { target: browse, following: false };
}

/** Coordinates 0..1 of a point in a rectangle, or null when outside. */
export function relativePoint(clientX, clientY, rect) {
  if (!rect || rect.width <= 0 || rect.height <= 0) return null;
  const x = (clientX - rect.left) / rect.width;
  const y = (clientY - rect.top) / rect.height;
  if (x < 0 || x > 1 || y < 0 || y > 1) return null;
  return { x: Math.round(x * 10000) / 10000, y: Math.round(y * 10000) / 10000 };
}

/**
 * Throttle: fn runs at most once per `ms`; the last call in a burst is delivered at the end of the
 * window (so the final pointer position always arrives). `now` and `schedule` are injectable.
 */
export function throttle(fn, ms, { now = () => Date.now(), schedule = setTimeout, cancel = clearTimeout } = {}) {
  let last = -Infinity;
  let timer = null;
  let pending = null;
  const fire = () => {
    timer = null;
    last = now();
    const args = pending;
    pending = null;
    fn(...args);
  };
  const call = (...args) => {
    pending = args;
    const wait = last + ms - now();
    if (wait <= 0 && timer === null) fire();
    else if (timer === null) timer = schedule(fire, Math.max(0, wait));
  };
  call.cancel = () => {
    if (timer !== null) cancel(timer);
    timer = null;
    pending = null;
  };
  return call;
}

// ---- the panel editor ----------------------------------------------------------------------------

/** The city a simulated source without `city` plays (every panel stored before cities existed). */
export const DEFAULT_CITY = "seoul";

/** A city's display name from the server's list ([{id, name, time_zone}]), else its id made readable. */
export function cityName(id, cities = []) {
  const known = Array.isArray(cities) ? cities.find((c) => c && c.id === id) : null;
  if (known?.name) return String(known.name);
  return String(id || DEFAULT_CITY)
    .split(/[_\s]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(" ");
}

/**
 * The choices of the editor's city menu: [{id, name}] from the server's list, plus `current` (a
 * panel's city the list does not have, so editing never silently moves a panel).
 */
export function cityChoices(cities = [], current = "") {
  const list = (Array.isArray(cities) ? cities : [])
    .filter((c) => c && typeof c.id === "string" && c.id)
    .map((c) => ({ id: c.id, name: cityName(c.id, cities) }));
  if (current && !list.some((c) => c.id === current)) list.push({ id: current, name: cityName(current) });
  return list;
}

/**
 * Form values for a panel (or the defaults of a new one). With a list of `cities`, the city is
 * the panel's own when it is simulated (no city means Seoul), else `defaultCity` if it is in the
 * list, else the list's first; without a list it is "" (nothing to choose: the payload keeps the
 * panel's city).
 */
export function panelFormValues(panel, { cities = [], defaultCity = null } = {}) {
  const source = panel?.source || { type: "simulated", feed: "air_quality" };
  const options = panel?.options || {};
  const ids = (Array.isArray(cities) ? cities : []).map((c) => c?.id).filter(Boolean);
  let city = "";
  if (ids.length) {
    if (panel && source.type !== "http") city = source.city || DEFAULT_CITY;
    else city = defaultCity && ids.includes(defaultCity) ? defaultCity : ids[0];
  }
  return {
    title: panel?.title || "",
    kind: panel?.kind || "timeseries",
    sourceType: source.type === "http" ? "http" : "simulated",
    feed: FEEDS.includes(source.feed) ? source.feed : "air_quality",
    city,
    pollutant: POLLUTANTS.includes(options.pollutant) ? options.pollutant : "pm25",
    maxRows: Number.isInteger(options.max_rows) ? String(options.max_rows) : "",
    url: source.type === "http" ? source.url || "" : "",
    format: source.format === "csv" ? "csv" : "json",
    path: source.path || "",
    interval: source.interval_s !== undefined && source.interval_s !== null ? String(source.interval_s) : "",
  };
}

/**
 * The panel_create / panel_update payload of the editor's values: {payload} or {error, field}.
 * `existing` keeps options this form does not edit (e.g. districts). A simulated source carries
 * `city` (values.city, checked against `cities` when a list is given; without one, the existing
 * panel's city is kept). District and road choices belong to one city: they go when it changes.
 */
export function panelPayload(values, existing = null, { cities = [] } = {}) {
  const title = String(values.title || "").trim().replace(/\s+/g, " ");
  if (!title) return { error: t("panels.editor.errors.title"), field: "title" };
  if (title.length > 80) return { error: t("panels.editor.errors.titleLong"), field: "title" };
  if (!PANEL_KINDS.includes(values.kind)) return { error: t("panels.editor.errors.kind"), field: "kind" };
  let interval;
  const intervalText = String(values.interval ?? "").trim();
  if (intervalText) {
    interval = Number(intervalText);
    if (!Number.isFinite(interval) || interval < 1 || interval > 3600) {
      return { error: t("panels.editor.errors.interval"), field: "interval" };
    }
  }
  const options = { ...(existing?.options || {}) };
  const result = values.sourceType === "http"
    ? httpSource(values, interval, options)
    : simulatedSource(values, interval, options, existing, cities);
  if (result.error) return result;
  const payload = { title, kind: values.kind, source: result.source, options };
  if (existing?.id) payload.id = existing.id;
  return { payload };
}

/** panelPayload's HTTP source: {source} or {error, field}; drops the simulated feed's options. */
function httpSource(values, interval, options) {
  const url = String(values.url || "").trim();
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || !["http:", "https:"].includes(parsed.protocol)) {
    return { error: t("panels.editor.errors.url"), field: "url" };
  }
  const format = values.format === "csv" ? "csv" : "json";
  const source = { type: "http", url, format, interval_s: interval ?? 30 };
  const path = String(values.path || "").trim();
  if (path) {
    if (format !== "json") return { error: t("panels.editor.errors.pathJsonOnly"), field: "path" };
    if (path.split(".").some((s) => !s)) return { error: t("panels.editor.errors.path"), field: "path" };
    source.path = path;
  }
  delete options.pollutant;
  delete options.max_rows;
  return { source };
}

/**
 * panelPayload's simulated source: {source} or {error, field}; sets its feed's options (pollutant,
 * max rows) and drops district and road choices when the feed or the city changes.
 */
function simulatedSource(values, interval, options, existing, cities) {
  if (!FEEDS.includes(values.feed)) return { error: t("panels.editor.errors.feed"), field: "feed" };
  const source = { type: "simulated", feed: values.feed };
  const wasSimulated = existing?.source && existing.source.type !== "http";
  const oldCity = wasSimulated ? existing.source.city || DEFAULT_CITY : null;
  const ids = (Array.isArray(cities) ? cities : []).map((c) => c?.id).filter(Boolean);
  const city = String(values.city || "").trim();
  if (city) {
    if (ids.length && !ids.includes(city) && city !== oldCity) return { error: t("panels.editor.errors.city"), field: "city" };
    source.city = city;
  } else if (ids.length) {
    return { error: t("panels.editor.errors.city"), field: "city" };
  } else if (wasSimulated && existing.source.city) {
    source.city = existing.source.city;
  }
  if (interval !== undefined) source.interval_s = interval;
  if (values.feed === "air_quality") options.pollutant = POLLUTANTS.includes(values.pollutant) ? values.pollutant : "pm25";
  else delete options.pollutant;
  const maxRowsText = String(values.maxRows ?? "").trim();
  if (values.feed === "incidents" && maxRowsText) {
    const n = Number(maxRowsText);
    if (!Number.isInteger(n) || n < 1 || n > 200) return { error: t("panels.editor.errors.maxRows"), field: "maxRows" };
    options.max_rows = n;
  } else {
    delete options.max_rows;
  }
  const cityChanged = Boolean(oldCity) && (source.city || DEFAULT_CITY) !== oldCity;
  if (values.feed !== "air_quality" || cityChanged) delete options.districts;
  if (values.feed !== "traffic" || cityChanged) delete options.roads;
  return { source };
}

/**
 * One line saying where a panel's data comes from: "Simulated air quality · Lisbon · PM10", or
 * "data.city.gov (CSV)". `cities` (the server's list) gives the city's name.
 */
export function describeSource(panel, cities = []) {
  const s = panel?.source || {};
  if (s.type === "http") {
    let host = s.url || "";
    try {
      host = new URL(s.url).host;
    } catch {
      /* keep the raw text */
    }
    return `${host} (${(s.format || "json").toUpperCase()})`;
  }
  let simulated;
  if (FEEDS.includes(s.feed)) simulated = t(`panels.simulated.${s.feed}`);
  else simulated = s.feed ? t("panels.simulated.other", { feed: s.feed }) : t("panels.simulated.unknown");
  const parts = [simulated, cityName(s.city || DEFAULT_CITY, cities)];
  if (s.feed === "air_quality" && panel?.options?.pollutant) {
    parts.push(POLLUTANT_LABELS[panel.options.pollutant] || panel.options.pollutant);
  }
  return parts.join(" · ");
}

// ---- presenters changing the stage at once -------------------------------------------------------

/**
 * The `expected_version` to send with a stage change the user made while the stage was at version
 * `base`: moved past the versions this client's own earlier changes made meanwhile (`own`, a Set),
 * so quick page turns sent one after another do not conflict with each other, but never past a
 * version someone else made: then the server refuses with `conflict`, as it should.
 */
export function expectedVersion(base, current, own) {
  let version = Number.isInteger(base) && base >= 0 ? base : 0;
  while (version < current && own && own.has(version + 1)) version += 1;
  return version;
}
