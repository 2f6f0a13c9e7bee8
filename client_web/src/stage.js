// The shared stage (docs/protocol.md, "Stage, panels and documents"): what the host and staff put
// in front of everyone (a live panel, a document page, a participant's camera or screen) next to
// the gallery. Everyone follows it unless they browse privately (and the host did not lock that).
// Host and staff get the "Share to stage" menu, the panel editor, uploads, page turning and the
// pointer. Hooked into the meeting by attachStage(meeting) and four calls (see meeting.js).
import { h, toast } from "./dom.js";
import { PanelView } from "./panels.js";
import { DocumentView, uploadDocument } from "./documents.js";
import { openPanelEditor } from "./panel_editor.js";
import {
  viewTarget,
  targetKey,
  clampPage,
  uploadErrorText,
  describeSource,
  expectedVersion,
  KIND_LABELS,
} from "./stage_model.js";

const MANAGERS = ["host", "staff"];
const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
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
const OWN_VERSIONS_KEPT = 64;

function isTyping(target) {
  return Boolean(target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)));
}

function button(text, props = {}) {
  return h("button", { type: "button", class: "stage-button", text, ...props });
}

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
    this.current = null; // {key, type, id, view}
    this.names = new Map(); // participant id -> last known name
    this.upload = null;
    this.boundConn = null;
    this.unlisten = [];
    // Stage changes go out one at a time, each with the expected_version it was based on.
    this.stageQueue = Promise.resolve();
    this.ownVersions = new Set(); // versions this client's own changes made
    this.joins = 0; // join acks so far: a change queued before a rejoin is dropped
    this.conflicts = 0;
    this.build();
    this.onKey = (event) => this.handleKey(event);
    document.addEventListener("keydown", this.onKey);
    this.onDocClick = (event) => {
      const inside = this.menu.contains(event.target) || this.shareButton.contains(event.target) || event.target.closest?.("dialog");
      if (!this.menu.hidden && !inside) this.closeMenu();
    };
    document.addEventListener("pointerdown", this.onDocClick);
    this.render();
  }

  get canManage() {
    return MANAGERS.includes(this.role);
  }

  // ---- DOM -------------------------------------------------------------------------------------

  build() {
    this.statusEl = h("span", { class: "stage-status-text", dataset: { testid: "stage-status" } });
    this.lockChip = h("span", { class: "stage-lock-chip", text: "Following is locked", hidden: true });
    this.backButton = button("Back to the presenter", { class: "stage-button stage-back", dataset: { testid: "stage-back" }, hidden: true });
    this.backButton.addEventListener("click", () => this.stopBrowsing());
    this.browseSelect = h("select", {
      class: "stage-browse",
      dataset: { testid: "stage-browse" },
      attrs: { "aria-label": "Browse panels and documents privately" },
    });
    this.browseSelect.addEventListener("change", () => this.onBrowseSelect());
    this.pointerButton = button("Pointer", { class: "stage-button stage-pointer-toggle", dataset: { testid: "stage-pointer" }, hidden: true });
    this.pointerButton.setAttribute("aria-pressed", "false");
    this.pointerButton.title = "Point at the page for everyone (red dot)";
    this.pointerButton.addEventListener("click", () => this.setPointerMode(!this.pointerMode));
    this.shareButton = button("Share to stage", { class: "stage-button stage-share", dataset: { testid: "stage-share" }, hidden: true });
    this.shareButton.setAttribute("aria-haspopup", "dialog");
    this.shareButton.setAttribute("aria-expanded", "false");
    this.shareButton.addEventListener("click", () => (this.menu.hidden ? this.openMenu() : this.closeMenu()));
    this.fileInput = h("input", {
      type: "file",
      class: "visually-hidden",
      accept: ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg",
      dataset: { testid: "stage-upload-input" },
      attrs: { "aria-hidden": "true", tabindex: "-1" },
    });
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files && this.fileInput.files[0];
      this.fileInput.value = "";
      if (file) this.startUpload(file);
    });

    this.bar = h(
      "div",
      { class: "stage-bar" },
      h("div", { class: "stage-bar-status" }, this.statusEl, this.lockChip),
      h("div", { class: "stage-bar-tools" }, this.backButton, this.browseSelect, this.pointerButton, this.shareButton, this.fileInput),
    );
    this.uploadEl = h("div", { class: "stage-upload", hidden: true, dataset: { testid: "stage-upload" } });
    this.body = h("div", { class: "stage-body" });
    this.menu = h("div", {
      class: "stage-menu",
      hidden: true,
      dataset: { testid: "stage-menu" },
      attrs: { role: "dialog", "aria-label": "Share to stage" },
    });
    this.menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        this.closeMenu(true);
      }
    });
    this.el = h(
      "section",
      { class: "stage-view", dataset: { testid: "stage", kind: "empty", version: "0" }, attrs: { "aria-label": "Stage" } },
      this.bar,
      this.uploadEl,
      this.body,
      this.menu,
    );
    this.layout = h("div", { class: "stage-layout" });
  }

  // ---- hooks from the meeting ------------------------------------------------------------------

  /** The join ack (first join and every reconnect): land on the current stage. */
  onJoined(ack) {
    this.bind(this.meeting.conn);
    this.joins += 1;
    this.ownVersions = new Set(); // the server may have restarted and counted again from 0
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
    this.refreshMenu();
  }

  /** The tracks received changed (a participant's camera or screen may be on the stage). */
  onTracks() {
    if (this.current?.type === "participant") this.renderParticipant(this.current);
    this.refreshMenu();
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
      this.refreshMenu();
    });
    on("participant_left", () => {
      this.refreshMenu();
      if (this.current?.type === "participant") this.renderParticipant(this.current);
    });
    on("participant_updated", (p) => this.onParticipantUpdated(p));
  }

  destroy() {
    this.unlisten.forEach((off) => off());
    this.unlisten = [];
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("pointerdown", this.onDocClick);
    this.clearCurrent();
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
      toast("The host asked everyone to follow the stage.");
    }
    this.render();
    this.refreshMenu();
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
    this.refreshMenu();
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
    const up = this.upload;
    if (up && up.docId) {
      const doc = documents.find((d) => d.id === up.docId);
      if (doc?.status === "ready") up.phase = "ready";
      else if (doc?.status === "failed") {
        up.phase = "failed";
        up.error = doc.error ? `It could not be prepared: ${doc.error}.` : "It could not be prepared.";
      }
      this.renderUpload();
    }
    this.render();
    this.refreshMenu();
  }

  onProgress(p) {
    if (!p || !p.document_id) return;
    this.progress.set(p.document_id, { done: p.done, total: p.total });
    if (this.upload && this.upload.docId === p.document_id && this.upload.phase !== "ready") {
      this.upload.phase = "processing";
      this.renderUpload();
    }
    this.refreshMenu();
  }

  onParticipantUpdated(p) {
    if (!p || !p.id) return;
    this.names.set(p.id, p.name);
    if (p.id === this.meeting.selfId?.() && p.role && p.role !== this.role) {
      this.role = p.role;
      if (!this.canManage) {
        this.closeMenu();
        this.setPointerMode(false);
      }
      this.render();
    }
    if (this.current?.type === "participant" && this.current.id === p.id) this.renderParticipant(this.current);
    this.refreshMenu();
  }

  // ---- requests --------------------------------------------------------------------------------

  async send(event, payload) {
    try {
      return await this.meeting.conn.request(event, payload);
    } catch (err) {
      // Refusals by the server also arrive as an `error` event, which the meeting shows as a toast.
      if (LOCAL_ERRORS.has(err?.code)) toast("The server did not answer; please try again.", "error");
      throw err;
    }
  }

  setStage(payload) {
    return this.changeStage("stage_set", payload);
  }

  /**
   * Send one stage change (stage_set or stage_follow_lock) with `expected_version`: the version the
   * user saw when acting, moved past this client's own changes still in flight (quick page turns).
   * Changes go out one at a time. Resolves true when applied; false when refused, e.g. `conflict`
   * (another presenter changed the stage first), after which this client shows the current stage.
   */
  changeStage(event, payload) {
    const base = this.stage.version ?? 0;
    const joins = this.joins;
    const run = async () => {
      if (joins !== this.joins) return false; // rejoined meanwhile: the user now sees another stage
      const expected_version = expectedVersion(base, this.stage.version ?? 0, this.ownVersions);
      try {
        const ack = await this.send(event, { ...payload, expected_version });
        if (ack.stage && typeof ack.stage.version === "number") {
          this.ownVersions.add(ack.stage.version);
          for (const v of this.ownVersions) if (v < ack.stage.version - OWN_VERSIONS_KEPT) this.ownVersions.delete(v);
          this.applyStage(ack.stage);
        }
        return true;
      } catch (err) {
        if (err?.code === "conflict") this.onConflict();
        return false;
      }
    };
    const done = this.stageQueue.then(run, run);
    this.stageQueue = done;
    return done;
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
    this.refreshMenu();
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
    this.pointerButton.setAttribute("aria-pressed", String(this.pointerMode));
    this.pointerButton.classList.toggle("active", this.pointerMode);
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

  onBrowseSelect() {
    const value = this.browseSelect.value;
    this.browseSelect.value = "";
    if (!value || this.stage.locked_follow) return;
    const [kind, id] = [value.slice(0, value.indexOf(":")), value.slice(value.indexOf(":") + 1)];
    if (kind === "panel") this.browse = { kind: "panel", panel_id: id };
    else if (kind === "document") this.browse = { kind: "document", document_id: id, page: 0 };
    this.render();
    this.backButton.focus();
  }

  handleKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (document.querySelector("dialog[open]") || this.menu.contains(event.target)) return;
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

  describe(target) {
    switch (target.kind) {
      case "panel": {
        const panel = this.panels.find((p) => p.id === target.panel_id);
        return panel ? panel.title : "A panel";
      }
      case "document": {
        const doc = this.documents.find((d) => d.id === target.document_id);
        if (!doc) return "A document";
        return `${doc.title} · page ${(target.page ?? 0) + 1} of ${doc.pages.length || doc.page_count}`;
      }
      case "participant": {
        const name = this.nameOf(target.participant_id);
        return `${name} · ${target.source === "screen" ? "screen" : "camera"}`;
      }
      default:
        return "Nothing on the stage";
    }
  }

  nameOf(id) {
    if (id === this.meeting.selfId?.()) return "You";
    return this.meeting.state?.participants?.[id]?.name || this.names.get(id) || "A participant";
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
    const by = this.stage.changed_by && this.stage.changed_by !== this.meeting.selfId?.() ? this.names.get(this.stage.changed_by) : null;
    this.statusEl.textContent = following
      ? visible
        ? target.kind === "panel" // the panel shows its own title
          ? `On stage${by ? ` · shared by ${by}` : ""}`
          : `On stage: ${this.describe(target)}`
        : "The stage is empty. Share a panel, a document or a camera."
      : `Browsing privately: ${this.describe(target)}`;
    this.statusEl.title = following ? (by ? `Shared by ${by}` : "") : `The presenter shows: ${this.describe(this.stage)}`;
    this.lockChip.hidden = !this.stage.locked_follow || manage;
    this.backButton.hidden = following;
    this.shareButton.hidden = !manage;
    this.renderBrowseSelect(!manage && !this.stage.locked_follow && visible);
    const pointing = manage && following && target.kind === "document";
    this.pointerButton.hidden = !pointing;
    if (!pointing && this.pointerMode) this.setPointerMode(false);

    // content
    this.el.dataset.target = targetKey(target);
    this.renderContent(target, following);
  }

  renderBrowseSelect(show) {
    const items = [
      ...this.panels.map((p) => ({ value: `panel:${p.id}`, text: p.title, group: "Panels" })),
      ...this.documents.filter((d) => d.status === "ready").map((d) => ({ value: `document:${d.id}`, text: d.title, group: "Documents" })),
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

  clearCurrent() {
    if (!this.current) return;
    this.current.view?.destroy?.();
    this.current = null;
    this.body.replaceChildren();
  }

  placeholder(text, detail = "") {
    this.clearCurrent();
    this.current = { type: "message", key: `msg:${text}` };
    this.body.replaceChildren(
      h("div", { class: "stage-message" }, h("p", { class: "stage-message-title", text }), detail ? h("p", { text: detail }) : null),
    );
  }

  renderContent(target, following) {
    if (target.kind === "empty") {
      this.clearCurrent();
      return;
    }
    if (target.kind === "panel") {
      const panel = this.panels.find((p) => p.id === target.panel_id);
      if (!panel) return this.placeholder("This panel is not available any more.");
      if (this.current?.type !== "panel" || this.current.id !== panel.id) {
        this.clearCurrent();
        const view = new PanelView(panel);
        this.current = { type: "panel", id: panel.id, view };
        this.body.replaceChildren(view.el);
        view.setData(this.panelData.get(panel.id));
      } else {
        this.current.view.setPanel(panel);
      }
      this.current.following = following;
      return;
    }
    if (target.kind === "document") {
      const doc = this.documents.find((d) => d.id === target.document_id);
      if (!doc) return this.placeholder("This document is not available any more.");
      if (doc.status !== "ready" || !doc.pages?.length) {
        return this.placeholder(doc.status === "failed" ? "This document could not be prepared." : "The document is being prepared…", doc.title);
      }
      if (this.current?.type !== "document") {
        this.clearCurrent();
        const view = new DocumentView({
          onGoto: (page) => this.gotoPage(page),
          onPointer: (x, y) => this.sendPointer(x, y),
        });
        this.current = { type: "document", view };
        this.body.replaceChildren(view.el);
      }
      const page = Math.min(Math.max(0, target.page ?? 0), doc.pages.length - 1);
      const navigable = following ? this.canManage || !this.stage.locked_follow : true;
      Object.assign(this.current, { id: doc.id, doc, page, following, navigable });
      this.current.view.show(doc, page, {
        key: this.key,
        navigable,
        thumbnails: this.canManage || !following,
      });
      this.current.view.setPointerMode(this.pointerMode && following && this.canManage);
      const pointer = following && Array.isArray(this.stage.pointer) ? this.stage.pointer : null;
      if (!this.pointerMode) this.current.view.setPointer(pointer ? pointer[0] : null, pointer ? pointer[1] : null);
      return;
    }
    if (target.kind === "participant") {
      if (this.current?.type !== "participant") {
        this.clearCurrent();
        const video = h("video", { autoplay: true, muted: true, playsInline: true, attrs: { playsinline: "", "aria-hidden": "true" } });
        const label = h("div", { class: "stage-participant-label" });
        const off = h("p", { class: "stage-participant-off", hidden: true });
        const el = h("div", { class: "stage-participant", dataset: { testid: "stage-participant" } }, video, off, label);
        this.current = { type: "participant", view: { el, video, label, off, destroy: () => el.remove() } };
        this.body.replaceChildren(el);
      }
      Object.assign(this.current, { id: target.participant_id, source: target.source || "camera", following });
      this.renderParticipant(this.current);
    }
  }

  trackFor(id, source) {
    const m = this.meeting;
    if (id === m.selfId?.()) {
      if (source === "camera") return m.videoOn === false ? null : m.media?.videoTrack || null;
      return m.collab?.screen?.track || null; // collab.js owns the local screen share
    }
    return m.remoteTracks?.get(id)?.[source] || null;
  }

  renderParticipant(current) {
    const { id, source, view } = current;
    const present = id === this.meeting.selfId?.() || Boolean(this.meeting.state?.participants?.[id]);
    const name = this.nameOf(id);
    const participant = this.meeting.state?.participants?.[id];
    const track = present ? this.trackFor(id, source) : null;
    const muted = source === "camera" && participant?.video_muted;
    const live = Boolean(track && track.readyState !== "ended" && !muted);
    view.el.dataset.participantId = id;
    view.el.dataset.source = source;
    view.label.textContent = `${name} · ${source === "screen" ? "Screen" : "Camera"}`;
    view.off.hidden = live;
    view.off.textContent = !present
      ? `${name === "A participant" ? "This participant" : name} left the meeting.`
      : muted
        ? `${name}'s camera is off.`
        : `Waiting for ${name === "You" ? "your" : `${name}'s`} ${source === "screen" ? "screen" : "camera"}…`;
    view.video.hidden = !live;
    if (live && view.track !== track) {
      view.track = track;
      view.video.srcObject = new MediaStream([track]);
      view.video.play?.().catch(() => {});
    } else if (!live && view.track) {
      view.track = null;
      view.video.srcObject = null;
    }
  }

  // ---- the share menu --------------------------------------------------------------------------

  openMenu() {
    if (!this.canManage) return;
    this.menu.hidden = false;
    this.shareButton.setAttribute("aria-expanded", "true");
    this.refreshMenu(true);
    this.menu.querySelector("button, input")?.focus();
  }

  closeMenu(returnFocus = false) {
    if (this.menu.hidden) return;
    this.menu.hidden = true;
    this.shareButton.setAttribute("aria-expanded", "false");
    if (returnFocus) this.shareButton.focus();
  }

  refreshMenu(force = false) {
    if (this.menu.hidden && !force) return;
    const focusedKey = document.activeElement?.dataset?.menuKey;
    const stage = this.stage;
    const section = (title, ...children) => h("section", { class: "stage-menu-section" }, h("h3", { text: title }), ...children);
    const onStage = (kind, id, extra = true) => stage.kind === kind && extra && (stage.panel_id === id || stage.document_id === id || stage.participant_id === id);

    const panelItems = this.panels.map((p) => {
      const share = h(
        "button",
        {
          type: "button",
          class: "stage-menu-item",
          dataset: { sharePanel: p.id, menuKey: `share-panel-${p.id}` },
          attrs: onStage("panel", p.id) ? { "aria-current": "true" } : {},
        },
        h("span", { class: "stage-menu-item-title", text: p.title }),
        h("span", { class: "stage-menu-item-detail", text: `${KIND_LABELS[p.kind] || p.kind} · ${describeSource(p)}` }),
      );
      share.addEventListener("click", () => this.setStage({ kind: "panel", panel_id: p.id }).then((ok) => ok && this.closeMenu()));
      const edit = button("Edit", { class: "stage-button small", dataset: { editPanel: p.id, menuKey: `edit-panel-${p.id}` }, attrs: { "aria-label": `Edit ${p.title}` } });
      edit.addEventListener("click", () => this.editPanel(p));
      const del = this.deleteButton(`Delete ${p.title}`, () => this.send("panel_delete", { id: p.id }).catch(() => {}), `delete-panel-${p.id}`);
      return h("li", { class: "stage-menu-row" }, share, edit, del);
    });
    const newPanel = button("+ New data panel", { class: "stage-button", dataset: { testid: "panel-new", menuKey: "panel-new" } });
    newPanel.addEventListener("click", () => this.editPanel(null));

    const docItems = this.documents.map((d) => {
      const ready = d.status === "ready";
      const progress = this.progress.get(d.id);
      const detail = ready
        ? `${d.pages.length || d.page_count} ${(d.pages.length || d.page_count) === 1 ? "page" : "pages"}`
        : d.status === "failed"
          ? `Failed: ${d.error || "could not be prepared"}`
          : progress
            ? `Preparing pages: ${progress.done} of ${progress.total}`
            : "Preparing pages…";
      const share = h(
        "button",
        {
          type: "button",
          class: "stage-menu-item",
          disabled: !ready,
          dataset: { shareDocument: d.id, menuKey: `share-doc-${d.id}` },
          attrs: onStage("document", d.id) ? { "aria-current": "true" } : {},
        },
        h("span", { class: "stage-menu-item-title", text: d.title }),
        h("span", { class: `stage-menu-item-detail${d.status === "failed" ? " error" : ""}`, text: detail }),
      );
      share.addEventListener("click", () => this.setStage({ kind: "document", document_id: d.id, page: 0 }).then((ok) => ok && this.closeMenu()));
      const del = this.deleteButton(`Delete ${d.title}`, () => this.send("document_delete", { id: d.id }).catch(() => {}), `delete-doc-${d.id}`);
      return h("li", { class: "stage-menu-row" }, share, del);
    });
    const uploadButton = button("Upload PDF or image…", { class: "stage-button", dataset: { testid: "stage-upload-button", menuKey: "upload" } });
    uploadButton.addEventListener("click", () => this.fileInput.click());

    const people = [];
    const self = this.meeting.state?.self;
    const selfId = this.meeting.selfId?.();
    const candidates = [];
    if (self && this.meeting.canPublish !== false) candidates.push({ id: selfId, name: `${self.name} (You)` });
    for (const p of Object.values(this.meeting.state?.participants || {})) candidates.push({ id: p.id, name: p.name });
    for (const c of candidates) {
      const sources = ["camera"];
      if (this.trackFor(c.id, "screen")) sources.push("screen");
      for (const source of sources) {
        const item = h(
          "button",
          {
            type: "button",
            class: "stage-menu-item",
            dataset: { shareParticipant: c.id, source, menuKey: `share-${source}-${c.id}` },
            attrs: onStage("participant", c.id, stage.source === source) ? { "aria-current": "true" } : {},
          },
          h("span", { class: "stage-menu-item-title", text: c.name }),
          h("span", { class: "stage-menu-item-detail", text: source === "screen" ? "Screen share" : "Camera" }),
        );
        item.addEventListener("click", () =>
          this.setStage({ kind: "participant", participant_id: c.id, source }).then((ok) => ok && this.closeMenu()),
        );
        people.push(h("li", { class: "stage-menu-row" }, item));
      }
    }

    const lock = h("input", { type: "checkbox", checked: Boolean(stage.locked_follow), dataset: { testid: "stage-lock", menuKey: "lock" } });
    lock.addEventListener("change", () => {
      this.changeStage("stage_follow_lock", { locked: lock.checked }).then((ok) => {
        if (!ok) lock.checked = Boolean(this.stage.locked_follow);
      });
    });
    const clear = button("Clear stage", { class: "stage-button danger", disabled: stage.kind === "empty", dataset: { testid: "stage-clear", menuKey: "clear" } });
    clear.addEventListener("click", () => this.setStage({ kind: "empty" }).then((ok) => ok && this.closeMenu()));
    const close = button("Close", { class: "stage-button small stage-menu-close", dataset: { menuKey: "close" } });
    close.addEventListener("click", () => this.closeMenu(true));

    this.menu.replaceChildren(
      h("div", { class: "stage-menu-head" }, h("h2", { text: "Share to stage" }), close),
      section("Data panels", panelItems.length ? h("ul", {}, panelItems) : h("p", { class: "stage-menu-empty", text: "No panels yet." }), newPanel),
      section("Documents", docItems.length ? h("ul", {}, docItems) : h("p", { class: "stage-menu-empty", text: "No documents yet." }), uploadButton),
      section("People", people.length ? h("ul", {}, people) : h("p", { class: "stage-menu-empty", text: "Nobody with a camera yet." })),
      h(
        "section",
        { class: "stage-menu-section stage-menu-foot" },
        h("label", { class: "stage-menu-check" }, lock, " Everyone follows the stage (no private browsing)"),
        clear,
      ),
    );
    if (focusedKey) this.menu.querySelector(`[data-menu-key="${CSS.escape(focusedKey)}"]`)?.focus();
  }

  /** A Delete button that asks for a second click. */
  deleteButton(label, action, menuKey) {
    const del = button("Delete", { class: "stage-button small danger", dataset: { menuKey }, attrs: { "aria-label": label } });
    let armed = null;
    del.addEventListener("click", () => {
      if (armed) {
        clearTimeout(armed);
        armed = null;
        action();
        return;
      }
      del.textContent = "Sure?";
      del.setAttribute("aria-label", `${label}: click again to confirm`);
      armed = setTimeout(() => {
        armed = null;
        del.textContent = "Delete";
        del.setAttribute("aria-label", label);
      }, 4000);
    });
    return del;
  }

  editPanel(panel) {
    openPanelEditor({
      panel,
      onSave: async (payload) => {
        const ack = await this.send(panel ? "panel_update" : "panel_create", payload);
        if (ack.panel) {
          const rest = this.panels.filter((p) => p.id !== ack.panel.id);
          this.setPanels(panel ? this.panels.map((p) => (p.id === ack.panel.id ? ack.panel : p)) : [...rest, ack.panel]);
        }
        return ack;
      },
    });
  }

  // ---- uploads ---------------------------------------------------------------------------------

  startUpload(file) {
    if (!this.canManage) return;
    const up = { name: file.name, phase: "uploading", fraction: 0, docId: null, error: null };
    this.upload = up;
    if (file.size > MAX_UPLOAD_BYTES) {
      up.phase = "failed";
      up.error = uploadErrorText("too_large");
      this.renderUpload();
      return;
    }
    this.closeMenu();
    this.renderUpload();
    uploadDocument({
      roomId: this.meeting.state.roomId,
      key: this.key,
      file,
      onProgress: (fraction) => {
        up.fraction = fraction;
        if (this.upload === up) this.renderUpload();
      },
    })
      .then((doc) => {
        up.docId = doc.id;
        if (!this.documents.some((d) => d.id === doc.id)) this.documents = [...this.documents, doc];
        const known = this.documents.find((d) => d.id === doc.id);
        up.phase = known?.status === "ready" ? "ready" : known?.status === "failed" ? "failed" : "processing";
        if (up.phase === "failed") up.error = known.error ? `It could not be prepared: ${known.error}.` : "It could not be prepared.";
        if (this.upload === up) this.renderUpload();
        this.refreshMenu();
      })
      .catch((err) => {
        up.phase = "failed";
        up.error = uploadErrorText(err.code, err.message);
        if (this.upload === up) this.renderUpload();
      });
  }

  renderUpload() {
    const up = this.upload;
    this.uploadEl.hidden = !up;
    if (!up) return this.uploadEl.replaceChildren();
    const dismiss = button("×", { class: "stage-button small stage-upload-dismiss", attrs: { "aria-label": "Dismiss" } });
    dismiss.addEventListener("click", () => {
      this.upload = null;
      this.renderUpload();
    });
    this.uploadEl.dataset.phase = up.phase;
    this.uploadEl.classList.toggle("error", up.phase === "failed");
    this.uploadEl.setAttribute("role", up.phase === "failed" ? "alert" : "status");
    const name = `“${up.name}”`;
    let text;
    let bar = null;
    let action = null;
    if (up.phase === "uploading") {
      text = `Uploading ${name}… ${Math.round(up.fraction * 100)}%`;
      bar = h("progress", { max: 1, value: up.fraction, attrs: { "aria-label": "Upload progress" } });
    } else if (up.phase === "processing") {
      const p = this.progress.get(up.docId);
      text = p ? `Preparing the pages of ${name}: ${p.done} of ${p.total}` : `Preparing the pages of ${name}…`;
      bar = p ? h("progress", { max: p.total || 1, value: p.done, attrs: { "aria-label": "Pages prepared" } }) : h("progress", { attrs: { "aria-label": "Preparing pages" } });
    } else if (up.phase === "ready") {
      text = `${name} is ready.`;
      action = button("Show on stage", { class: "stage-button primary", dataset: { testid: "upload-show" } });
      action.addEventListener("click", () =>
        this.setStage({ kind: "document", document_id: up.docId, page: 0 }).then((ok) => {
          if (ok && this.upload === up) {
            this.upload = null;
            this.renderUpload();
          }
        }),
      );
    } else {
      text = `Could not add ${name}: ${up.error}`;
    }
    this.uploadEl.replaceChildren(...[h("span", { class: "stage-upload-text", text }), bar, action, dismiss].filter(Boolean));
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
        upload: this.upload,
      }),
    );
  }
}
