// Unit tests of which lines a chart shows at first (src/chart_series.js): `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  COMPACT_CHART_WIDTH,
  COMPACT_MAX_SERIES,
  initialVisibleSeries,
  isCompactWidth,
  latestValue,
  seriesVisibility,
  shownSummary,
} from "../src/chart_series.js";

// Eight districts, as the simulated air-quality feed sends them (latest value last).
const DISTRICTS = [
  { name: "Jongno", values: [20, 22, 23] },
  { name: "Jung", values: [30, 31, 35] },
  { name: "Yongsan", values: [18, 19, 17] },
  { name: "Mapo", values: [40, 41, null] }, // the latest point is missing: 41 counts
  { name: "Seongdong", values: [22, 22, 22] },
  { name: "Yeongdeungpo", values: [50, 52, 55] },
  { name: "Gangnam", values: [25, 26, 27] },
  { name: "Songpa", values: [10, 11, 12] },
];

test("the latest value is the last number", () => {
  assert.equal(latestValue([1, 2, 3]), 3);
  assert.equal(latestValue([1, 2, null, undefined]), 2);
  assert.equal(latestValue([Number.NaN, 4, Number.POSITIVE_INFINITY]), 4);
  assert.equal(latestValue([null, null]), null);
  assert.equal(latestValue([]), null);
  assert.equal(latestValue(undefined), null);
});

test("a chart narrower than 480 px is compact; 0 (not laid out yet) is not", () => {
  assert.equal(COMPACT_CHART_WIDTH, 480);
  assert.equal(isCompactWidth(358), true);
  assert.equal(isCompactWidth(479), true);
  assert.equal(isCompactWidth(480), false);
  assert.equal(isCompactWidth(1200), false);
  assert.equal(isCompactWidth(0), false);
});

test("a wide chart shows every line", () => {
  assert.deepEqual(initialVisibleSeries(DISTRICTS, { compact: false }), DISTRICTS.map((s) => s.name));
  assert.deepEqual(initialVisibleSeries(DISTRICTS), DISTRICTS.map((s) => s.name));
});

test("a narrow chart shows the four highest latest values, in the data's order", () => {
  assert.equal(COMPACT_MAX_SERIES, 4);
  // Latest: Yeongdeungpo 55, Mapo 41, Jung 35, Gangnam 27 (then Jongno 23, Seongdong 22...).
  assert.deepEqual(initialVisibleSeries(DISTRICTS, { compact: true }), ["Jung", "Mapo", "Yeongdeungpo", "Gangnam"]);
  assert.deepEqual(initialVisibleSeries(DISTRICTS, { compact: true, max: 2 }), ["Mapo", "Yeongdeungpo"]);
});

test("speeds rank lowest first: the slowest roads", () => {
  const roads = [
    { name: "Olympic-daero", values: [70, 72] },
    { name: "Teheran-ro", values: [18, 15] },
    { name: "Gangnam-daero", values: [20, 19] },
    { name: "Sejong-daero", values: [30, 31] },
    { name: "Mapo-daero", values: [12, 14] },
    { name: "Songpa-daero", values: [40, 41] },
  ];
  assert.deepEqual(initialVisibleSeries(roads, { compact: true, rank: "lowest" }), ["Teheran-ro", "Gangnam-daero", "Sejong-daero", "Mapo-daero"]);
});

test("few lines, ties and empty series", () => {
  const three = DISTRICTS.slice(0, 3);
  assert.deepEqual(initialVisibleSeries(three, { compact: true }), ["Jongno", "Jung", "Yongsan"], "four or fewer: all");
  const ties = ["a", "b", "c", "d", "e", "f"].map((name) => ({ name, values: [5] }));
  assert.deepEqual(initialVisibleSeries(ties, { compact: true }), ["a", "b", "c", "d"], "ties keep the data's order");
  const gaps = [
    { name: "empty", values: [null, null] },
    { name: "low", values: [1] },
    { name: "none", values: [] },
    { name: "mid", values: [2] },
    { name: "high", values: [3] },
    { name: "low2", values: [1] },
  ];
  assert.deepEqual(initialVisibleSeries(gaps, { compact: true }), ["low", "mid", "high", "low2"], "no value ranks last");
  assert.deepEqual(initialVisibleSeries(gaps, { compact: true, rank: "lowest" }), ["low", "mid", "high", "low2"]);
  assert.deepEqual(initialVisibleSeries(null, { compact: true }), []);
});

test("the user's choices override the first choice", () => {
  const names = DISTRICTS.map((s) => s.name);
  const initial = initialVisibleSeries(DISTRICTS, { compact: true });
  let visibility = seriesVisibility(names, initial);
  assert.deepEqual([...visibility.keys()], names, "in the data's order");
  assert.deepEqual(names.filter((n) => visibility.get(n)), ["Jung", "Mapo", "Yeongdeungpo", "Gangnam"]);
  assert.equal(shownSummary(visibility), "4 of 8 shown");
  const choices = new Map([["Songpa", true], ["Jung", false]]);
  visibility = seriesVisibility(names, new Set(initial), choices);
  assert.deepEqual(names.filter((n) => visibility.get(n)), ["Mapo", "Yeongdeungpo", "Gangnam", "Songpa"]);
  // Everything on: nothing to say.
  assert.equal(shownSummary(seriesVisibility(names, names)), "");
});
