// What the stage shows, drawn in its body: a live panel (panels.js), a document page with the
// presenter's pointer (documents.js), a participant's camera or screen, or a short message in their
// place. StageView (stage.js) decides what to show; `current` describes what is shown.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";
import { citiesNow } from "./cities.js";
import { PanelView } from "./panels.js";
import { DocumentView } from "./documents.js";

/** Participant `id`'s `source` ("camera" | "screen") track as this client has it, or null. */
export function trackFor(meeting, id, source) {
  const m = meeting;
  if (id === m.selfId?.()) {
    if (source === "camera") return m.videoOn === false ? null : m.media?.videoTrack || null;
    return m.collab?.screen?.track || null; // collab.js owns the local screen share
  }
  return m.remoteTracks?.get(id)?.[source] || null;
}

/**
 * What the stage says in place of a participant's video that is not live. self: it is this
 * participant's own; unknown: the stage does not know their name.
 */
function participantOffText(name, source, { present, muted, self, unknown }) {
  if (!present) return unknown ? t("stage.unknownLeft") : t("stage.participantLeft", { name });
  if (muted) return t("stage.cameraOff", { name });
  const screen = source === "screen";
  if (self) return t(screen ? "stage.waitingOwnScreen" : "stage.waitingOwnCamera");
  return t(screen ? "stage.waitingScreen" : "stage.waitingCamera", { name });
}

export class StageContent {
  /**
   * meeting: for participants and their tracks; nameOf(id): a participant's name as the stage says
   * it; onGoto(page) and onPointer(x, y): a document's page turns and pointer moves.
   */
  constructor({ meeting, nameOf, onGoto, onPointer }) {
    this.meeting = meeting;
    this.nameOf = nameOf;
    this.onGoto = onGoto;
    this.onPointer = onPointer;
    this.current = null; // {type: "panel" | "document" | "participant" | "message", id, view, following, ...}
    this.body = h("div", { class: "stage-body" });
  }

  /**
   * Show `target` (viewTarget's: what is on the stage, or browsed). o: {following, panels,
   * panelData, documents, canManage, lockedFollow, pointerMode, pointer, key}.
   */
  show(target, o) {
    if (target.kind === "empty") {
      this.clear();
      return;
    }
    if (target.kind === "panel") {
      const panel = o.panels.find((p) => p.id === target.panel_id);
      if (!panel) return this.placeholder(t("stage.panelGone"));
      this.showPanel(panel, o.panelData.get(panel.id), o.following);
      return;
    }
    if (target.kind === "document") {
      const doc = o.documents.find((d) => d.id === target.document_id);
      if (!doc) return this.placeholder(t("stage.documentGone"));
      if (doc.status !== "ready" || !doc.pages?.length) {
        return this.placeholder(t(doc.status === "failed" ? "stage.documentFailed" : "stage.documentPreparing"), doc.title);
      }
      this.showDocument(doc, target.page, o);
      return;
    }
    if (target.kind === "participant") this.showParticipant(target.participant_id, target.source || "camera", o.following);
  }

  clear() {
    if (!this.current) return;
    this.current.view?.destroy?.();
    this.current = null;
    this.body.replaceChildren();
  }

  placeholder(text, detail = "") {
    this.clear();
    this.current = { type: "message", key: `msg:${text}` };
    this.body.replaceChildren(
      h("div", { class: "stage-message" }, h("p", { class: "stage-message-title", text }), detail ? h("p", { text: detail, attrs: { translate: "no" } }) : null),
    );
  }

  /** A panel; a new view starts with the panel's latest `data`. */
  showPanel(panel, data, following) {
    if (this.current?.type !== "panel" || this.current.id !== panel.id) {
      this.clear();
      const view = new PanelView(panel, { cities: citiesNow() });
      this.current = { type: "panel", id: panel.id, view };
      this.body.replaceChildren(view.el);
      view.setData(data);
    } else {
      this.current.view.setPanel(panel);
    }
    this.current.following = following;
  }

  /**
   * Page `page` of a ready document. o: {following, canManage, lockedFollow, pointerMode, pointer
   * ([x, y] or null), key (the session key for the page images), ...}.
   */
  showDocument(doc, page, o) {
    if (this.current?.type !== "document") {
      this.clear();
      const view = new DocumentView({
        onGoto: (p) => this.onGoto(p),
        onPointer: (x, y) => this.onPointer(x, y),
      });
      this.current = { type: "document", view };
      this.body.replaceChildren(view.el);
    }
    const shown = Math.min(Math.max(0, page ?? 0), doc.pages.length - 1);
    const navigable = o.following ? o.canManage || !o.lockedFollow : true;
    Object.assign(this.current, { id: doc.id, doc, page: shown, following: o.following, navigable });
    this.current.view.show(doc, shown, {
      key: o.key,
      navigable,
      thumbnails: o.canManage || !o.following,
    });
    this.current.view.setPointerMode(o.pointerMode && o.following && o.canManage);
    const pointer = o.following && Array.isArray(o.pointer) ? o.pointer : null;
    if (!o.pointerMode) this.current.view.setPointer(pointer ? pointer[0] : null, pointer ? pointer[1] : null);
  }

  /** Participant `id`'s camera or screen (source). */
  showParticipant(id, source, following) {
    if (this.current?.type !== "participant") {
      this.clear();
      const video = h("video", { autoplay: true, muted: true, playsInline: true, attrs: { playsinline: "", "aria-hidden": "true" } });
      const label = h("div", { class: "stage-participant-label" });
      const off = h("p", { class: "stage-participant-off", hidden: true });
      // Your own screen on the stage: a note and "Stop presenting", not a picture of your screen
      // inside your screen.
      const stop = h("button", { type: "button", class: "button button-danger", text: t("stage.stopPresenting"),
        dataset: { testid: "stage-stop-share" }, on: { click: () => this.meeting.collab?.stopShare() } });
      const self = h("div", { class: "spotlight-self stage-self-share", hidden: true },
        icon("screen", "spotlight-self-icon"), h("p", { text: t("stage.selfPresenting") }), stop);
      const el = h("div", { class: "stage-participant", dataset: { testid: "stage-participant" } }, video, off, self, label);
      this.current = { type: "participant", view: { el, video, label, off, self, destroy: () => el.remove() } };
      this.body.replaceChildren(el);
    }
    Object.assign(this.current, { id, source, following });
    this.renderParticipant();
  }

  /** Draw the participant on the stage again (their tracks, name, camera or presence changed). */
  renderParticipant() {
    const { id, source, view } = this.current;
    const m = this.meeting;
    const present = id === m.selfId?.() || Boolean(m.state?.participants?.[id]);
    const name = this.nameOf(id);
    const participant = m.state?.participants?.[id];
    const track = present ? trackFor(m, id, source) : null;
    const muted = source === "camera" && participant?.video_muted;
    const ownScreen = id === m.selfId?.() && source === "screen";
    const live = Boolean(track && track.readyState !== "ended" && !muted) && !ownScreen;
    view.self.hidden = !(ownScreen && track);
    view.el.dataset.participantId = id;
    view.el.dataset.source = source;
    view.label.textContent = t(source === "screen" ? "stage.labelScreen" : "stage.labelCamera", { name });
    view.off.hidden = live || !view.self.hidden;
    const self = id === m.selfId?.();
    const unknown = !self && name === t("stage.aParticipant");
    view.off.textContent = participantOffText(name, source, { present, muted, self, unknown });
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
}
