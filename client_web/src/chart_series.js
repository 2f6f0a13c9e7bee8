// Which lines a time-series chart shows (pure: no DOM, no chart.js). Unit-tested in
// test/chart_series.test.mjs.
//
// The rule: a chart at least COMPACT_CHART_WIDTH px wide shows every series. A narrower one (a
// phone) shows at first at most COMPACT_MAX_SERIES: those whose latest value ranks first, highest
// first by default (the worst air, the most incidents), lowest first for speeds (the slowest roads);
// a series with no value at all ranks last, ties keep the data's order. The others stay in the
// legend, switched off, and the user's own choices (legend buttons) override the rule from then on.
// The first choice is made once per set of series, width class and ranking, not on every update,
// so lines do not come and go as the values move.

import { t } from "./i18n.js";

export const COMPACT_CHART_WIDTH = 480;
export const COMPACT_MAX_SERIES = 4;

/** The latest number of a series (its last finite value), or null. */
export function latestValue(values) {
  if (!Array.isArray(values)) return null;
  for (let i = values.length - 1; i >= 0; i -= 1) {
    const v = values[i];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return null;
}

/** True when a chart of this width (CSS px) is too narrow for every line: 0 means not laid out yet. */
export function isCompactWidth(width) {
  return width > 0 && width < COMPACT_CHART_WIDTH;
}

/**
 * Names of the series shown at first, in the series' own order. series: [{name, values}].
 * rank: "highest" (default) or "lowest" latest value first.
 */
export function initialVisibleSeries(series, { compact = false, max = COMPACT_MAX_SERIES, rank = "highest" } = {}) {
  const list = Array.isArray(series) ? series.filter((s) => s && typeof s.name === "string") : [];
  if (!compact || list.length <= max) return list.map((s) => s.name);
  const sign = rank === "lowest" ? 1 : -1;
  const ranked = list
    .map((s, index) => ({ name: s.name, index, latest: latestValue(s.values) }))
    .sort((a, b) => {
      if (a.latest === null || b.latest === null) {
        return (a.latest === null) - (b.latest === null) || a.index - b.index;
      }
      return sign * (a.latest - b.latest) || a.index - b.index;
    });
  const chosen = new Set(ranked.slice(0, Math.max(0, max)).map((s) => s.name));
  return list.filter((s) => chosen.has(s.name)).map((s) => s.name);
}

/**
 * Whether each series is shown: the user's choice (choices: Map name -> bool) where there is one,
 * else membership of `initial` (the names initialVisibleSeries gave). Returns a Map in series order.
 */
export function seriesVisibility(names, initial, choices = new Map()) {
  const first = initial instanceof Set ? initial : new Set(initial || []);
  const out = new Map();
  for (const name of names) out.set(name, choices.has(name) ? Boolean(choices.get(name)) : first.has(name));
  return out;
}

/** "4 of 8 shown" under a chart that hides some of its lines, else "". */
export function shownSummary(visibility) {
  const total = visibility.size;
  let shown = 0;
  for (const on of visibility.values()) if (on) shown += 1;
  return shown < total ? t("panels.legend.shown", { shown, count: total }) : "";
}
