// Line charts of timeseries panels (chart.js), updated in place without animation or flicker.
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
import { timeseriesModel } from "./stage_model.js";

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

/** A line chart on `canvas` (its parent gives the size). */
export function createLineChart(canvas, { compact = false } = {}) {
  return new Chart(canvas, {
    type: "line",
    data: { labels: [], datasets: [] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      normalized: true,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: {
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
}

/**
 * Put timeseries PanelData into the chart, reusing its datasets (matched by series name) so the
 * lines update in place. Returns false if the data is not a timeseries.
 */
export function updateLineChart(chart, data) {
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
  const title = chart.options.scales.y.title;
  title.text = model.unit;
  title.display = Boolean(model.unit);
  chart.update("none");
  return true;
}

/** The chart's current labels and data (for tests and debugging). */
export function chartSnapshot(chart) {
  return {
    labels: [...chart.data.labels],
    unit: chart.options.scales.y.title.text,
    datasets: chart.data.datasets.map((d) => ({ label: d.label, data: [...d.data] })),
  };
}

export function setCompact(chart, compact) {
  const size = compact ? 10 : 12;
  chart.options.plugins.legend.labels.font = { size };
  chart.options.plugins.legend.labels.padding = compact ? 6 : 10;
  chart.options.scales.x.ticks.font = { size };
  chart.options.scales.y.ticks.font = { size };
}
