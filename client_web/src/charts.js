// Line charts of timeseries panels (chart.js), updated in place without animation or flicker, with
// an HTML legend whose buttons show and hide the lines (see chart_series.js for which lines a narrow
// chart shows at first).
import {
  Chart,
  LineController,
  LineElement,
  PointElement,
  LinearScale,
  CategoryScale,
  Legend,
  Tooltip,
  Filler,
} from "chart.js";
import { h } from "./dom.js";
import { t, language } from "./i18n.js";
import { timeseriesModel } from "./stage_model.js";
import { initialVisibleSeries, isCompactWidth, seriesVisibility, shownSummary } from "./chart_series.js";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip, Filler);

// Distinguishable on the dark stage, and in order of prominence.
export const SERIES_COLOURS = [
  "#5fb3f9",
  "#f2c14e",
  "#5fd08a",
  "#ff8a7a",
  "#c39bf5",
  "#4fd1c5",
  "#f59f4c",
  "#e9edf5",
  "#9ab0d0",
  "#f77fbe",
];

const AXIS = "#aeb9cc";
const GRID = "rgba(255, 255, 255, 0.08)";

function datasetFor(name, values, index) {
  const colour = SERIES_COLOURS[index % SERIES_COLOURS.length];
  return {
    label: name,
    data: values,
    borderColor: colour,
    backgroundColor: colour,
    borderWidth: 2,
    pointRadius: 0,
    pointHoverRadius: 4,
    tension: 0.25,
    spanGaps: true,
  };
}

/**
 * A line chart on `canvas` (its parent gives the size). With `legend` (an element), the chart's
 * legend is a row of toggle buttons there instead of the one drawn on the canvas; `rank` says which
 * lines a narrow chart shows at first ("highest" or "lowest" latest values, chart_series.js).
 */
export function createLineChart(canvas, { compact = false, legend = null, rank = "highest" } = {}) {
  const chart = new Chart(canvas, {
    type: "line",
    data: { labels: [], datasets: [] },
    options: {
      locale: language(), // the axis' numbers and the tooltips' in the page's language
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      normalized: true,
      interaction: { mode: "index", intersect: false },
      // A phone turned sideways (or a resized window) may change how many lines fit.
      onResize: (c, size) => {
        if (c.$sitroom?.legendEl && c.data.datasets.length) applyVisibility(c, size.width);
      },
      plugins: {
        legend: {
          display: !legend,
          position: "bottom",
          labels: { color: "#d4dbe8", boxWidth: 12, boxHeight: 12, padding: compact ? 6 : 10, font: { size: compact ? 10 : 12 } },
        },
        tooltip: { enabled: true },
      },
      scales: {
        x: {
          ticks: { color: AXIS, maxRotation: 0, autoSkip: true, autoSkipPadding: 16, font: { size: compact ? 10 : 12 } },
          grid: { color: GRID },
        },
        y: {
          beginAtZero: false,
          ticks: { color: AXIS, font: { size: compact ? 10 : 12 } },
          grid: { color: GRID },
          title: { display: false, text: "", color: AXIS },
        },
      },
    },
  });
  chart.$sitroom = {
    legendEl: legend,
    rank,
    key: null, // the series names, width class and ranking the first choice was made for
    initial: new Set(),
    choices: new Map(), // name -> shown, what the user chose with the legend
    items: new Map(), // name -> {button, mark}
    note: null,
  };
  if (legend) {
    legend.classList.add("panel-legend");
    legend.setAttribute("role", "group");
    if (!legend.hasAttribute("aria-label")) legend.setAttribute("aria-label", t("panels.legend.label"));
  }
  return chart;
}

/**
 * Put timeseries PanelData into the chart, reusing its datasets (matched by series name) so the
 * lines update in place. `rank` changes which lines a narrow chart shows at first. Returns false if
 * the data is not a timeseries.
 */
export function updateLineChart(chart, data, { rank } = {}) {
  const model = timeseriesModel(data);
  if (!model) return false;
  chart.data.labels = model.labels;
  const compact = chart.width > 0 && chart.width < 520; // a phone: thinner lines, smaller text
  if (compact !== chart.$sitroomCompact) {
    chart.$sitroomCompact = compact;
    setCompact(chart, compact);
  }
  const byName = new Map(chart.data.datasets.map((d) => [d.label, d]));
  chart.data.datasets = model.series.map(({ name, values }, i) => {
    const dataset = byName.get(name) || datasetFor(name, values, i);
    dataset.data = values;
    dataset.borderWidth = compact ? 1.5 : 2;
    return dataset;
  });
  if (chart.$sitroom && rank) chart.$sitroom.rank = rank;
  if (chart.$sitroom?.legendEl) applyVisibility(chart, chart.width);
  const title = chart.options.scales.y.title;
  title.text = model.unit;
  title.display = Boolean(model.unit);
  chart.update("none");
  return true;
}

/** Which lines are shown (chart_series.js): set `hidden` on the datasets and redraw the legend. */
function applyVisibility(chart, width) {
  const state = chart.$sitroom;
  const datasets = chart.data.datasets;
  const names = datasets.map((d) => d.label);
  const compact = isCompactWidth(width);
  const key = JSON.stringify([names, compact, state.rank]);
  if (key !== state.key) {
    state.key = key;
    const series = datasets.map((d) => ({ name: d.label, values: d.data }));
    state.initial = new Set(initialVisibleSeries(series, { compact, rank: state.rank }));
    for (const name of [...state.choices.keys()]) if (!names.includes(name)) state.choices.delete(name);
  }
  const visibility = seriesVisibility(names, state.initial, state.choices);
  for (const d of datasets) d.hidden = !visibility.get(d.label);
  renderLegend(chart, visibility);
}

/** Show or hide one line (a legend button, or a test). */
export function toggleSeries(chart, name, shown) {
  const state = chart.$sitroom;
  const dataset = chart.data.datasets.find((d) => d.label === name);
  if (!state || !dataset) return;
  state.choices.set(name, shown === undefined ? Boolean(dataset.hidden) : Boolean(shown));
  applyVisibility(chart, chart.width);
  chart.update("none");
}

/**
 * The legend: one toggle button per line (aria-pressed: shown), kept across updates so keyboard
 * focus stays where it is, and "n of m shown" when some are off.
 */
function renderLegend(chart, visibility) {
  const state = chart.$sitroom;
  const el = state.legendEl;
  if (!el) return;
  const wanted = [];
  for (const dataset of chart.data.datasets) {
    const name = dataset.label;
    let item = state.items.get(name);
    if (!item) {
      const mark = h("span", { class: "panel-legend-mark", attrs: { "aria-hidden": "true" } });
      const button = h(
        "button",
        { type: "button", class: "stage-button small panel-legend-item", dataset: { series: name } },
        mark,
        h("span", { class: "panel-legend-name", text: name, attrs: { translate: "no" } }),
      );
      button.addEventListener("click", () => toggleSeries(chart, name));
      item = { button, mark };
      state.items.set(name, item);
    }
    const shown = visibility.get(name);
    const colour = dataset.borderColor;
    item.button.setAttribute("aria-pressed", shown ? "true" : "false");
    item.button.title = t(shown ? "panels.legend.hide" : "panels.legend.show", { name });
    item.button.style.setProperty("--series-colour", colour);
    // A filled dot for a shown line, a ring for a hidden one: readable even without the stylesheet.
    item.mark.textContent = shown ? "●" : "○";
    item.mark.style.color = colour;
    wanted.push(item.button);
  }
  for (const [name, item] of state.items) {
    if (!visibility.has(name)) {
      item.button.remove();
      state.items.delete(name);
    }
  }
  // Put the buttons in series order, moving only those out of place: while the lines stay the same
  // nothing moves, so a focused button keeps keyboard focus through every update.
  wanted.forEach((button, i) => {
    if (el.children[i] !== button) el.insertBefore(button, el.children[i] || null);
  });
  const summary = shownSummary(visibility);
  if (!state.note) state.note = h("span", { class: "panel-legend-note", dataset: { testid: "panel-legend-note" } });
  state.note.textContent = summary;
  state.note.hidden = !summary;
  if (state.note.parentNode !== el || el.lastElementChild !== state.note) el.append(state.note);
}

/** The chart's current labels and data, and which lines are shown (for tests and debugging). */
export function chartSnapshot(chart) {
  return {
    labels: [...chart.data.labels],
    unit: chart.options.scales.y.title.text,
    datasets: chart.data.datasets.map((d) => ({ label: d.label, data: [...d.data] })),
    visible: chart.data.datasets.filter((d) => !d.hidden).map((d) => d.label),
  };
}

export function setCompact(chart, compact) {
  const size = compact ? 10 : 12;
  chart.options.plugins.legend.labels.font = { size };
  chart.options.plugins.legend.labels.padding = compact ? 6 : 10;
  chart.options.scales.x.ticks.font = { size };
  chart.options.scales.y.ticks.font = { size };
}
