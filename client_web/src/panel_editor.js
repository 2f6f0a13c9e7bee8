// The panel editor (host and staff): a modal form that creates or changes a live data panel.
import { h } from "./dom.js";
import {
  panelFormValues,
  panelPayload,
  FEED_LABELS,
  KIND_LABELS,
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
 * Open the editor. panel: the panel to edit, or null for a new one. onSave(payload) -> Promise
 * (rejects with an error carrying `message`); the dialog closes when it resolves.
 */
export function openPanelEditor({ panel = null, onSave }) {
  const values = panelFormValues(panel);
  const title = h("input", { type: "text", name: "title", class: "panel-input", maxLength: 80, value: values.title, required: true });
  title.dataset.testid = "panel-title";
  const kind = select("kind", PANEL_KINDS, KIND_LABELS);
  kind.dataset.testid = "panel-kind";
  const simulated = h("input", { type: "radio", name: "sourceType", value: "simulated" });
  const http = h("input", { type: "radio", name: "sourceType", value: "http" });
  const feed = select("feed", FEEDS, FEED_LABELS);
  feed.dataset.testid = "panel-feed";
  const pollutant = select("pollutant", POLLUTANTS, POLLUTANT_LABELS);
  pollutant.dataset.testid = "panel-pollutant";
  const maxRows = h("input", { type: "number", name: "maxRows", class: "panel-input", min: 1, max: 200, step: 1, placeholder: "20" });
  const url = h("input", { type: "url", name: "url", class: "panel-input", placeholder: "https://data.city.gov/api/air.json", spellcheck: false });
  url.dataset.testid = "panel-url";
  const format = select("format", ["json", "csv"], { json: "JSON", csv: "CSV" });
  const path = h("input", { type: "text", name: "path", class: "panel-input", placeholder: "data.items", spellcheck: false });
  const interval = h("input", { type: "number", name: "interval", class: "panel-input", min: 1, max: 3600, step: "any" });
  interval.dataset.testid = "panel-interval";

  kind.value = values.kind;
  (values.sourceType === "http" ? http : simulated).checked = true;
  feed.value = values.feed;
  pollutant.value = values.pollutant;
  maxRows.value = values.maxRows;
  url.value = values.url;
  format.value = values.format;
  path.value = values.path;
  interval.value = values.interval;

  const pollutantField = field("Pollutant", pollutant);
  const maxRowsField = field("Rows to show", maxRows, "Incidents table only; 20 if empty.");
  const simulatedBox = h("div", { class: "panel-source-box" }, field("City data feed", feed), pollutantField, maxRowsField);
  const pathField = field("Data path (optional)", path, "Where the data sits in the JSON answer, e.g. data.items.");
  const httpBox = h(
    "div",
    { class: "panel-source-box" },
    field("Web address", url, "The city's data endpoint, polled by the server (its administrator decides which addresses it may reach)."),
    field("Format", format),
    pathField,
  );
  const intervalField = field("Refresh every (seconds)", interval);
  const error = h("p", { class: "panel-form-error", attrs: { role: "alert" }, dataset: { testid: "panel-form-error" } });
  const save = h("button", { type: "submit", class: "button button-primary", text: panel ? "Save changes" : "Create panel", dataset: { testid: "panel-save" } });
  const cancel = h("button", { type: "button", class: "button button-ghost", text: "Cancel" });

  const form = h(
    "form",
    { class: "panel-form", method: "dialog", noValidate: true },
    h("h2", { class: "panel-form-title", text: panel ? "Edit panel" : "New data panel" }),
    field("Title", title),
    field("Show as", kind),
    h(
      "fieldset",
      { class: "panel-fieldset" },
      h("legend", { text: "Data source" }),
      h("label", { class: "panel-radio" }, simulated, " Simulated city data"),
      h("label", { class: "panel-radio" }, http, " A web address (HTTP)"),
    ),
    simulatedBox,
    httpBox,
    intervalField,
    error,
    h("div", { class: "panel-form-actions" }, cancel, save),
  );
  const dialog = h("dialog", { class: "panel-dialog", attrs: { "aria-label": panel ? "Edit panel" : "New data panel" } }, form);

  const sync = () => {
    const isHttp = http.checked;
    simulatedBox.hidden = isHttp;
    httpBox.hidden = !isHttp;
    pollutantField.hidden = feed.value !== "air_quality";
    maxRowsField.hidden = !(feed.value === "incidents" && kind.value === "table");
    pathField.hidden = format.value !== "json";
    interval.placeholder = isHttp ? "30 (default)" : "5 (default)";
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
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const result = panelPayload(
      {
        title: title.value,
        kind: kind.value,
        sourceType: http.checked ? "http" : "simulated",
        feed: feed.value,
        pollutant: pollutant.value,
        maxRows: maxRows.value,
        url: url.value,
        format: format.value,
        path: path.value,
        interval: interval.value,
      },
      panel,
    );
    if (result.error) {
      error.textContent = result.error;
      form.elements[result.field]?.focus();
      return;
    }
    save.disabled = true;
    try {
      await onSave(result.payload);
      close();
    } catch (err) {
      error.textContent = err?.message ? `The server refused: ${err.message}` : "The panel could not be saved.";
    } finally {
      save.disabled = false;
    }
  });

  document.body.append(dialog);
  dialog.showModal();
  title.focus();
  return { dialog, close };
}
