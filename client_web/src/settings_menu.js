// The meeting's settings menu (controls.js opens it): camera, microphone and speaker choice, and
// the language.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t, formatNumber, languageSelect } from "./i18n.js";

const DEVICE_KINDS = [
  { kind: "videoinput", label: "devices.camera", numbered: "devices.cameraNumbered", id: "device-camera" },
  { kind: "audioinput", label: "devices.microphone", numbered: "devices.microphoneNumbered", id: "device-microphone" },
  { kind: "audiooutput", label: "devices.speaker", numbered: "devices.speakerNumbered", id: "device-speaker" },
];

/**
 * The settings menu next to the microphone and camera: one select per device kind the user may
 * choose, and the language. devices: {onOpen(), onChoose(kind, deviceId), inputs: bool, speaker:
 * bool, onLanguage()}. Returns {button, menu, open(anchor), close, isOpen, fill(lists, current),
 * contains(node)}. The menu opens in `anchor`: beside its own button on a wide screen, from the
 * "More" sheet on a phone (no room in the bar).
 */
export function deviceMenu(devices, closeOthers) {
  const button = h(
    "button",
    {
      type: "button",
      class: "control-button devices-button",
      dataset: { testid: "device-settings" },
      attrs: { "aria-label": t("settings.label"), "aria-haspopup": "dialog", "aria-expanded": "false" },
      title: t("settings.label"),
    },
    icon("settings"),
    h("span", { class: "control-text", text: t("settings.short"), attrs: { "aria-hidden": "true" } }),
  );
  const fields = deviceFields(devices);
  const hasDevices = Object.keys(fields).length > 0;
  const empty = h("p", { class: "device-menu-note", text: t("settings.looking"), hidden: !hasDevices });
  const language = h("div", { class: "device-field language-field" },
    h("label", { class: "field-label", htmlFor: "meeting-language", text: t("common.language") }),
    languageSelect(h, { id: "meeting-language", onChange: () => devices.onLanguage?.() }));
  const menu = h(
    "div",
    { class: "more-sheet device-menu", hidden: true, dataset: { testid: "device-menu" },
      attrs: { role: "dialog", "aria-label": t("settings.label") } },
    h("div", { class: "more-sheet-items" }, ...Object.values(fields).map((f) => f.wrap), empty, language),
  );
  const api = {
    button,
    menu,
    isOpen: () => !menu.hidden,
    contains: (node) => button.contains(node) || menu.contains(node),
    open: (anchor) => {
      closeOthers();
      if (anchor && menu.parentNode !== anchor) anchor.append(menu);
      menu.hidden = false;
      button.setAttribute("aria-expanded", "true");
      devices.onOpen?.();
      menu.querySelector("select")?.focus();
    },
    close: () => {
      menu.hidden = true;
      button.setAttribute("aria-expanded", "false");
    },
    /** lists: {videoinput: [{deviceId, label}], ...}; current: {kind: deviceId} in use. */
    fill: (lists, current = {}) => fillDeviceFields(fields, empty, lists, current),
  };
  button.addEventListener("click", () => (menu.hidden ? api.open(button.parentNode) : api.close()));
  menu.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      api.close();
      button.focus();
    }
  });
  return api;
}

/** One labelled select per device kind the user may choose: {kind: {select, wrap}}, in DEVICE_KINDS order. */
function deviceFields(devices) {
  const fields = {};
  for (const { kind, label, id } of DEVICE_KINDS) {
    if (kind === "audiooutput" ? !devices.speaker : !devices.inputs) continue;
    const select = h("select", { id, class: "field-select device-select", dataset: { kind } });
    select.addEventListener("change", () => devices.onChoose?.(kind, select.value));
    const wrap = h("div", { class: "device-field", hidden: true },
      h("label", { class: "field-label", htmlFor: id, text: t(label) }), select);
    fields[kind] = { select, wrap };
  }
  return fields;
}

/** A device as an option: its own name (not translated), else "Camera 2" (numbered: the key). */
export function deviceOption(d, i, numbered) {
  return d.label
    ? h("option", { value: d.deviceId, text: d.label, attrs: { translate: "no" } })
    : h("option", { value: d.deviceId, text: t(numbered, { number: formatNumber(i + 1) }) });
}

/** Put the devices of `lists` in the selects, select those in use, say so when there are none. */
function fillDeviceFields(fields, empty, lists, current) {
  let any = false;
  for (const { kind, numbered } of DEVICE_KINDS) {
    const field = fields[kind];
    if (!field) continue;
    const list = (lists && lists[kind]) || [];
    const focused = document.activeElement === field.select;
    field.select.replaceChildren(
      ...list.map((d, i) => deviceOption(d, i, numbered)),
    );
    if (current[kind] && list.some((d) => d.deviceId === current[kind])) field.select.value = current[kind];
    field.wrap.hidden = list.length < 1;
    any = any || list.length > 0;
    if (focused) field.select.focus();
  }
  empty.textContent = any ? "" : t("settings.noDevices");
  empty.hidden = any;
}
