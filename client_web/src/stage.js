// The shared stage (docs/protocol.md, "Stage, panels and documents"): what the host and staff put
// in front of everyone (a live panel, a document page, a participant's camera or screen) next to
// the gallery. Everyone follows it unless they browse privately (and the host did not lock that).
// Host and staff get the "Share to stage" menu, the panel editor, uploads, page turning and the
// pointer. Hooked into the meeting by attachStage(meeting) and four calls (see meeting.js).
//
// StageView (here) holds the state, listens to the server, sends the requests and handles
// browsing; the parts it is drawn with: stage_bar.js (status and tools), stage_content.js (what is
// shown), stage_menu.js ("Share to stage"), stage_upload.js (uploads), stage_changes.js (sending
// stage changes one at a time); stage_model.js holds the pure functions.
import { h, toast, isTyping } from "./dom.js";
import { t } from "./i18n.js";
import { loadCities } from "./cities.js";
import { viewTarget, targetKey, clampPage } from "./stage_model.js";
import { StageBar, describeTarget, targetPage } from "./stage_bar.js";
import { StageContent } from "./stage_content.js";
import { StageMenu, shareCandidates } from "./stage_menu.js";
import { StageUpload } from "./stage_upload.js";
import { StageChanges } from "./stage_changes.js";

const MANAGERS = ["host", "staff"];
const EMPTY_STAGE = {
  kind: "empty",
  panel_id: null,
  document_id: null,
  page: null,
  pointer: null,
  participant_id: null,
  source: null,
  locked_follow: false,
  version: 0,
  changed_by: null,
  changed_at: null,
};
const LOCAL_ERRORS = new Set(["timeout", "disconnected", "bad_response"]);

/** Wrap the meeting's gallery in the stage layout and return the StageView. */
export function attachStage(meeting) {
  const view = new StageView(meeting);
  const gallery = meeting.gallery?.container;
  if (gallery && gallery.parentNode) {
    gallery.replaceWith(view.layout);
    view.layout.append(view.el, gallery);
  }
  return view;
}

export class StageView {
  constructor(meeting) {
    this.meeting = meeting;
    this.stage = { ...EMPTY_STAGE };
    this.panels = [];
    this.panelData = new Map();
    this.documents = [];
    this.progress = new Map(); // document id -> {done, total}
    this.key = "";
    this.role = meeting.state?.role || "participant";
    this.browse = null;
    this.pointerMode = false;
    this.names = new Map(); // participant id -> last known name
    this.boundConn = null;
    this.unlisten = [];
    this.conflicts = 0;
    this.changes = new StageChanges({
      send: (event, payload) => this.send(event, payload),
      version: () => this.stage.version ?? 0,
      applied: (stage) => this.applyStage(stage),
      conflicted: () => this.onConflict(),
    });
    this.build();
    this.onKey = (event) => this.handleKey(event);
    document.addEventListener("keydown", this.onKey);
    this.render();
  }

  get canManage() {
    return MANAGERS.includes(this.role);
  }

  /** What the stage shows now ({type, id, view, following, ...}; stage_content.js), or null. */
  get current() {
    return this.content.current;
  }

  // ---- DOM -------------------------------------------------------------------------------------

  build() {
    this.uploads = new StageUpload({
      progress: this.progress,
      canManage: () => this.canManage,
      roomId: () => this.meeting.state.roomId,
      key: () => this.key,
      closeMenu: () => this.menu.close(),
      refreshMenu: () => this.menu.refresh(),
      added: (doc) => this.addDocument(doc),
      setStage: (payload) => this.setStage(payload),
    });
    this.menu = new StageMenu({
      data: () => ({ stage: this.stage, panels: this.panels, documents: this.documents, progress: this.progress, people: shareCandidates(this.meeting) }),
      canManage: () => this.canManage,
      setStage: (payload) => this.setStage(payload),
      setFollowLock: (locked) => this.changeStage("stage_follow_lock", { locked }),
      lockedFollow: () => Boolean(this.stage.locked_follow),
      send: (event, payload) => this.send(event, payload),
      setPanels: (panels) => this.setPanels(panels),
      chooseFile: () => this.uploads.input.click(),
      roomCity: () => this.meeting.state?.room?.city || null,
    });
    loadCities();
    this.content = new StageContent({
      meeting: this.meeting,
      nameOf: (id) => this.nameOf(id),
      onGoto: (page) => this.gotoPage(page),
      onPointer: (x, y) => this.sendPointer(x, y),
    });
    this.bar = new StageBar({
      onBack: () => this.stopBrowsing(),
      onBrowse: (value) => this.onBrowseSelect(value),
      onPointer: () => this.setPointerMode(!this.pointerMode),
      tools: [this.menu.button, this.uploads.input],
    });
    this.el = h(
      "section",
      { class: "stage-view", dataset: { testid: "stage", kind: "empty", version: "0" }, attrs: { "aria-label": t("stage.label") } },
      this.bar.el,
      this.uploads.el,
      this.content.body,
      this.menu.el,
    );
    this.layout = h("div", { class: "stage-layout" });
  }

  // ---- hooks from the meeting ------------------------------------------------------------------

  /** The join ack (first join and every reconnect): land on the current stage. */
  onJoined(ack) {
    this.bind(this.meeting.conn);
    this.changes.joined();
    this.role = ack.self?.role || this.role;
    this.key = ack.session_key || "";
    this.panels = Array.isArray(ack.panels) ? ack.panels : [];
    this.panelData = new Map();
    for (const update of ack.panel_data || []) if (update && update.panel_id) this.panelData.set(update.panel_id, update);
    this.documents = Array.isArray(ack.documents) ? ack.documents : [];
    this.stage = { ...EMPTY_STAGE, ...(ack.stage || {}) };
    this.requestedPage = null;
    if (this.stage.locked_follow) this.browse = null;
    for (const p of ack.participants || []) this.names.set(p.id, p.name);
    if (ack.self) this.names.set(ack.self.id, ack.self.name);
    this.render();
    this.menu.refresh();
  }

  /** The tracks received changed (a participant's camera or screen may be on the stage). */
  onTracks() {
    if (this.current?.type === "participant") this.content.renderParticipant();
    this.menu.refresh();
  }

  bind(conn) {
    if (!conn || this.boundConn === conn) return;
    this.unlisten.forEach((off) => off());
    this.boundConn = conn;
    const on = (event, fn) => this.unlisten.push(conn.on(event, fn));
    on("stage", (s) => this.applyStage(s));
    on("stage_pointer", (p) => this.onPointer(p));
    on("panels", (m) => this.setPanels(m?.panels));
    on("panel_data", (u) => this.onPanelData(u));
    on("documents", (m) => this.setDocuments(m?.documents));
    on("document_progress", (p) => this.onProgress(p));
    on("participant_joined", (p) => {
      if (p?.id) this.names.set(p.id, p.name);
      this.menu.refresh();
    });
    on("participant_left", () => {
      this.menu.refresh();
      if (this.current?.type === "participant") this.content.renderParticipant();
    });
    on("participant_updated", (p) => this.onParticipantUpdated(p));
  }

  destroy() {
    this.unlisten.forEach((off) => off());
    this.unlisten = [];
    document.removeEventListener("keydown", this.onKey);
    this.menu.destroy();
    this.content.clear();
  }

  // ---- server events ---------------------------------------------------------------------------

  applyStage(s) {
    if (!s || typeof s !== "object") return;
    if (typeof s.version === "number" && s.version < this.stage.version) return; // an older one
    const wasBrowsing = Boolean(this.browse);
    this.stage = { ...EMPTY_STAGE, ...s };
    this.requestedPage = null;
    if (this.stage.locked_follow && wasBrowsing) {
      this.browse = null;
      toast(t("stage.followAsked"));
    }
    this.render();
    this.menu.refresh();
  }

  onPointer(p) {
    if (!p) return;
    const x = typeof p.x === "number" ? p.x : null;
    const y = typeof p.y === "number" ? p.y : null;
    this.stage.pointer = x === null || y === null ? null : [x, y];
    if (this.current?.type === "document" && this.current.following) this.current.view.setPointer(x, y);
  }

  setPanels(panels) {
    if (!Array.isArray(panels)) return;
    this.panels = panels;
    const ids = new Set(panels.map((p) => p.id));
    for (const id of [...this.panelData.keys()]) if (!ids.has(id)) this.panelData.delete(id);
    if (this.browse?.kind === "panel" && !ids.has(this.browse.panel_id)) this.browse = null;
    this.render();
    this.menu.refresh();
  }

  onPanelData(update) {
    if (!update || !update.panel_id) return;
    const previous = this.panelData.get(update.panel_id);
    this.panelData.set(update.panel_id, update.data == null && previous ? { ...update, data: previous.data } : update);
    if (this.current?.type === "panel" && this.current.id === update.panel_id) this.current.view.setData(update);
  }

  setDocuments(documents) {
    if (!Array.isArray(documents)) return;
    this.documents = documents;
    const ids = new Set(documents.map((d) => d.id));
    if (this.browse?.kind === "document" && !ids.has(this.browse.document_id)) this.browse = null;
    this.uploads.documentsChanged(documents);
    this.render();
    this.menu.refresh();
  }

  /** An uploaded document the server accepted (it may not have announced it yet): as now known. */
  addDocument(doc) {
    if (!this.documents.some((d) => d.id === doc.id)) this.documents = [...this.documents, doc];
    return this.documents.find((d) => d.id === doc.id);
  }

  onProgress(p) {
    if (!p || !p.document_id) return;
    this.progress.set(p.document_id, { done: p.done, total: p.total });
    this.uploads.progressed(p.document_id);
    this.menu.refresh();
  }

  onParticipantUpdated(p) {
    if (!p || !p.id) return;
    this.names.set(p.id, p.name);
    if (p.id === this.meeting.selfId?.() && p.role && p.role !== this.role) {
      this.role = p.role;
      if (!this.canManage) {
        this.menu.close();
        this.setPointerMode(false);
      }
      this.render();
    }
    if (this.current?.type === "participant" && this.current.id === p.id) this.content.renderParticipant();
    this.menu.refresh();
  }

  // ---- requests --------------------------------------------------------------------------------

  async send(event, payload) {
    try {
      return await this.meeting.conn.request(event, payload);
    } catch (err) {
      // Refusals by the server also arrive as an `error` event, which the meeting shows as a toast.
      if (LOCAL_ERRORS.has(err?.code)) toast(t("stage.noAnswer"), "error");
      throw err;
    }
  }

  setStage(payload) {
    return this.changeStage("stage_set", payload);
  }

  /**
   * Send one stage change (stage_set or stage_follow_lock) after those in flight (stage_changes.js).
   * Resolves true when applied; false when refused, e.g. `conflict` (another presenter changed the
   * stage first), after which this client shows the current stage.
   */
  changeStage(event, payload) {
    return this.changes.change(event, payload);
  }

  /**
   * Another presenter changed the stage first and ours was refused. The server has already sent
   * the current stage (applied by the `stage` handler), and its refusal, "<name> changed the stage
   * meanwhile; your change was not made", is shown by the meeting as a notice. Drop what this
   * client was about to show and show the current stage.
   */
  onConflict() {
    this.conflicts += 1;
    this.requestedPage = null;
    this.el.dataset.conflicts = String(this.conflicts);
    this.render();
    this.menu.refresh();
  }

  gotoPage(page) {
    const { target, following } = viewTarget(this.stage, this.browse);
    if (target.kind !== "document") return;
    if (following && this.canManage) {
      this.requestedPage = page;
      this.setStage({ kind: "document", document_id: target.document_id, page }).then((ok) => {
        if (!ok) this.requestedPage = null;
      });
    } else if (!this.stage.locked_follow) {
      this.browse = { kind: "document", document_id: target.document_id, page };
      this.render();
    }
  }

  sendPointer(x, y) {
    if (!this.canManage || !this.pointerMode) return;
    this.meeting.conn.request("stage_pointer", { x, y }).catch(() => {});
  }

  setPointerMode(on) {
    const was = this.pointerMode;
    this.pointerMode = Boolean(on) && this.canManage;
    this.bar.setPointerPressed(this.pointerMode);
    if (this.current?.type === "document") this.current.view.setPointerMode(this.pointerMode && this.current.following);
    if (was && !this.pointerMode && this.canManage && this.stage.kind === "document") {
      this.meeting.conn?.request("stage_pointer", { x: null, y: null }).catch(() => {});
    }
  }

  // ---- browsing --------------------------------------------------------------------------------

  stopBrowsing() {
    this.browse = null;
    this.render();
  }

  /** A choice in the browse select: "panel:<id>" or "document:<id>". */
  onBrowseSelect(value) {
    if (!value || this.stage.locked_follow) return;
    const [kind, id] = [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)];
    if (kind === "panel") this.browse = { kind: "panel", panel_id: id };
    else if (kind === "document") this.browse = { kind: "document", document_id: id, page: 0 };
    this.render();
    this.bar.backButton.focus();
  }

  /** Arrow and Page keys turn the document's pages. */
  handleKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (document.querySelector("dialog[open]") || this.menu.el.contains(event.target)) return;
    if (this.current?.type !== "document" || !this.current.navigable) return;
    const delta = { ArrowRight: 1, PageDown: 1, ArrowLeft: -1, PageUp: -1 }[event.key];
    if (!delta) return;
    event.preventDefault();
    const doc = this.current.doc;
    const base = this.current.following && this.requestedPage !== null ? this.requestedPage : this.current.page;
    const page = clampPage(base, delta, doc.pages.length);
    if (page !== base) this.gotoPage(page);
  }

  // ---- rendering -------------------------------------------------------------------------------

  nameOf(id) {
    if (id === this.meeting.selfId?.()) return t("common.you");
    return this.meeting.state?.participants?.[id]?.name || this.names.get(id) || t("stage.aParticipant");
  }

  render() {
    if (this.browse && this.stage.locked_follow) this.browse = null;
    const { target, following } = viewTarget(this.stage, this.browse);
    const visible = target.kind !== "empty";
    const manage = this.canManage;

    this.el.dataset.kind = this.stage.kind;
    this.el.dataset.version = String(this.stage.version ?? 0);
    this.el.dataset.following = String(following);
    this.el.dataset.showing = target.kind;
    this.el.hidden = !visible && !manage;
    this.el.classList.toggle("is-collapsed", !visible);
    this.layout.classList.toggle("stage-on", visible);

    // bar
    const describe = (what) => describeTarget(what, { panels: this.panels, documents: this.documents, nameOf: (id) => this.nameOf(id) });
    const by = this.stage.changed_by && this.stage.changed_by !== this.meeting.selfId?.() ? this.names.get(this.stage.changed_by) : null;
    this.bar.renderStatus({ stage: this.stage, target, following, visible, manage, by, describe, page: targetPage(target, this.documents) });
    this.menu.button.hidden = !manage;
    this.bar.renderBrowseSelect(!manage && !this.stage.locked_follow && visible, this.panels, this.documents);
    const pointing = manage && following && target.kind === "document";
    this.bar.pointerButton.hidden = !pointing;
    if (!pointing && this.pointerMode) this.setPointerMode(false);

    // A camera or screen shown here is not shown again in the gallery's spotlight.
    this.meeting.gallery?.setOnStage(target.kind === "participant" ? { id: target.participant_id, source: target.source || "camera" } : null);

    // content
    this.el.dataset.target = targetKey(target);
    this.content.show(target, {
      following,
      panels: this.panels,
      panelData: this.panelData,
      documents: this.documents,
      canManage: this.canManage,
      lockedFollow: this.stage.locked_follow,
      pointerMode: this.pointerMode,
      pointer: this.stage.pointer,
      key: this.key,
    });
  }

  // ---- for tests and debugging (window.sitroom.stage) ------------------------------------------

  snapshot() {
    const { target, following } = viewTarget(this.stage, this.browse);
    const view = this.current?.type === "panel" ? this.current.view.snapshot() : null;
    return JSON.parse(
      JSON.stringify({
        stage: this.stage,
        kind: this.stage.kind,
        version: this.stage.version,
        following,
        browsing: this.browse,
        showing: target,
        canManage: this.canManage,
        pointerMode: this.pointerMode,
        conflicts: this.conflicts,
        panels: this.panels.map((p) => ({ id: p.id, title: p.title, kind: p.kind })),
        documents: this.documents.map((d) => ({ id: d.id, title: d.title, status: d.status, page_count: d.page_count })),
        panel: view,
        upload: this.uploads.current,
      }),
    );
  }
}
