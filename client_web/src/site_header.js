// The header of the organiser's pages (console, archive): the Sitroom mark linking to the start
// page, what the page is, and the language picker (which redraws the page in the new language).
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t, languageSelect } from "./i18n.js";

/** label: what the page is ("Organiser console"); compact: the meeting-page height; languageId: the select's id. */
export function siteHeader({ label, compact = false, languageId, onLanguage }) {
  return h("header", { class: compact ? "site-header compact" : "site-header" },
    h("a", { class: "brand-link", href: "/" },
      h("span", { class: compact ? "brand-mark small" : "brand-mark" }, icon("hall")),
      h("span", { class: "brand-name", text: "Sitroom", attrs: { translate: "no" } })),
    h("span", { class: "console-label", text: label }),
    h("label", { class: "header-language" },
      h("span", { class: "visually-hidden", text: t("common.language") }),
      languageSelect(h, { id: languageId, onChange: onLanguage })));
}
