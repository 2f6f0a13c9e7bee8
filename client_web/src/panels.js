// A live data panel on the stage: a line chart, KPI tiles or a table, updated in place on every
// `panel_data`. All data is written with textContent: nothing from a data source becomes markup.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { createLineChart, updateLineChart, chartSnapshot } from "./charts.js";
import {
  formatCell,
  formatClock,
  kpiModel,
  tableModel,
  trendArrow,
  statusTone,
  describeSource,
  kindLabel,
} from "./stage_model.js";

const STATUSES = ["good", "moderate", "bad"];

/**
 * Which lines a narrow chart of this panel shows first (chart_series.js): the highest latest values
 * (worst air, most incidents), but the lowest for the simulated traffic feed: the slowest roads.
 */
export function chartRank(panel) {
  const s = panel?.source;
  return s && s.type !== "http" && s.feed === "traffic" ? "lowest" : "highest";
}

export class PanelView {
  /** cities: the built-in cities ([{id, name}]) for the source line; without it ids are shown readable. */
  constructor(panel, { cities = [] } = {}) {
    this.cities = cities;
    this.panel = panel;
    this.kind = null;
    this.chart = null;
    this.update = null;
    this.titleEl = h("h2", { class: "panel-view-title", attrs: { translate: "no" } });
    this.sourceEl = h("span", { class: "panel-view-source" });
    this.body = h("div", { class: "panel-data" });
    this.waiting = h("p", { class: "panel-waiting", text: t("panels.waiting") });
    this.updatedEl = h("span", { class: "panel-updated", dataset: { testid: "panel-updated" } });
    this.errorChip = h("span", {
      class: "panel-error-chip",
      hidden: true,
      dataset: { testid: "panel-error" },
      attrs: { role: "status" },
    });
    this.el = h(
      "article",
      { class: "panel-view", dataset: { panelId: panel.id } },
      h("header", { class: "panel-view-head" }, this.titleEl, this.sourceEl),
      this.body,
      h("footer", { class: "panel-view-foot" }, this.updatedEl, this.errorChip),
    );
    this.setPanel(panel);
  }

  setPanel(panel) {
    this.panel = panel;
    this.titleEl.textContent = panel.title;
    this.sourceEl.textContent = `${kindLabel(panel.kind)} · ${describeSource(panel, this.cities)}`;
    this.el.dataset.panelKind = panel.kind;
    this.el.setAttribute("aria-label", t("panels.label", { title: panel.title }));
    this.legend?.setAttribute("aria-label", t("panels.legend.labelOf", { title: panel.title }));
    if (panel.kind !== this.kind) {
      // Data of the old kind does not fit the new one: wait for the source's next update.
      const fresh = this.kind === null;
      this.buildBody(panel.kind);
      if (fresh && this.update) this.setData(this.update);
      else this.update = null;
    }
  }

  buildBody(kind) {
    this.destroyChart();
    this.kind = kind;
    this.legend = null;
    this.body.className = `panel-data panel-data-${kind}`;
    this.kpiTiles = [];
    if (kind === "timeseries") {
      this.canvas = h("canvas", {
        dataset: { testid: "panel-chart" },
        attrs: { role: "img", "aria-label": t("panels.chartLabel", { title: this.panel.title }) },
      });
      this.content = h("div", { class: "panel-chart" }, this.canvas);
      this.legend = h("div", {
        dataset: { testid: "panel-legend" },
        attrs: { "aria-label": t("panels.legend.labelOf", { title: this.panel.title }) },
      });
      this.chart = createLineChart(this.canvas, { legend: this.legend, rank: chartRank(this.panel) });
    } else if (kind === "kpi") {
      this.content = h("div", { class: "panel-kpis", attrs: { role: "list" } });
    } else {
      this.thead = h("thead");
      this.tbody = h("tbody");
      this.table = h("table", { class: "panel-table", attrs: { translate: "no" } }, this.thead, this.tbody);
      this.content = h("div", { class: "panel-table-wrap", attrs: { tabindex: "0" } }, this.table);
    }
    this.body.replaceChildren(...[this.content, this.legend, this.waiting].filter(Boolean));
  }

  /** Show a PanelUpdate {data, error, updated_at, ok_at}; data null keeps what is shown. */
  setData(update) {
    if (!update) return;
    const previous = this.update;
    // A source error arrives with the last good data (or none): keep showing the last good values.
    const data = update.data ?? previous?.data ?? null;
    this.update = { ...update, data };
    let shown = false;
    if (data) {
      if (this.kind === "timeseries") shown = updateLineChart(this.chart, data, { rank: chartRank(this.panel) });
      else if (this.kind === "kpi") shown = this.renderKpi(data);
      else shown = this.renderTable(data);
    }
    this.waiting.hidden = shown;
    if (!shown && data) this.waiting.textContent = t("panels.wrongKind");
    else if (!shown) this.waiting.textContent = t(update.error ? "panels.noData" : "panels.waiting");
    const okAt = update.ok_at || (update.error ? null : update.updated_at);
    this.updatedEl.textContent = okAt ? t("panels.updated", { time: formatClock(okAt) }) : t("panels.notUpdated");
    if (okAt) this.el.dataset.updatedAt = okAt;
    this.errorChip.hidden = !update.error;
    if (update.error) {
      this.errorChip.textContent = t(shown ? "panels.sourceProblemShowing" : "panels.sourceProblem", { error: update.error });
      this.errorChip.title = update.error;
    }
    this.el.classList.toggle("has-error", Boolean(update.error));
  }

  renderKpi(data) {
    const tiles = kpiModel(data);
    if (!tiles) return false;
    const list = this.content;
    while (this.kpiTiles.length > tiles.length) this.kpiTiles.pop().el.remove();
    while (this.kpiTiles.length < tiles.length) {
      const k = {
        label: h("div", { class: "panel-kpi-label", attrs: { translate: "no" } }),
        value: h("span", { class: "panel-kpi-value", dataset: { kpiValue: "" }, attrs: { translate: "no" } }),
        unit: h("span", { class: "panel-kpi-unit", attrs: { translate: "no" } }),
        trend: h("span", { class: "panel-trend" }),
        status: h("span", { class: "panel-chip" }),
      };
      k.el = h(
        "div",
        { class: "panel-kpi", attrs: { role: "listitem" } },
        k.label,
        h("div", { class: "panel-kpi-main" }, k.value, k.unit),
        h("div", { class: "panel-kpi-meta" }, k.trend, k.status),
      );
      this.kpiTiles.push(k);
      list.append(k.el);
    }
    tiles.forEach((tile, i) => {
      const k = this.kpiTiles[i];
      const value = formatCell(tile.value);
      const arrow = trendArrow(tile.trend);
      const status = STATUSES.includes(tile.status) ? tile.status : null;
      k.label.textContent = tile.label;
      k.value.textContent = value;
      k.value.dataset.kpiValue = value;
      k.unit.textContent = tile.unit;
      k.trend.textContent = `${arrow.symbol} ${arrow.label}`;
      k.trend.dataset.trend = tile.trend;
      k.status.hidden = !tile.status;
      k.status.textContent = status ? t(`panels.status.${status}`) : "";
      k.el.className = `panel-kpi panel-tone-${tile.status || "none"}`;
      k.status.className = `panel-chip panel-tone-${tile.status || "none"}`;
      const amount = tile.unit ? t("panels.kpiAmount", { value, unit: tile.unit }) : value;
      k.el.setAttribute(
        "aria-label",
        status
          ? t("panels.kpiLabelStatus", { label: tile.label, value: amount, trend: arrow.label, status: t(`panels.statusSpoken.${status}`) })
          : t("panels.kpiLabel", { label: tile.label, value: amount, trend: arrow.label }),
      );
    });
    return true;
  }

  renderTable(data) {
    const model = tableModel(data);
    if (!model) return false;
    const { columns, rows, statusColumns } = model;
    const headKey = JSON.stringify(columns);
    if (this.headKey !== headKey) {
      this.headKey = headKey;
      this.thead.replaceChildren(
        h("tr", {}, columns.map((c) => h("th", { text: c, attrs: { scope: "col" } }))),
      );
    }
    const trs = this.tbody.rows;
    while (trs.length > rows.length) this.tbody.lastElementChild.remove();
    rows.forEach((row, r) => {
      let tr = trs[r];
      if (!tr) {
        tr = h("tr", { dataset: { row: String(r) } });
        this.tbody.append(tr);
      }
      while (tr.cells.length > columns.length) tr.lastElementChild.remove();
      columns.forEach((_, c) => {
        let td = tr.cells[c];
        if (!td) {
          td = h("td");
          tr.append(td);
        }
        const value = row[c];
        const text = formatCell(value);
        const tone = statusColumns.has(c) ? statusTone(value) : null;
        if (tone) {
          let chip = td.firstElementChild;
          if (!chip || !chip.classList.contains("panel-chip")) {
            chip = h("span");
            td.replaceChildren(chip);
          }
          chip.className = `panel-chip panel-tone-${tone}`;
          chip.textContent = text;
        } else if (td.textContent !== text || td.firstElementChild) {
          td.textContent = text;
        }
        td.classList.toggle("panel-num", typeof value === "number");
        td.classList.toggle("panel-cell-status", statusColumns.has(c));
        if (td.dataset.label !== columns[c]) td.dataset.label = columns[c];
      });
      if (row[0] !== undefined) tr.dataset.key = String(row[0]);
    });
    return true;
  }

  snapshot() {
    return {
      id: this.panel.id,
      kind: this.kind,
      updated_at: this.update?.updated_at ?? null,
      ok_at: this.update?.ok_at ?? null,
      error: this.update?.error ?? null,
      chart: this.chart ? chartSnapshot(this.chart) : null,
    };
  }

  destroyChart() {
    this.chart?.destroy();
    this.chart = null;
  }

  destroy() {
    this.destroyChart();
    this.el.remove();
  }
}
