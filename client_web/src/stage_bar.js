// The stage's bar: what is on the stage (or browsed privately) and who shared it, the follow-lock
// chip, and the tools: back to the presenter, browse privately, the pointer toggle, and the share
// menu's and the upload's own elements (stage_menu.js, stage_upload.js).
import { h } from "./dom.js";

/** A button in the stage's style (the bar, the share menu, the upload line). */
export function stageButton(text, props = {}) {
  return h("button", { type: "button", class: "stage-button", text, ...props });
}

/**
 * A stage or browse target in words, for the status line; nameOf(id) gives a participant's name.
 */
export function describeTarget(target, { panels, documents, nameOf }) {
  switch (target.kind) {
    case "panel": {
      const panel = panels.find((p) => p.id === target.panel_id);
      return panel ? panel.title : "A panel";
    }
    case "document": {
      const doc = documents.find((d) => d.id === target.document_id);
      if (!doc) return "A document";
      return `${doc.title} · page ${(target.page ?? 0) + 1} of ${doc.pages.length || doc.page_count}`;
    }
    case "participant": {
      const name = nameOf(target.participant_id);
      return `${name} · ${target.source === "screen" ? "screen" : "camera"}`;
    }
    default:
      return "Nothing on the stage";
  }
}

export class StageBar {
  /**
   * onBack(): back to the presenter; onBrowse(value): a choice in the browse select ("panel:<id>",
   * "document:<id>" or ""); onPointer(): the pointer toggle; tools: elements after those tools.
   */
  constructor({ onBack, onBrowse, onPointer, tools }) {
    this.statusEl = h("span", { class: "stage-status-text", dataset: { testid: "stage-status" } });
    this.lockChip = h("span", { class: "stage-lock-chip", text: "Following is locked", hidden: true });
    this.backButton = stageButton("Back to the presenter", { class: "stage-button stage-back", dataset: { testid: "stage-back" }, hidden: true });
    this.backButton.addEventListener("click", () => onBack());
    this.browseSelect = h("select", {
      class: "stage-browse",
      dataset: { testid: "stage-browse" },
      attrs: { "aria-label": "Browse panels and documents privately" },
    });
    this.browseSelect.addEventListener("change", () => {
      const value = this.browseSelect.value;
      this.browseSelect.value = "";
      onBrowse(value);
    });
    this.pointerButton = stageButton("Pointer", { class: "stage-button stage-pointer-toggle", dataset: { testid: "stage-pointer" }, hidden: true });
    this.pointerButton.setAttribute("aria-pressed", "false");
    this.pointerButton.title = "Point at the page for everyone (red dot)";
    this.pointerButton.addEventListener("click", () => onPointer());
    this.el = h(
      "div",
      { class: "stage-bar" },
      h("div", { class: "stage-bar-status" }, this.statusEl, this.lockChip),
      h("div", { class: "stage-bar-tools" }, this.backButton, this.browseSelect, this.pointerButton, ...tools),
    );
  }

  /**
   * The status line and which tools show. o: {stage, target, following, visible, manage, by (who
   * shared it, or null), describe(target) (a target in words)}.
   */
  renderStatus({ stage, target, following, visible, manage, by, describe }) {
    this.statusEl.textContent = following
      ? visible
        ? target.kind === "panel" // the panel shows its own title
          ? `On stage${by ? ` · shared by ${by}` : ""}`
          : `On stage: ${describe(target)}`
        : "The stage is empty. Share a panel, a document or a camera."
      : `Browsing privately: ${describe(target)}`;
    this.statusEl.title = following ? (by ? `Shared by ${by}` : "") : `The presenter shows: ${describe(stage)}`;
    this.lockChip.hidden = !stage.locked_follow || manage;
    this.backButton.hidden = following;
  }

  /** The panels and ready documents to browse privately (only rebuilt when they changed). */
  renderBrowseSelect(show, panels, documents) {
    const items = [
      ...panels.map((p) => ({ value: `panel:${p.id}`, text: p.title, group: "Panels" })),
      ...documents.filter((d) => d.status === "ready").map((d) => ({ value: `document:${d.id}`, text: d.title, group: "Documents" })),
    ];
    this.browseSelect.hidden = !show || !items.length;
    if (this.browseSelect.hidden) return;
    const signature = JSON.stringify(items);
    if (signature === this.browseSignature) return;
    this.browseSignature = signature;
    const groups = new Map();
    for (const item of items) {
      if (!groups.has(item.group)) groups.set(item.group, h("optgroup", { label: item.group }));
      groups.get(item.group).append(h("option", { value: item.value, text: item.text }));
    }
    this.browseSelect.replaceChildren(h("option", { value: "", text: "Browse…" }), ...groups.values());
  }

  setPointerPressed(on) {
    this.pointerButton.setAttribute("aria-pressed", String(on));
    this.pointerButton.classList.toggle("active", on);
  }
}
