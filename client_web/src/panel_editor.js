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

/** The form's controls, set to `values` (panelFormValues'). */
function editorControls(values, choices) {
  const c = {};
  c.title = h("input", { type: "text", name: "title", class: "panel-input", maxLength: 80, value: values.title, required: true });
  c.title.dataset.testid = "panel-title";
  c.kind = select("kind", PANEL_KINDS, Object.fromEntries(PANEL_KINDS.map((k) => [k, kindLabel(k)])));
  c.kind.dataset.testid = "panel-kind";
  c.simulated = h("input", { type: "radio", name: "sourceType", value: "simulated" });
  c.http = h("input", { type: "radio", name: "sourceType", value: "http" });
  c.feed = select("feed", FEEDS, Object.fromEntries(FEEDS.map((f) => [f, feedLabel(f)])));
  c.feed.dataset.testid = "panel-feed";
  c.city = select("city", choices.map((x) => x.id), Object.fromEntries(choices.map((x) => [x.id, x.name])));
  c.city.dataset.testid = "panel-city";
  c.pollutant = select("pollutant", POLLUTANTS, POLLUTANT_LABELS);
  c.pollutant.dataset.testid = "panel-pollutant";
  c.maxRows = h("input", { type: "number", name: "maxRows", class: "panel-input", min: 1, max: 200, step: 1, placeholder: formatNumber(20) });
  c.url = h("input", { type: "url", name: "url", class: "panel-input", placeholder: "https://data.city.gov/api/air.json", spellcheck: false });
  c.url.dataset.testid = "panel-url";
  c.format = select("format", ["json", "csv"], { json: "JSON", csv: "CSV" });
  c.path = h("input", { type: "text", name: "path", class: "panel-input", placeholder: "data.items", spellcheck: false });
  c.interval = h("input", { type: "number", name: "interval", class: "panel-input", min: 1, max: 3600, step: "any" });
  c.interval.dataset.testid = "panel-interval";

  c.kind.value = values.kind;
  (values.sourceType === "http" ? c.http : c.simulated).checked = true;
  for (const name of ["feed", "city", "pollutant", "maxRows", "url", "format", "path", "interval"]) c[name].value = values[name];
  return c;
}

/**
 * The labelled fields around the controls, with the source boxes and the fields that only some
 * sources show. The city menu is there only when the caller gave the list of cities (the panel's
 * city is kept otherwise).
 */
function editorFields(c, { withCity }) {
  const f = {};
  f.pollutant = field(t("panels.editor.pollutant"), c.pollutant);
  f.maxRows = field(t("panels.editor.maxRows"), c.maxRows, t("panels.editor.maxRowsHint"));
  f.city = withCity ? field(t("panels.editor.city"), c.city, t("panels.editor.cityHint")) : null;
  f.simulatedBox = h("div", { class: "panel-source-box" }, f.city, field(t("panels.editor.feed"), c.feed), f.pollutant, f.maxRows);
  f.path = field(t("panels.editor.path"), c.path, t("panels.editor.pathHint"));
  f.httpBox = h(
    "div",
    { class: "panel-source-box" },
    field(t("panels.editor.url"), c.url, t("panels.editor.urlHint")),
    field(t("panels.editor.format"), c.format),
    f.path,
  );
  f.interval = field(t("panels.editor.interval"), c.interval);
  return f;
}

/**
 * The actions: editing has one "Save changes"; a new panel has "Create panel" and the primary
 * "Create and show" (the form's submit button, so Enter in a field creates and shows).
 */
function editorActions(panel) {
  const save = panel
    ? h("button", { type: "submit", class: "button button-primary", text: t("panels.editor.save"), dataset: { testid: "panel-save" } })
    : h("button", { type: "button", class: "button button-secondary-dark", text: t("panels.editor.create"), dataset: { testid: "panel-save" } });
  const saveAndShow = panel
    ? null
    : h("button", { type: "submit", class: "button button-primary", text: t("panels.editor.createAndShow"), dataset: { testid: "panel-save-show" } });
  const cancel = h("button", { type: "button", class: "button button-ghost", text: t("common.cancel") });
  return { save, saveAndShow, cancel };
}

/** Show the fields that the chosen source, feed, kind and format use. */
function syncFields(c, f) {
  const isHttp = c.http.checked;
  f.simulatedBox.hidden = isHttp;
  f.httpBox.hidden = !isHttp;
  f.pollutant.hidden = c.feed.value !== "air_quality";
  f.maxRows.hidden = !(c.feed.value === "incidents" && c.kind.value === "table");
  f.path.hidden = c.format.value !== "json";
  c.interval.placeholder = t("panels.editor.intervalDefault", { seconds: formatNumber(isHttp ? 30 : 5) });
}

/** What the form says now, as panelPayload reads it. */
function formValues(c, withCity) {
  return {
    title: c.title.value,
    kind: c.kind.value,
    sourceType: c.http.checked ? "http" : "simulated",
    feed: c.feed.value,
    city: withCity ? c.city.value : "",
    pollutant: c.pollutant.value,
    maxRows: c.maxRows.value,
    url: c.url.value,
    format: c.format.value,
    path: c.path.value,
    interval: c.interval.value,
  };
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
  const withCity = Boolean(choices.length && cities.length);
  const c = editorControls(values, choices);
  const f = editorFields(c, { withCity });
  const a = editorActions(panel);
  const error = h("p", { class: "panel-form-error", attrs: { role: "alert" }, dataset: { testid: "panel-form-error" } });
  const heading = t(panel ? "panels.editor.editTitle" : "panels.editor.newTitle");
  const form = h(
    "form",
    { class: "panel-form", method: "dialog", noValidate: true },
    h("h2", { class: "panel-form-title", text: heading }),
    field(t("panels.editor.title"), c.title),
    field(t("panels.editor.kind"), c.kind),
    h(
      "fieldset",
      { class: "panel-fieldset" },
      h("legend", { text: t("panels.editor.source") }),
      h("label", { class: "panel-radio" }, c.simulated, ` ${t("panels.editor.sourceSimulated")}`),
      h("label", { class: "panel-radio" }, c.http, ` ${t("panels.editor.sourceHttp")}`),
    ),
    f.simulatedBox,
    f.httpBox,
    f.interval,
    error,
    h("div", { class: "panel-form-actions" }, a.cancel, a.save, a.saveAndShow),
  );
  const dialog = h("dialog", { class: "panel-dialog", attrs: { "aria-label": heading } }, form);
  for (const el of [c.simulated, c.http, c.feed, c.kind, c.format]) el.addEventListener("change", () => syncFields(c, f));
  syncFields(c, f);

  const close = () => {
    dialog.close();
    dialog.remove();
  };
  a.cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    close();
  });
  wireSubmit({ form, panel, cities, withCity, c, a, error, onSave, close });
  document.body.append(dialog);
  dialog.showModal();
  c.title.focus();
  return { dialog, close };
}

/** Check the form (panelPayload), then save once at a time; a refusal is shown in the form. */
function wireSubmit({ form, panel, cities, withCity, c, a, error, onSave, close }) {
  let saving = false;
  const submit = async (show) => {
    if (saving) return;
    error.textContent = "";
    const result = panelPayload(formValues(c, withCity), panel, { cities });
    if (result.error) {
      error.textContent = result.error;
      form.elements[result.field]?.focus();
      return;
    }
    saving = true;
    const buttons = [a.save, a.saveAndShow].filter(Boolean);
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
  if (!panel) a.save.addEventListener("click", () => submit(false));
}
