// Everything people do together in a meeting besides sending media: the side panel (chat, people,
// host tools), raised hands, reactions, screen sharing, the active speaker, the lobby, and what a
// participant sees when a host acts on them (muted: self_moderation.js; removed, the meeting ended).
// Attached to a Meeting by meeting.js: attachCollab(meeting) after render().
import { shortcutsDialog } from "./meeting_dialogs.js";
import { ScreenShare } from "./screen_share.js";
import { h, toast, actionToast } from "./dom.js";
import { t } from "./i18n.js";
import { icon } from "./icons.js";
import { ChatPanel } from "./chat.js";
import { PeoplePanel, MANAGERS } from "./people.js";
import { HostPanel } from "./moderation.js";
import { SelfModeration } from "./self_moderation.js";

export const REACTIONS = ["👍", "👏", "❤️", "😂", "😮", "🎉", "🙏", "👎"];

export function attachCollab(meeting) {
  const collab = new Collab(meeting);
  collab.mount();
  return collab;
}

/** Control-bar handlers for controls.js, created before the Collab itself (resolved lazily). */
export function collabControls(meeting) {
  return {
    onShare: () => meeting.collab && (meeting.collab.screen ? meeting.collab.stopShare() : meeting.collab.startShare()),
    canShare: Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia) && meeting.canPublish,
    onHand: () => meeting.collab?.toggleHand(),
    onReact: (emoji) => meeting.collab?.react(emoji),
    reactions: REACTIONS,
    onPanel: (name) => meeting.collab?.togglePanel(name),
    onShortcuts: () => shortcutsDialog(),
  };
}

export class Collab {
  constructor(meeting) {
    this.meeting = meeting;
    this.panelName = null;
    this.hands = [];
    this.lobby = [];
    this.settings = { locked: false, lobby_enabled: false, allow_self_unmute: true, ended: false };
    this.share = new ScreenShare(meeting);
    this.unlisten = [];
    const request = (event, payload) => this.request(event, payload);
    this.chat = new ChatPanel({
      send: (text) => request("chat_send", { text }),
      canSend: this.role !== "viewer",
      onUnread: (n) => this.meeting.controls?.setBadge("chat", n),
    });
    const ctx = {
      request,
      role: () => this.role,
      selfId: () => this.meeting.selfId(),
      participants: () => this.participants(),
    };
    this.people = new PeoplePanel(ctx);
    this.host = new HostPanel(ctx);
    this.moderated = new SelfModeration({ meeting: this.meeting, request, settings: () => this.settings });
  }

  get role() {
    return this.meeting.state.self?.role || this.meeting.state.role || "participant";
  }

  get canManage() {
    return MANAGERS.includes(this.role);
  }

  request(event, payload) {
    if (!this.meeting.conn) return Promise.reject(new Error("not connected"));
    return this.meeting.conn.request(event, payload);
  }

  /** Everyone in the meeting, self first (viewers excluded, as in the protocol's lists). */
  participants() {
    const s = this.meeting.state;
    const list = Object.values(s.participants);
    if (s.self && s.self.role !== "viewer") list.unshift(this.meeting.selfParticipant());
    return list;
  }

  // ---- DOM -------------------------------------------------------------------------------------

  mount() {
    const m = this.meeting;
    this.tabs = {};
    const tab = (name, label) => {
      const b = h("button", {
        type: "button",
        class: "panel-tab",
        text: label,
        id: `panel-tab-${name}`,
        dataset: { testid: `panel-tab-${name}` },
        attrs: { role: "tab", "aria-selected": "false", "aria-controls": `panel-${name}` },
      });
      b.addEventListener("click", () => this.openPanel(name));
      this.tabs[name] = b;
      return b;
    };
    this.bodies = {
      chat: h("div", { class: "panel-body", id: "panel-chat", attrs: { role: "tabpanel", "aria-labelledby": "panel-tab-chat" } }, this.chat.el),
      people: h("div", { class: "panel-body", id: "panel-people", attrs: { role: "tabpanel", "aria-labelledby": "panel-tab-people" } }, this.people.el),
      host: h("div", { class: "panel-body", id: "panel-host", attrs: { role: "tabpanel", "aria-labelledby": "panel-tab-host" } }, this.host.el),
    };
    const close = h("button", {
      type: "button",
      class: "panel-close",
      dataset: { testid: "panel-close" },
      attrs: { "aria-label": t("sidePanel.close") },
      on: { click: () => this.closePanel() },
    }, icon("close"));
    this.panel = h(
      "aside",
      { class: "side-panel", hidden: true, attrs: { "aria-label": t("sidePanel.label") } },
      h("div", { class: "panel-header" },
        h("div", { class: "panel-tabs", attrs: { role: "tablist" } }, tab("chat", t("controls.chat")), tab("people", t("controls.people")), tab("host", t("controls.hostLabel"))),
        close),
      this.bodies.chat, this.bodies.people, this.bodies.host,
    );
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.closePanel();
    });
    // Put the panel beside whatever holds the gallery (the gallery itself, or the stage layout).
    const root = m.root.querySelector(".meeting");
    let holder = m.gallery.container;
    while (holder.parentNode && holder.parentNode !== root) holder = holder.parentNode;
    const body = h("div", { class: "meeting-body" });
    holder.replaceWith(body);
    body.append(holder, this.panel);
    // Reactions that land where no tile is shown (another page, a viewer) float here.
    this.floats = h("div", { class: "reaction-floats", attrs: { "aria-hidden": "true" } });
    body.append(this.floats);
    this.lobbyOverlay = null;
    if (m.choices?.speakerId) m.gallery.setSinkId(m.choices.speakerId);
    this.renderRole();
  }

  renderRole() {
    this.tabs.host.hidden = !this.canManage;
    if (!this.canManage && this.panelName === "host") this.openPanel("people");
    this.chat.setCanSend(this.role !== "viewer");
    this.meeting.controls?.setRole?.(this.role);
    this.people.render();
    this.host.render();
  }

  openPanel(name) {
    if (name === "host" && !this.canManage) name = "people";
    this.panelName = name;
    this.panel.hidden = false;
    this.meeting.root.querySelector(".meeting")?.classList.add("panel-open");
    for (const [n, b] of Object.entries(this.tabs)) {
      b.setAttribute("aria-selected", String(n === name));
      this.bodies[n].hidden = n !== name;
    }
    this.chat.setVisible(name === "chat");
    this.meeting.controls?.setPanel(name);
    if (name === "chat") this.chat.input.focus({ preventScroll: true });
    else this.tabs[name].focus({ preventScroll: true });
    requestAnimationFrame(() => this.meeting.gallery.layout());
  }

  closePanel() {
    this.panelName = null;
    this.panel.hidden = true;
    this.chat.setVisible(false);
    this.meeting.root.querySelector(".meeting")?.classList.remove("panel-open");
    this.meeting.controls?.setPanel(null);
    requestAnimationFrame(() => this.meeting.gallery.layout());
  }

  togglePanel(name) {
    if (this.panelName === name) this.closePanel();
    else this.openPanel(name);
  }

  // ---- connection ------------------------------------------------------------------------------

  bind(conn) {
    const on = (event, fn) => this.unlisten.push(conn.on(event, fn));
    on("chat_message", (m) => {
      this.chat.add(m);
      this.announceChat(m);
    });
    on("hands", (d) => this.setHands(d && d.queue, { announce: true }));
    on("reaction", (d) => this.onReaction(d));
    on("meeting_settings", (s) => this.setSettings(s));
    on("lobby", (d) => this.setLobby(d && d.entries, { announce: true }));
    on("moderated", (d) => this.onModerated(d));
    on("unmute_requested", (d) => this.onUnmuteRequested(d));
    on("active_speaker", (d) => this.meeting.gallery.setActiveSpeaker(d && d.participant_id));
    on("removed", (d) => this.meeting.end("removed", d && d.by));
    on("meeting_ended", (d) => this.meeting.end("meeting_ended", d && d.by));
  }

  /** After `join` (or `joined` from the lobby): the ack's chat, hands, settings and lobby. */
  onJoined(ack) {
    this.hideLobby();
    this.chat.selfId = ack.self?.id;
    this.chat.setHistory(ack.chat || []);
    this.setSettings(ack.settings);
    this.setHands(ack.hands);
    this.setLobby(Array.isArray(ack.lobby) ? ack.lobby : [], { announce: true, initial: true });
    this.moderated.reset();
    this.renderRole();
    if (this.screen) this.meeting.gallery.setSelfPresenting({ onStop: () => this.stopShare() });
  }

  onSelfUpdated(prevRole) {
    if (prevRole && prevRole !== this.role) {
      const key = { host: "roles.nowHost", staff: "roles.nowStaff", participant: "roles.nowParticipant" }[this.role];
      if (key) toast(t(key));
    }
    this.renderRole();
  }

  setSettings(settings) {
    if (!settings || typeof settings !== "object") return;
    const prev = this.settings;
    this.settings = { ...this.settings, ...settings };
    this.host.setSettings(this.settings);
    if (prev.locked !== this.settings.locked && this.meeting.state.status === "joined") {
      toast(t(this.settings.locked ? "moderation.locked" : "moderation.unlocked"));
    }
  }

  setHands(queue, { announce = false } = {}) {
    const before = new Set(this.hands);
    this.hands = Array.isArray(queue) ? queue : [];
    if (announce) this.announceHands(this.hands.filter((id) => !before.has(id)));
    const s = this.meeting.state;
    for (const [id, p] of Object.entries(s.participants)) {
      const raised = this.hands.includes(id);
      if (Boolean(p.hand_raised) !== raised) {
        s.participants[id] = { ...p, hand_raised: raised };
        this.meeting.gallery.upsert(s.participants[id]);
      }
    }
    const selfId = this.meeting.selfId();
    if (selfId && s.self) {
      s.self = { ...s.self, hand_raised: this.hands.includes(selfId) };
      if (this.meeting.gallery.has(selfId)) this.meeting.gallery.upsert(this.meeting.selfParticipant(), { isSelf: true });
    }
    this.meeting.controls?.setHand(Boolean(selfId && this.hands.includes(selfId)));
    this.people.setHands(this.hands);
    this.updateBadges();
  }

  setLobby(entries, { announce = false, initial = false } = {}) {
    const list = Array.isArray(entries) ? entries : [];
    const known = new Set(this.lobby.map((e) => e.id));
    const arrived = list.filter((e) => !known.has(e.id));
    this.lobby = list;
    this.people.setLobby(list);
    this.updateBadges();
    if (announce && this.canManage && arrived.length) {
      const [first] = arrived;
      let text;
      if (arrived.length > 1) text = t("lobby.waitingMany", { count: arrived.length });
      else if (first.organisation) text = t("lobby.waitingFrom", { name: first.name, organisation: first.organisation });
      else text = t("lobby.waiting", { name: first.name });
      actionToast(initial ? text : text, t("lobby.view"), () => this.openPanel("people"), { testid: "lobby-view" });
    }
  }

  /**
   * Hosts and staff hear of a raised hand by name (a toast with "View", which opens People), as
   * in Zoom; it does not take the focus. One toast at a time: a newer hand replaces it.
   */
  announceHands(raised) {
    const selfId = this.meeting.selfId();
    const names = raised.filter((id) => id !== selfId).map((id) => this.meeting.state.participants[id]?.name).filter(Boolean);
    if (!this.canManage || !names.length) return;
    const text = names.length === 1 ? t("hands.raisedOne", { name: names[0] }) : t("hands.raisedMany", { count: names.length });
    this.handToast?.remove();
    this.handToast = actionToast(text, t("hands.view"), () => this.openPanel("people"), { testid: "hand-toast", timeoutMs: 8000 });
  }

  /**
   * A chat message from someone else while the chat is closed: a toast with the name and the
   * message's first words ("Reply" opens the chat), as Zoom and Jitsi do. Text only, never HTML.
   */
  announceChat(m) {
    if (!m || this.panelName === "chat" || m.participant_id === this.meeting.selfId()) return;
    const words = String(m.text || "").replace(/\s+/g, " ").trim();
    const preview = words.length > 80 ? `${words.slice(0, 79).trimEnd()}…` : words;
    this.chatToast?.remove();
    this.chatToast = actionToast(t("chat.toast", { name: m.name || t("chat.someone"), text: preview }), t("chat.reply"),
      () => this.openPanel("chat"), { testid: "chat-toast", timeoutMs: 6000 });
    this.chatToast.classList.add("toast-chat");
  }

  updateBadges() {
    const n = (this.canManage ? this.lobby.length : 0) + (this.canManage ? this.hands.length : 0);
    this.meeting.controls?.setBadge("people", n);
  }

  refreshPeople() {
    this.people.render();
  }

  // ---- hands and reactions -------------------------------------------------------------------

  async toggleHand() {
    const selfId = this.meeting.selfId();
    if (!selfId) return;
    const raised = !this.hands.includes(selfId);
    try {
      const ack = await this.request("hand", { raised });
      this.setHands(ack.queue);
      if (raised) toast(t("hands.raisedSelf"));
    } catch {
      /* error toast */
    }
  }

  react(emoji) {
    this.request("react", { emoji }).catch(() => {});
  }

  onReaction(d) {
    if (!d || !REACTIONS.includes(d.emoji)) return;
    if (this.meeting.gallery.showReaction(d.participant_id, d.emoji)) return;
    const el = h("div", { class: "reaction-float" }, h("span", { class: "reaction-emoji", text: d.emoji }), h("span", { class: "reaction-name", text: d.name || "", attrs: { translate: "no" } }));
    el.style.left = `${10 + Math.random() * 30}%`;
    this.floats.append(el);
    setTimeout(() => el.remove(), 3500);
  }

  // ---- moderation: this participant's side (self_moderation.js) -------------------------------

  onModerated(d) {
    this.moderated.onModerated(d);
  }

  /** Whether this participant may turn `kind` back on by themselves; if not, says so. */
  mayUnmute(kind) {
    return this.moderated.mayUnmute(kind);
  }

  // ---- moderation: a request to the hosts ------------------------------------------------------

  onUnmuteRequested(d) {
    if (!d || !d.participant_id) return;
    const name = d.name || t("common.someone");
    actionToast(t(d.kind === "video" ? "moderation.asksVideo" : "moderation.asksUnmute", { name }), t("moderation.allow"), () => {
      this.request("allow_unmute", { participant_id: d.participant_id, kind: d.kind || "audio" }).catch(() => {});
    }, { timeoutMs: 30000, testid: "allow-unmute" });
  }

  // ---- screen share (screen_share.js) ----------------------------------------------------------

  /** {stream, track} while this client shares its screen, else null. */
  get screen() {
    return this.share.screen;
  }

  startShare() {
    return this.share.start({ toStage: this.canManage });
  }

  stopShare() {
    return this.share.stop();
  }

  /** The publish entry for the screen share, if sharing (meeting.js adds it to its entries). */
  screenEntry() {
    return this.share.entry();
  }

  // ---- lobby (this client waits) ---------------------------------------------------------------

  showLobby(info) {
    this.hideLobby();
    const title = info?.room?.title || this.meeting.state.room.title;
    const leave = h("button", { type: "button", class: "button button-ghost", text: t("controls.leave"), dataset: { testid: "lobby-leave" } });
    leave.addEventListener("click", () => this.meeting.leave());
    this.lobbyOverlay = h("div", { class: "lobby-screen", dataset: { testid: "lobby-wait" }, attrs: { role: "dialog", "aria-modal": "true", "aria-labelledby": "lobby-title" } },
      h("div", { class: "notice-card calm" },
        h("div", { class: "lobby-spinner", attrs: { "aria-hidden": "true" } }),
        h("p", { class: "eyebrow", text: title, attrs: { translate: "no" } }),
        h("h1", { id: "lobby-title", text: t("lobby.waitTitle"), attrs: { tabindex: "-1" } }),
        h("p", { text: t("lobby.waitMessage") }),
        h("div", { class: "notice-actions" }, leave)));
    this.meeting.root.querySelector(".meeting")?.append(this.lobbyOverlay);
    this.lobbyOverlay.querySelector("h1").focus({ preventScroll: true });
  }

  hideLobby() {
    this.lobbyOverlay?.remove();
    this.lobbyOverlay = null;
  }

  destroy() {
    this.unlisten.forEach((off) => off());
    this.unlisten = [];
    this.share.release();
    this.people.destroy();
    this.moderated.hideBanner();
    this.hideLobby();
  }
}
