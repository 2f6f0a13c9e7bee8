// The stage's bar: what is on the stage (or browsed privately) and who shared it, the follow-lock
// chip, and the tools: back to the presenter, browse privately, the pointer toggle, and the share
// menu's and the upload's own elements (stage_menu.js, stage_upload.js).
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";

/** A button in the stage's style (the bar, the share menu, the upload line). */
export function stageButton(text, props = {}) {
  return h("button", { type: "button", class: "stage-button", text, ...props });
}

/** The page shown of a document target, as {page, count} (1-based), or null. */
export function targetPage(target, documents) {
  if (target.kind !== "document") return null;
  const doc = documents.find((d) => d.id === target.document_id);
  if (!doc) return null;
  return { page: (target.page ?? 0) + 1, count: doc.pages.length || doc.page_count };
}

/**
 * A stage or browse target in words, for the status line; nameOf(id) gives a participant's name.
 * A document's page is not in it (the status line shows it apart, so that it is never cut off).
 */
export function describeTarget(target, { panels, documents, nameOf }) {
  switch (target.kind) {
    case "panel": {
      const panel = panels.find((p) => p.id === target.panel_id);
      return panel ? panel.title : t("stage.aPanel");
    }
    case "document": {
      const doc = documents.find((d) => d.id === target.document_id);
      return doc ? doc.title : t("stage.aDocument");
    }
    case "participant":
      return t(target.source === "screen" ? "stage.whoseScreen" : "stage.whoseCamera", { name: nameOf(target.participant_id) });
    default:
      return t("stage.nothing");
  }
}

export class StageBar {
  /**
   * onBack(): back to the presenter; onBrowse(value): a choice in the browse select ("panel:<id>",
   * "document:<id>" or ""); onPointer(): the pointer toggle; tools: elements after those tools.
   */
  constructor({ onBack, onBrowse, onPointer, tools }) {
    this.statusEl = h("span", { class: "stage-status-text", dataset: { testid: "stage-status" } });
    this.pageEl = h("span", { class: "stage-status-page", dataset: { testid: "stage-status-page" }, hidden: true });
    this.lockChip = h("span", { class: "stage-lock-chip", text: t("stage.lockedChip"), hidden: true });
    this.backButton = stageButton(t("stage.back"), { class: "stage-button stage-back", dataset: { testid: "stage-back" }, hidden: true });
    this.backButton.addEventListener("click", () => onBack());
    this.browseSelect = h("select", {
      class: "stage-browse",
      dataset: { testid: "stage-browse" },
      attrs: { "aria-label": t("stage.browseLabel") },
    });
    this.browseSelect.addEventListener("change", () => {
      const value = this.browseSelect.value;
      this.browseSelect.value = "";
      onBrowse(value);
    });
    this.pointerButton = stageButton(t("stage.pointer"), { class: "stage-button stage-pointer-toggle", dataset: { testid: "stage-pointer" }, hidden: true });
    this.pointerButton.setAttribute("aria-pressed", "false");
    this.pointerButton.title = t("stage.pointerTitle");
    this.pointerButton.addEventListener("click", () => onPointer());
    this.el = h(
      "div",
      { class: "stage-bar" },
      h("div", { class: "stage-bar-status" }, this.statusEl, this.pageEl, this.lockChip),
      h("div", { class: "stage-bar-tools" }, this.backButton, this.browseSelect, this.pointerButton, ...tools),
    );
  }

  /**
   * The status line and which tools show. o: {stage, target, following, visible, manage, by (who
   * shared it, or null), describe(target) (a target in words)}.
   */
  renderStatus({ stage, target, following, visible, manage, by, describe, page }) {
    let text;
    if (!following) text = t("stage.browsing", { what: describe(target) });
    else if (!visible) text = t("stage.empty");
    else if (target.kind === "panel") text = by ? t("stage.onStageBy", { name: by }) : t("stage.onStage"); // the panel shows its own title
    else text = t("stage.onStageWhat", { what: describe(target) });
    this.statusEl.textContent = text;
    this.statusEl.title = following ? (by ? t("stage.sharedBy", { name: by }) : "") : t("stage.presenterShows", { what: describe(stage) });
    this.pageEl.hidden = !page || !visible;
    if (page) this.pageEl.textContent = t("stage.pageOf", { page: formatNumber(page.page), count: formatNumber(page.count) });
    this.lockChip.hidden = !stage.locked_follow || manage;
    this.backButton.hidden = following;
  }

  /** The panels and ready documents to browse privately (only rebuilt when they changed). */
  renderBrowseSelect(show, panels, documents) {
    const items = [
      ...panels.map((p) => ({ value: `panel:${p.id}`, text: p.title, group: t("stage.panels") })),
      ...documents.filter((d) => d.status === "ready").map((d) => ({ value: `document:${d.id}`, text: d.title, group: t("stage.documents") })),
    ];
    this.browseSelect.hidden = !show || !items.length;
    if (this.browseSelect.hidden) return;
    const signature = JSON.stringify(items);
    if (signature === this.browseSignature) return;
    this.browseSignature = signature;
    const groups = new Map();
    for (const item of items) {
      if (!groups.has(item.group)) groups.set(item.group, h("optgroup", { label: item.group }));
      groups.get(item.group).append(h("option", { value: item.value, text: item.text, attrs: { translate: "no" } }));
    }
    this.browseSelect.replaceChildren(h("option", { value: "", text: t("stage.browse") }), ...groups.values());
  }

  setPointerPressed(on) {
    this.pointerButton.setAttribute("aria-pressed", String(on));
    this.pointerButton.classList.toggle("active", on);
  }
}
