// The "Share to stage" menu of hosts and staff: data panels (share, edit, delete, new: the panel
// editor of panel_editor.js), documents (share, delete, upload), people's cameras and screens, the
// follow lock and Clear stage. Delete asks for a second click.
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";
import { openPanelEditor } from "./panel_editor.js";
import { citiesNow } from "./cities.js";
import { describeSource, kindLabel } from "./stage_model.js";
import { trackFor } from "./stage_content.js";
import { stageButton as button } from "./stage_bar.js";

const DELETE_CONFIRM_MS = 4000;

/** Who can be shared to the stage: self (unless a viewer) and the others, each with their sources. */
export function shareCandidates(meeting) {
  const self = meeting.state?.self;
  const selfId = meeting.selfId?.();
  const candidates = [];
  if (self && meeting.canPublish !== false) candidates.push({ id: selfId, name: t("common.selfName", { name: self.name }) });
  for (const p of Object.values(meeting.state?.participants || {})) candidates.push({ id: p.id, name: p.name });
  for (const c of candidates) {
    c.sources = ["camera"];
    if (trackFor(meeting, c.id, "screen")) c.sources.push("screen");
  }
  return candidates;
}

function section(title, ...children) {
  return h("section", { class: "stage-menu-section" }, h("h3", { text: title }), ...children);
}

/** A list of rows, or a note when there are none. */
function listOr(rows, emptyText) {
  return rows.length ? h("ul", {}, rows) : h("p", { class: "stage-menu-empty", text: emptyText });
}

/** A menu item button: a title and a detail line. */
function menuItem({ title, detail, detailClass = "stage-menu-item-detail", current, disabled, dataset }) {
  return h(
    "button",
    {
      type: "button",
      class: "stage-menu-item",
      disabled,
      dataset,
      attrs: current ? { "aria-current": "true" } : {},
    },
    h("span", { class: "stage-menu-item-title", text: title, attrs: { translate: "no" } }),
    h("span", { class: detailClass, text: detail }),
  );
}

/** A document's state in the menu: its pages, its failure, or how far its preparation is. */
function documentDetail(d, progress) {
  if (d.status === "ready") return t("documents.pages", { count: d.pages.length || d.page_count });
  if (d.status === "failed") return d.error ? t("documents.failed", { error: d.error }) : t("documents.failedUnknown");
  return progress
    ? t("documents.preparingProgress", { done: formatNumber(progress.done), total: formatNumber(progress.total) })
    : t("documents.preparing");
}

/** A Delete button that asks for a second click. */
function deleteButton(label, action, menuKey) {
  const del = button(t("stage.menu.delete"), { class: "stage-button small danger", dataset: { menuKey }, attrs: { "aria-label": label } });
  let armed = null;
  del.addEventListener("click", () => {
    if (armed) {
      clearTimeout(armed);
      armed = null;
      action();
      return;
    }
    del.textContent = t("stage.menu.sure");
    del.setAttribute("aria-label", t("stage.menu.confirmDelete", { label }));
    armed = setTimeout(() => {
      armed = null;
      del.textContent = t("stage.menu.delete");
      del.setAttribute("aria-label", label);
    }, DELETE_CONFIRM_MS);
  });
  return del;
}

export class StageMenu {
  /**
   * data(): {stage, panels, documents, progress (document id -> {done, total}), people
   * (shareCandidates)}; canManage(); setStage(payload) and setFollowLock(locked): stage changes,
   * resolving true when made; lockedFollow(): the stage's lock now; send(event, payload): a
   * request; setPanels(panels): the panel list after an edit; chooseFile(): opens the upload's
   * file picker.
   */
  constructor(actions) {
    this.actions = actions;
    this.button = button(t("stage.menu.title"), { class: "stage-button stage-share", dataset: { testid: "stage-share" }, hidden: true });
    this.button.setAttribute("aria-haspopup", "dialog");
    this.button.setAttribute("aria-expanded", "false");
    this.button.addEventListener("click", () => (this.el.hidden ? this.open() : this.close()));
    this.el = h("div", {
      class: "stage-menu",
      hidden: true,
      dataset: { testid: "stage-menu" },
      attrs: { role: "dialog", "aria-label": t("stage.menu.title") },
    });
    this.el.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        this.close(true);
      }
    });
    this.onDocClick = (event) => {
      const inside = this.el.contains(event.target) || this.button.contains(event.target) || event.target.closest?.("dialog");
      if (!this.el.hidden && !inside) this.close();
    };
    document.addEventListener("pointerdown", this.onDocClick);
  }

  destroy() {
    document.removeEventListener("pointerdown", this.onDocClick);
  }

  open() {
    if (!this.actions.canManage()) return;
    this.el.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.refresh(true);
    this.el.querySelector("button, input")?.focus();
  }

  close(returnFocus = false) {
    if (this.el.hidden) return;
    this.el.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (returnFocus) this.button.focus();
  }

  /** Build the menu again from data() (only while open, unless forced); keeps the focus. */
  refresh(force = false) {
    if (this.el.hidden && !force) return;
    const focusedKey = document.activeElement?.dataset?.menuKey;
    const { stage, panels, documents, progress, people } = this.actions.data();
    const onStage = (kind, id, extra = true) => stage.kind === kind && extra && (stage.panel_id === id || stage.document_id === id || stage.participant_id === id);
    const close = button(t("common.close"), { class: "stage-button small stage-menu-close", dataset: { menuKey: "close" } });
    close.addEventListener("click", () => this.close(true));
    this.el.replaceChildren(
      h("div", { class: "stage-menu-head" }, h("h2", { text: t("stage.menu.title") }), close),
      section(t("stage.menu.panels"), listOr(panels.map((p) => this.panelRow(p, onStage("panel", p.id))), t("stage.menu.noPanels")), this.newPanelButton()),
      section(t("stage.documents"), listOr(documents.map((d) => this.documentRow(d, progress.get(d.id), onStage("document", d.id))), t("stage.menu.noDocuments")), this.uploadButton()),
      section(t("controls.people"), listOr(this.peopleRows(people, stage, onStage), t("stage.menu.noPeople"))),
      this.foot(stage),
    );
    if (focusedKey) this.el.querySelector(`[data-menu-key="${CSS.escape(focusedKey)}"]`)?.focus();
  }

  /** Share (and close the menu once shared). */
  share(payload) {
    this.actions.setStage(payload).then((ok) => ok && this.close());
  }

  panelRow(p, current) {
    const share = menuItem({
      title: p.title,
      detail: `${kindLabel(p.kind)} · ${describeSource(p, citiesNow())}`,
      current,
      dataset: { sharePanel: p.id, menuKey: `share-panel-${p.id}` },
    });
    share.addEventListener("click", () => this.share({ kind: "panel", panel_id: p.id }));
    const edit = button(t("stage.menu.edit"), { class: "stage-button small", dataset: { editPanel: p.id, menuKey: `edit-panel-${p.id}` }, attrs: { "aria-label": t("stage.menu.editName", { title: p.title }) } });
    edit.addEventListener("click", () => this.editPanel(p));
    const del = deleteButton(t("stage.menu.deleteName", { title: p.title }), () => this.actions.send("panel_delete", { id: p.id }).catch(() => {}), `delete-panel-${p.id}`);
    return h("li", { class: "stage-menu-row" }, share, edit, del);
  }

  newPanelButton() {
    const newPanel = button(t("stage.menu.newPanel"), { class: "stage-button", dataset: { testid: "panel-new", menuKey: "panel-new" } });
    newPanel.addEventListener("click", () => this.editPanel(null));
    return newPanel;
  }

  documentRow(d, progress, current) {
    const share = menuItem({
      title: d.title,
      detail: documentDetail(d, progress),
      detailClass: `stage-menu-item-detail${d.status === "failed" ? " error" : ""}`,
      current,
      disabled: d.status !== "ready",
      dataset: { shareDocument: d.id, menuKey: `share-doc-${d.id}` },
    });
    share.addEventListener("click", () => this.share({ kind: "document", document_id: d.id, page: 0 }));
    const del = deleteButton(t("stage.menu.deleteName", { title: d.title }), () => this.actions.send("document_delete", { id: d.id }).catch(() => {}), `delete-doc-${d.id}`);
    return h("li", { class: "stage-menu-row" }, share, del);
  }

  uploadButton() {
    const upload = button(t("stage.menu.upload"), { class: "stage-button", dataset: { testid: "stage-upload-button", menuKey: "upload" } });
    upload.addEventListener("click", () => this.actions.chooseFile());
    return upload;
  }

  /** One row per candidate and source (camera, and the screen while they share it). */
  peopleRows(people, stage, onStage) {
    const rows = [];
    for (const c of people) {
      for (const source of c.sources) {
        const item = menuItem({
          title: c.name,
          detail: source === "screen" ? t("stage.menu.screenShare") : t("devices.camera"),
          current: onStage("participant", c.id, stage.source === source),
          dataset: { shareParticipant: c.id, source, menuKey: `share-${source}-${c.id}` },
        });
        item.addEventListener("click", () => this.share({ kind: "participant", participant_id: c.id, source }));
        rows.push(h("li", { class: "stage-menu-row" }, item));
      }
    }
    return rows;
  }

  /** The follow lock and Clear stage. */
  foot(stage) {
    const lock = h("input", { type: "checkbox", checked: Boolean(stage.locked_follow), dataset: { testid: "stage-lock", menuKey: "lock" } });
    lock.addEventListener("change", () => {
      this.actions.setFollowLock(lock.checked).then((ok) => {
        if (!ok) lock.checked = this.actions.lockedFollow();
      });
    });
    const clear = button(t("stage.menu.clear"), { class: "stage-button danger", disabled: stage.kind === "empty", dataset: { testid: "stage-clear", menuKey: "clear" } });
    clear.addEventListener("click", () => this.share({ kind: "empty" }));
    return h(
      "section",
      { class: "stage-menu-section stage-menu-foot" },
      h("label", { class: "stage-menu-check" }, lock, ` ${t("stage.menu.followLock")}`),
      clear,
    );
  }

  /** The panel editor, for `panel` or a new one (null); a saved panel updates the list at once. */
  editPanel(panel) {
    openPanelEditor({
      panel,
      cities: citiesNow(),
      defaultCity: this.actions.roomCity(),
      onSave: async (payload, { show = false } = {}) => {
        const ack = await this.actions.send(panel ? "panel_update" : "panel_create", payload);
        if (ack.panel) {
          const panels = this.actions.data().panels;
          const rest = panels.filter((p) => p.id !== ack.panel.id);
          this.actions.setPanels(panel ? panels.map((p) => (p.id === ack.panel.id ? ack.panel : p)) : [...rest, ack.panel]);
          // "Create and show": on the stage for everyone at once.
          if (show && (await this.actions.setStage({ kind: "panel", panel_id: ack.panel.id }))) this.close();
        }
        return ack;
      },
    });
  }
}
