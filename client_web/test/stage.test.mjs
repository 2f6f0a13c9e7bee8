// Unit tests of the stage's pure functions (src/stage_model.js): `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatClock,
  formatShortTime,
  formatCell,
  trendArrow,
  statusTone,
  isStatusColumn,
  timeseriesModel,
  kpiModel,
  tableModel,
  withKey,
  uploadErrorText,
  fitBox,
  clampPage,
  targetKey,
  viewTarget,
  relativePoint,
  throttle,
  panelFormValues,
  panelPayload,
  describeSource,
  cityName,
  cityChoices,
  expectedVersion,
} from "../src/stage_model.js";

const CITIES = [
  { id: "seoul", name: "Seoul", time_zone: "Asia/Seoul" },
  { id: "lisbon", name: "Lisbon", time_zone: "Europe/Lisbon" },
  { id: "lagos", name: "Lagos", time_zone: "Africa/Lagos" },
  { id: "bogota", name: "Bogotá", time_zone: "America/Bogota" },
  { id: "los_angeles", name: "Los Angeles", time_zone: "America/Los_Angeles" },
];

test("clock times are 24-hour hh:mm:ss in the given zone; bad input gives an empty string", () => {
  assert.equal(formatClock("2026-11-23T09:30:05Z", "UTC"), "09:30:05");
  assert.equal(formatClock("2026-11-23T23:59:59Z", "Asia/Seoul"), "08:59:59");
  assert.equal(formatClock("2026-11-23T09:30:05+00:00", "UTC"), "09:30:05");
  assert.equal(formatShortTime("2026-11-23T13:07:00Z", "UTC"), "13:07");
  assert.equal(formatClock(null), "");
  assert.equal(formatClock("not a time"), "");
});

test("trend arrows and status tones", () => {
  assert.deepEqual(trendArrow("up"), { symbol: "↑", label: "rising" });
  assert.equal(trendArrow("down").symbol, "↓");
  assert.equal(trendArrow("flat").symbol, "→");
  assert.equal(trendArrow(undefined).symbol, "→");
  assert.equal(statusTone("open"), "bad");
  assert.equal(statusTone("dispatched"), "moderate");
  assert.equal(statusTone("Resolved"), "good");
  assert.equal(statusTone("moderate"), "moderate");
  assert.equal(statusTone("Gangnam"), null);
  assert.equal(statusTone(3), null);
  assert.ok(isStatusColumn("Status"));
  assert.ok(isStatusColumn("severity"));
  assert.ok(!isStatusColumn("District"));
});

test("cells: null is a dash, times are shortened, numbers keep at most two decimals", () => {
  assert.equal(formatCell(null), "—");
  assert.equal(formatCell(""), "—");
  assert.equal(formatCell(12), "12");
  assert.equal(formatCell(12.345), "12.35");
  assert.equal(formatCell(true), "Yes");
  assert.equal(formatCell("2026-11-23T09:30:00Z", "UTC"), "09:30");
  assert.equal(formatCell("<b>x</b>"), "<b>x</b>"); // text, rendered with textContent
});

test("timeseries model: labels from t, one line per series, bad shapes refused", () => {
  const model = timeseriesModel(
    { t: ["2026-11-23T09:30:00Z", "2026-11-23T09:30:05Z"], series: { Jongno: [1, null], Jung: [2, 3] }, unit: "µg/m³" },
    "UTC",
  );
  assert.deepEqual(model.labels, ["09:30:00", "09:30:05"]);
  assert.deepEqual(model.series, [
    { name: "Jongno", values: [1, null] },
    { name: "Jung", values: [2, 3] },
  ]);
  assert.equal(model.unit, "µg/m³");
  assert.equal(timeseriesModel({ tiles: [] }), null);
  assert.equal(timeseriesModel(null), null);
  assert.deepEqual(timeseriesModel({ t: ["a"], series: { x: ["1"] } }).series[0].values, [null]);
});

test("kpi and table models", () => {
  const tiles = kpiModel({ tiles: [{ label: "PM2.5", value: 21.5, unit: "µg/m³", trend: "up", status: "moderate" }, { label: "x", value: 1, trend: "sideways" }] });
  assert.equal(tiles.length, 2);
  assert.equal(tiles[1].trend, "flat");
  assert.equal(tiles[1].status, null);
  assert.equal(kpiModel({ t: [] }), null);
  const table = tableModel({ columns: ["ID", "Type", "Status"], rows: [["INC-1", "fire", "open"], "junk"] });
  assert.deepEqual([...table.statusColumns], [2]);
  assert.equal(table.rows.length, 1);
  assert.equal(tableModel({ columns: [] }), null);
});

test("page URLs get the session key", () => {
  assert.equal(withKey("/api/rooms/r/documents/d/pages/0", "a b"), "/api/rooms/r/documents/d/pages/0?k=a%20b");
  assert.equal(withKey("/x?y=1", "k1"), "/x?y=1&k=k1");
  assert.equal(withKey("/x", ""), "/x");
});

test("upload errors are explained in words", () => {
  assert.match(uploadErrorText("unsupported_type"), /not a PDF or image/);
  assert.match(uploadErrorText("too_large"), /50 MB/);
  assert.equal(uploadErrorText("weird", "server says no"), "server says no");
  assert.equal(uploadErrorText("weird"), "The upload failed.");
});

test("a page fits its box keeping its aspect", () => {
  assert.deepEqual(fitBox(800, 600, 1000, 1000), { width: 600, height: 600 });
  assert.deepEqual(fitBox(800, 600, 1600, 900), { width: 800, height: 450 });
  assert.deepEqual(fitBox(0, 600, 1600, 900), { width: 0, height: 0 });
});

test("page turning stays inside the document", () => {
  assert.equal(clampPage(0, -1, 3), 0);
  assert.equal(clampPage(1, 1, 3), 2);
  assert.equal(clampPage(2, 1, 3), 2);
  assert.equal(clampPage(null, 1, 3), 1);
});

test("follow or browse: browsing shows the private target unless following is locked", () => {
  const stage = { kind: "panel", panel_id: "p1", locked_follow: false };
  const browse = { kind: "document", document_id: "d1", page: 2 };
  assert.deepEqual(viewTarget(stage, null), { target: stage, following: true });
  assert.deepEqual(viewTarget(stage, browse), { target: browse, following: false });
  assert.deepEqual(viewTarget({ ...stage, locked_follow: true }, browse).following, true);
  assert.equal(targetKey(stage), "panel:p1");
  assert.equal(targetKey(browse), "document:d1:2");
  assert.equal(targetKey({ kind: "participant", participant_id: "p", source: "screen" }), "participant:p:screen");
  assert.equal(targetKey(null), "empty");
});

test("pointer coordinates are relative to the page, null outside it", () => {
  const rect = { left: 100, top: 50, width: 200, height: 100 };
  assert.deepEqual(relativePoint(200, 100, rect), { x: 0.5, y: 0.5 });
  assert.deepEqual(relativePoint(100, 50, rect), { x: 0, y: 0 });
  assert.equal(relativePoint(99, 100, rect), null);
  assert.equal(relativePoint(200, 100, { left: 0, top: 0, width: 0, height: 0 }), null);
});

test("throttle: at most one call per window, and the last call of a burst is delivered", () => {
  let now = 0;
  const timers = [];
  const calls = [];
  const fn = throttle((x) => calls.push([now, x]), 66, {
    now: () => now,
    schedule: (f, ms) => timers.push({ f, at: now + ms }) && timers.length,
    cancel: () => {},
  });
  fn(1); // immediate
  now = 10;
  fn(2);
  now = 20;
  fn(3); // replaces 2, delivered at 66
  assert.deepEqual(calls, [[0, 1]]);
  assert.equal(timers.length, 1);
  now = timers[0].at;
  timers[0].f();
  assert.deepEqual(calls, [[0, 1], [66, 3]]);
  now = 200;
  fn(4);
  assert.deepEqual(calls.at(-1), [200, 4]);
});

test("panel editor: a simulated air-quality chart", () => {
  const values = { ...panelFormValues(null), title: "  Air   quality ", feed: "air_quality", pollutant: "no2" };
  const { payload, error } = panelPayload(values);
  assert.equal(error, undefined);
  assert.deepEqual(payload, {
    title: "Air quality",
    kind: "timeseries",
    source: { type: "simulated", feed: "air_quality" },
    options: { pollutant: "no2" },
  });
});

test("panel editor: HTTP source, interval and path; bad input names the field", () => {
  const base = { ...panelFormValues(null), title: "Buses", kind: "table", sourceType: "http" };
  assert.equal(panelPayload({ ...base, url: "ftp://x" }).field, "url");
  assert.equal(panelPayload({ ...base, url: "https://data.city/x", interval: "0" }).field, "interval");
  assert.equal(panelPayload({ ...base, title: " " }).field, "title");
  assert.equal(panelPayload({ ...base, url: "https://d/x", format: "csv", path: "a.b" }).field, "path");
  const { payload } = panelPayload({ ...base, url: "https://data.city/x.json", interval: "10", path: "data.items" });
  assert.deepEqual(payload.source, { type: "http", url: "https://data.city/x.json", format: "json", interval_s: 10, path: "data.items" });
  assert.deepEqual(payload.options, {});
});

test("panel editor: editing keeps the id and unrelated options, round-trips the form", () => {
  const panel = {
    id: "p1",
    title: "Incidents",
    kind: "table",
    source: { type: "simulated", feed: "incidents", interval_s: 5 },
    options: { max_rows: 12 },
  };
  const values = panelFormValues(panel);
  assert.equal(values.maxRows, "12");
  assert.equal(values.interval, "5");
  const { payload } = panelPayload(values, panel);
  assert.deepEqual(payload, { id: "p1", title: "Incidents", kind: "table", source: { type: "simulated", feed: "incidents", interval_s: 5 }, options: { max_rows: 12 } });
  assert.equal(panelPayload({ ...values, maxRows: "500" }, panel).field, "maxRows");
  const air = panelPayload({ ...values, feed: "air_quality" }, { ...panel, options: { max_rows: 12, districts: ["Mapo"] } }).payload;
  assert.deepEqual(air.options, { pollutant: "pm25", districts: ["Mapo"] });
});

test("source descriptions name the city", () => {
  const lisbon = { source: { type: "simulated", feed: "air_quality", city: "lisbon" }, options: { pollutant: "pm10" } };
  assert.equal(describeSource(lisbon, CITIES), "Simulated air quality · Lisbon · PM10");
  assert.equal(describeSource({ source: { type: "simulated", feed: "traffic", city: "bogota" } }, CITIES), "Simulated traffic · Bogotá");
  // Without the list the id is made readable; a source without city is Seoul's.
  assert.equal(describeSource({ source: { type: "simulated", feed: "incidents", city: "los_angeles" } }), "Simulated incidents · Los Angeles");
  assert.equal(describeSource({ source: { type: "simulated", feed: "air_quality" }, options: { pollutant: "pm10" } }), "Simulated air quality · Seoul · PM10");
  assert.equal(describeSource({ source: { type: "http", url: "https://data.seoul.go.kr/a", format: "csv" } }), "data.seoul.go.kr (CSV)");
});

test("city names and the editor's city choices", () => {
  assert.equal(cityName("bogota", CITIES), "Bogotá");
  assert.equal(cityName("los_angeles"), "Los Angeles");
  assert.equal(cityName(undefined), "Seoul");
  assert.deepEqual(cityChoices(CITIES).map((c) => c.id), ["seoul", "lisbon", "lagos", "bogota", "los_angeles"]);
  // A panel's city the list does not have stays choosable, so editing never moves the panel.
  assert.deepEqual(cityChoices(CITIES.slice(0, 2), "lagos").at(-1), { id: "lagos", name: "Lagos" });
  assert.deepEqual(cityChoices(null), []);
});

test("panel editor: which city is chosen at first", () => {
  const opts = { cities: CITIES, defaultCity: "lagos" };
  assert.equal(panelFormValues(null, opts).city, "lagos", "a new panel: the room's city");
  assert.equal(panelFormValues(null, { cities: CITIES, defaultCity: "atlantis" }).city, "seoul", "else the first");
  assert.equal(panelFormValues(null, { cities: CITIES }).city, "seoul");
  assert.equal(panelFormValues(null).city, "", "no list, no choice");
  const lisbon = { id: "p", title: "AQ", kind: "kpi", source: { type: "simulated", feed: "air_quality", city: "lisbon" } };
  assert.equal(panelFormValues(lisbon, opts).city, "lisbon", "editing: the panel's own city");
  const old = { id: "p", title: "AQ", kind: "kpi", source: { type: "simulated", feed: "traffic" } };
  assert.equal(panelFormValues(old, opts).city, "seoul", "stored before cities: Seoul");
  const web = { id: "p", title: "Web", kind: "kpi", source: { type: "http", url: "https://x/y", format: "json" } };
  assert.equal(panelFormValues(web, opts).city, "lagos", "an HTTP panel turned simulated: the room's city");
});

test("panel editor: the payload carries the city, checked against the list", () => {
  const values = { ...panelFormValues(null, { cities: CITIES, defaultCity: "bogota" }), title: "PM2.5, Bogotá", feed: "air_quality" };
  assert.deepEqual(panelPayload(values, null, { cities: CITIES }).payload, {
    title: "PM2.5, Bogotá",
    kind: "timeseries",
    source: { type: "simulated", feed: "air_quality", city: "bogota" },
    options: { pollutant: "pm25" },
  });
  assert.equal(panelPayload({ ...values, city: "gotham" }, null, { cities: CITIES }).field, "city");
  assert.equal(panelPayload({ ...values, city: "" }, null, { cities: CITIES }).field, "city");
  // Without a list (a caller that has none yet): no city for a new panel, the old one kept on edit.
  assert.equal(panelPayload({ ...values, city: "" }).payload.source.city, undefined);
  const panel = { id: "p9", title: "Roads", kind: "table", source: { type: "simulated", feed: "traffic", city: "lagos" }, options: { roads: ["Awolowo Road"] } };
  assert.equal(panelFormValues(panel).city, "");
  assert.equal(panelPayload(panelFormValues(panel), panel).payload.source.city, "lagos");
  // A city the list no longer has is kept when the panel already had it.
  const twoCities = { cities: CITIES.slice(0, 2) };
  assert.equal(panelFormValues(panel, twoCities).city, "lagos");
  assert.equal(panelPayload(panelFormValues(panel, twoCities), panel, twoCities).payload.source.city, "lagos");
  // Same city: road choices stay; another city: they go (they name the old city's roads).
  assert.deepEqual(panelPayload(panelFormValues(panel, { cities: CITIES }), panel, { cities: CITIES }).payload.options, { roads: ["Awolowo Road"] });
  const moved = panelPayload({ ...panelFormValues(panel, { cities: CITIES }), city: "lisbon" }, panel, { cities: CITIES }).payload;
  assert.deepEqual(moved.source, { type: "simulated", feed: "traffic", city: "lisbon" });
  assert.deepEqual(moved.options, {});
  // HTTP sources have no city.
  const web = panelPayload({ ...values, sourceType: "http", url: "https://data.city/x.json" }, null, { cities: CITIES }).payload;
  assert.equal(web.source.city, undefined);
});

test("expected_version: past this client's own changes in flight, never past someone else's", () => {
  // Nothing happened since the user acted.
  assert.equal(expectedVersion(4, 4, new Set()), 4);
  // Two quick page turns: the second was based on 4, the first (ours) made 5.
  assert.equal(expectedVersion(4, 5, new Set([5])), 5);
  assert.equal(expectedVersion(4, 7, new Set([5, 6, 7])), 7);
  // Someone else made 5: the change keeps 4 and the server refuses it (conflict).
  assert.equal(expectedVersion(4, 5, new Set()), 4);
  // Ours made 5, someone else 6: stop at 5, so the server sees the conflict.
  assert.equal(expectedVersion(4, 7, new Set([5, 7])), 5);
  // Bad input falls back to 0 rather than sending garbage.
  assert.equal(expectedVersion(undefined, 0, null), 0);
  assert.equal(expectedVersion(-3, 2, new Set([1, 2])), 2);
});
