// The panel editor (host and staff): a modal form that creates or changes a live data panel.
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";
import {
  cityChoices,
  panelFormValues,
  panelPayload,
  feedLabel,
  kindLabel,
  POLLUTANT_LABELS,
  FEEDS,
  PANEL_KINDS,
  POLLUTANTS,
} from "./stage_model.js";

let uid = 0;

function field(label, control, hint) {
  const id = `panel-field-${++uid}`;
  control.id = id;
  return h(
    "div",
    { class: "panel-field" },
    h("label", { class: "panel-field-label", htmlFor: id, text: label }),
    hint ? h("p", { class: "panel-field-hint", text: hint }) : null,
    control,
  );
}

function select(name, options, labels) {
  return h(
    "select",
    { name, class: "panel-input" },
    options.map((value) => h("option", { value, text: labels[value] || value })),
  );
}

/**
 * Open the editor. panel: the panel to edit, or null for a new one. cities: the built-in cities
 * ([{id, name, time_zone}], from the server) a simulated source may play; defaultCity: the room's
 * city id, preselected for a new panel (a panel being edited keeps its own). Without `cities` the
 * editor shows no city menu and keeps the panel's city.
 *
 * onSave(payload, { show }) -> Promise (rejects with an error carrying `message`); the dialog closes
 * when it resolves. A new panel has two submit actions: "Create panel" ({ show: false }) and the
 * primary "Create and show" ({ show: true }: the caller also puts the new panel on stage; Enter in
 * the form does this one). An edit saves with { show: false }.
 * Returns { dialog, close }.
 */
export function openPanelEditor({ panel = null, onSave, cities = [], defaultCity = null }) {
  const values = panelFormValues(panel, { cities, defaultCity });
  const choices = cityChoices(cities, values.sourceType === "simulated" ? values.city : "");
  const title = h("input", { type: "text", name: "title", class: "panel-input", maxLength: 80, value: values.title, required: true });
  title.dataset.testid = "panel-title";
  const kind = select("kind", PANEL_KINDS, Object.fromEntries(PANEL_KINDS.map((k) => [k, kindLabel(k)])));
  kind.dataset.testid = "panel-kind";
  const simulated = h("input", { type: "radio", name: "sourceType", value: "simulated" });
  const http = h("input", { type: "radio", name: "sourceType", value: "http" });
  const feed = select("feed", FEEDS, Object.fromEntries(FEEDS.map((f) => [f, feedLabel(f)])));
  feed.dataset.testid = "panel-feed";
  const city = select(
    "city",
    choices.map((c) => c.id),
    Object.fromEntries(choices.map((c) => [c.id, c.name])),
  );
  city.dataset.testid = "panel-city";
  const pollutant = select("pollutant", POLLUTANTS, POLLUTANT_LABELS);
  pollutant.dataset.testid = "panel-pollutant";
  const maxRows = h("input", { type: "number", name: "maxRows", class: "panel-input", min: 1, max: 200, step: 1, placeholder: formatNumber(20) });
  const url = h("input", { type: "url", name: "url", class: "panel-input", placeholder: "https://data.city.gov/api/air.json", spellcheck: false });
  url.dataset.testid = "panel-url";
  const format = select("format", ["json", "csv"], { json: "JSON", csv: "CSV" });
  const path = h("input", { type: "text", name: "path", class: "panel-input", placeholder: "data.items", spellcheck: false });
  const interval = h("input", { type: "number", name: "interval", class: "panel-input", min: 1, max: 3600, step: "any" });
  interval.dataset.testid = "panel-interval";

  kind.value = values.kind;
  (values.sourceType === "http" ? http : simulated).checked = true;
  feed.value = values.feed;
  city.value = values.city;
  pollutant.value = values.pollutant;
  maxRows.value = values.maxRows;
  url.value = values.url;
  format.value = values.format;
  path.value = values.path;
  interval.value = values.interval;

  const pollutantField = field(t("panels.editor.pollutant"), pollutant);
  const maxRowsField = field(t("panels.editor.maxRows"), maxRows, t("panels.editor.maxRowsHint"));
  // Shown only when the caller gave the list of cities; the panel's city is kept otherwise.
  const cityField = choices.length && cities.length ? field(t("panels.editor.city"), city, t("panels.editor.cityHint")) : null;
  const simulatedBox = h("div", { class: "panel-source-box" }, cityField, field(t("panels.editor.feed"), feed), pollutantField, maxRowsField);
  const pathField = field(t("panels.editor.path"), path, t("panels.editor.pathHint"));
  const httpBox = h(
    "div",
    { class: "panel-source-box" },
    field(t("panels.editor.url"), url, t("panels.editor.urlHint")),
    field(t("panels.editor.format"), format),
    pathField,
  );
  const intervalField = field(t("panels.editor.interval"), interval);
  const error = h("p", { class: "panel-form-error", attrs: { role: "alert" }, dataset: { testid: "panel-form-error" } });
  // Editing: one "Save changes". New: "Create panel" and the primary "Create and show" (the form's
  // submit button, so Enter in a field creates and shows).
  const save = panel
    ? h("button", { type: "submit", class: "button button-primary", text: t("panels.editor.save"), dataset: { testid: "panel-save" } })
    : h("button", { type: "button", class: "button button-secondary-dark", text: t("panels.editor.create"), dataset: { testid: "panel-save" } });
  const saveAndShow = panel
    ? null
    : h("button", { type: "submit", class: "button button-primary", text: t("panels.editor.createAndShow"), dataset: { testid: "panel-save-show" } });
  const cancel = h("button", { type: "button", class: "button button-ghost", text: t("common.cancel") });

  const form = h(
    "form",
    { class: "panel-form", method: "dialog", noValidate: true },
    h("h2", { class: "panel-form-title", text: t(panel ? "panels.editor.editTitle" : "panels.editor.newTitle") }),
    field(t("panels.editor.title"), title),
    field(t("panels.editor.kind"), kind),
    h(
      "fieldset",
      { class: "panel-fieldset" },
      h("legend", { text: t("panels.editor.source") }),
      h("label", { class: "panel-radio" }, simulated, ` ${t("panels.editor.sourceSimulated")}`),
      h("label", { class: "panel-radio" }, http, ` ${t("panels.editor.sourceHttp")}`),
    ),
    simulatedBox,
    httpBox,
    intervalField,
    error,
    h("div", { class: "panel-form-actions" }, cancel, save, saveAndShow),
  );
  const dialog = h("dialog", { class: "panel-dialog", attrs: { "aria-label": t(panel ? "panels.editor.editTitle" : "panels.editor.newTitle") } }, form);

  const sync = () => {
    const isHttp = http.checked;
    simulatedBox.hidden = isHttp;
    httpBox.hidden = !isHttp;
    pollutantField.hidden = feed.value !== "air_quality";
    maxRowsField.hidden = !(feed.value === "incidents" && kind.value === "table");
    pathField.hidden = format.value !== "json";
    interval.placeholder = t("panels.editor.intervalDefault", { seconds: formatNumber(isHttp ? 30 : 5) });
  };
  for (const el of [simulated, http, feed, kind, format]) el.addEventListener("change", sync);
  sync();

  const close = () => {
    dialog.close();
    dialog.remove();
  };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  let saving = false;
  const submit = async (show) => {
    if (saving) return;
    error.textContent = "";
    const result = panelPayload(
      {
        title: title.value,
        kind: kind.value,
        sourceType: http.checked ? "http" : "simulated",
        feed: feed.value,
        city: cityField ? city.value : "",
        pollutant: pollutant.value,
        maxRows: maxRows.value,
        url: url.value,
        format: format.value,
        path: path.value,
        interval: interval.value,
      },
      panel,
      { cities },
    );
    if (result.error) {
      error.textContent = result.error;
      form.elements[result.field]?.focus();
      return;
    }
    saving = true;
    const buttons = [save, saveAndShow].filter(Boolean);
    for (const b of buttons) b.disabled = true;
    try {
      await onSave(result.payload, { show });
      close();
    } catch (err) {
      error.textContent = err?.message ? t("panels.editor.refused", { message: err.message }) : t("panels.editor.saveFailed");
    } finally {
      saving = false;
      for (const b of buttons) b.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(!panel); // Enter or the submit button: "Create and show" for a new panel, "Save changes" for an edit
  });
  if (!panel) save.addEventListener("click", () => submit(false));

  document.body.append(dialog);
  dialog.showModal();
  title.focus();
  return { dialog, close };
}
