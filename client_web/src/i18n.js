// Languages: every visible string goes through t() and the catalogues in src/locales/ (i18next,
// JSON v4: nested keys, {{name}} placeholders, plural forms by Intl.PluralRules); dates, times and
// numbers through Intl in the chosen language. The browser's language is the default; the choice
// made in pre-join or the meeting's settings is kept in localStorage.
import i18next from "i18next";
import en from "./locales/en.json" with { type: "json" };
import ko from "./locales/ko.json" with { type: "json" };
import es from "./locales/es.json" with { type: "json" };
import pt from "./locales/pt.json" with { type: "json" };
import fr from "./locales/fr.json" with { type: "json" };

/** The languages the client speaks, each named in itself (as a switcher shows them). */
export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "ko", name: "한국어" },
  { code: "es", name: "Español" },
  { code: "pt", name: "Português" },
  { code: "fr", name: "Français" },
];
export const CATALOGUES = { en, ko, es, pt, fr };
const STORAGE_KEY = "sitroom.language";
const i18n = i18next.createInstance();

/**
 * The language to use: the saved choice if it is one we speak, else the first of the browser's
 * preferred languages we speak ("pt-BR" -> "pt"), else English.
 */
export function pickLanguage(saved, preferred = []) {
  const known = new Set(LANGUAGES.map((l) => l.code));
  if (saved && known.has(saved)) return saved;
  for (const tag of preferred || []) {
    const base = String(tag || "").toLowerCase().split(/[-_]/)[0];
    if (known.has(base)) return base;
  }
  return "en";
}

function saved() {
  try {
    return localStorage.getItem(STORAGE_KEY) || "";
  } catch {
    return "";
  }
}

/** Initialise once, before anything renders. */
export function initI18n(lng = pickLanguage(saved(), globalThis.navigator?.languages || [])) {
  i18n.init({
    lng,
    fallbackLng: "en",
    supportedLngs: LANGUAGES.map((l) => l.code),
    resources: Object.fromEntries(Object.entries(CATALOGUES).map(([code, c]) => [code, { translation: c }])),
    interpolation: { escapeValue: false }, // we set textContent, never innerHTML
    returnNull: false,
    initAsync: false,
  });
  if (globalThis.document) document.documentElement.lang = lng;
  return lng;
}

/**
 * The text for a catalogue key, with {{placeholders}} filled (and `count` choosing the plural).
 * Before initI18n (the pure modules' unit tests in Node, which have no page), English.
 */
export function t(key, vars) {
  if (!i18n.isInitialized) initI18n(globalThis.document ? undefined : "en");
  return i18n.t(key, vars);
}

export function language() {
  return i18n.language || "en";
}

/** Use another language from now on (and next time); listeners of "sitroom:language" re-render. */
export function setLanguage(code) {
  const lng = pickLanguage(code, []);
  try {
    localStorage.setItem(STORAGE_KEY, lng);
  } catch {
    /* private mode: this page only */
  }
  i18n.changeLanguage(lng);
  document.documentElement.lang = lng;
  document.dispatchEvent(new CustomEvent("sitroom:language", { detail: { language: lng } }));
  return lng;
}

// ---- Intl, in the chosen language -------------------------------------------------------------

/** "09:31" (or "오전 9:31") in the viewer's time zone; "" for a bad time. */
export function formatTime(value, options = { hour: "2-digit", minute: "2-digit" }) {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  return new Intl.DateTimeFormat(language(), options).format(d);
}

/** A date and time, e.g. "Friday 15 January 2027, 09:00"; options as Intl.DateTimeFormat's. */
export function formatDateTime(value, options = { dateStyle: "full", timeStyle: "short" }) {
  return formatTime(value, options);
}

export function formatNumber(value, options = {}) {
  return typeof value === "number" && Number.isFinite(value) ? new Intl.NumberFormat(language(), options).format(value) : "";
}

/** "Asia/Seoul": the viewer's IANA time zone. */
export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** "GMT+9" (or the language's spelling) for a time in the viewer's zone. */
export function zoneLabel(value, style = "shortOffset") {
  const parts = new Intl.DateTimeFormat(language(), { timeZoneName: style }).formatToParts(new Date(value));
  return parts.find((p) => p.type === "timeZoneName")?.value || "";
}

/** A labelled language <select> (pre-join, the meeting's settings, the start page). */
export function languageSelect(h, { id, onChange } = {}) {
  const select = h("select", { id, class: "field-select language-select", dataset: { testid: "language" } },
    LANGUAGES.map((l) => h("option", { value: l.code, text: l.name, attrs: { lang: l.code, translate: "no" } })));
  select.value = language();
  select.addEventListener("change", () => {
    setLanguage(select.value);
    onChange?.(select.value);
  });
  return select;
}
