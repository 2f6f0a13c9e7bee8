// The organiser key this browser keeps (localStorage) and the field that asks for it: shared by the
// start page and the organiser console.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";
import { ORGANISER_KEY_STORAGE, organiserKeyFromHash, organiserKeyFromInput } from "./start_model.js";

export function storedOrganiserKey() {
  try {
    return localStorage.getItem(ORGANISER_KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function storeOrganiserKey(key) {
  try {
    if (key) localStorage.setItem(ORGANISER_KEY_STORAGE, key);
    else localStorage.removeItem(ORGANISER_KEY_STORAGE);
  } catch {
    /* private mode: the key is asked for again next time */
  }
}

/**
 * The organiser link (`/#organiser=KEY`, printed by `sitroom serve`): this browser keeps the key and
 * the address bar loses it (nobody reads it over a shoulder, bookmarks and screenshots lack it).
 */
export function takeOrganiserKey() {
  const { key, hash } = organiserKeyFromHash(location.hash);
  if (!key) return;
  storeOrganiserKey(key);
  history.replaceState(history.state, "", `${location.pathname}${location.search}${hash}`);
}

/**
 * The "Organiser key" field: hidden while this browser holds a key, shown (with what to do) when a
 * room is created without one or the server refuses it. Joining by link or code never needs it.
 */
export function organiserField() {
  const input = h("input", {
    id: "organiser-key",
    name: "organiser-key",
    type: "password",
    autocomplete: "off",
    attrs: { "aria-describedby": "organiser-key-hint organiser-key-error", spellcheck: "false", autocapitalize: "off" },
  });
  const error = h("p", { id: "organiser-key-error", class: "field-error", attrs: { "aria-live": "polite" } });
  const el = h("div", { class: "organiser-field", hidden: true, dataset: { testid: "organiser-key-field" } },
    h("label", { class: "field-label", htmlFor: "organiser-key", text: t("start.create.organiserKey") }),
    h("p", { id: "organiser-key-hint", class: "field-hint", text: t("start.create.organiserKeyHint") }),
    input,
    error);
  const forget = h("button", { type: "button", class: "button-text", text: t("start.create.organiserKeyForget"), dataset: { testid: "forget-organiser-key" } });
  const kept = h("p", { class: "organiser-kept", hidden: !storedOrganiserKey(), dataset: { testid: "organiser-key-kept" } },
    icon("check"), h("span", { text: t("start.create.organiserKeyKept") }), " ", forget);
  forget.addEventListener("click", () => {
    storeOrganiserKey("");
    kept.hidden = true;
  });
  return {
    el,
    kept,
    /** The key to send: what was typed when the field is shown, else the one this browser keeps. */
    key: () => (el.hidden ? storedOrganiserKey() : organiserKeyFromInput(input.value)),
    /** Show the field with why (message), the typed key selected for correction. */
    ask(message) {
      el.hidden = false;
      kept.hidden = true;
      error.textContent = message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      input.select();
    },
    clear() {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
    },
  };
}

