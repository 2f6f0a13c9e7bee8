// The People panel: who is waiting in the lobby (Admit / Deny), the raised-hand queue in order,
// and everyone in the meeting with a per-person menu for hosts and staff (mute, stop video, allow
// unmute, lower hand, roles, remove). What a role may not do is not shown; the server refuses anyway.
import { h, initials, hueFor, toast } from "./dom.js";
import { icon } from "./icons.js";
import { confirmDialog } from "./ui.js";
import { t, formatNumber } from "./i18n.js";

export const MANAGERS = ["host", "staff"];
const ROLE_KEYS = { host: "roles.host", staff: "roles.staff", viewer: "roles.viewer" };

/** A role's chip text ("Host", "Staff", "Viewer"); "" for a participant. */
function roleLabel(role) {
  return ROLE_KEYS[role] ? t(ROLE_KEYS[role]) : "";
}

export class PeoplePanel {
  /** ctx: {request(event, payload), role(), selfId(), participants(), self()} */
  constructor(ctx) {
    this.ctx = ctx;
    this.hands = [];
    this.lobby = [];
    this.openMenu = null;
    this.lobbySection = h("section", { class: "people-section people-lobby", hidden: true, attrs: { "aria-labelledby": "people-lobby-title" } });
    this.handsSection = h("section", { class: "people-section people-hands", hidden: true, attrs: { "aria-labelledby": "people-hands-title" } });
    this.listSection = h("section", { class: "people-section", attrs: { "aria-labelledby": "people-list-title" } });
    this.el = h("div", { class: "people" }, this.lobbySection, this.handsSection, this.listSection);
    this.onDocClick = (e) => {
      if (this.openMenu && !this.openMenu.contains(e.target)) this.closeMenu();
    };
    document.addEventListener("pointerdown", this.onDocClick);
  }

  get canManage() {
    return MANAGERS.includes(this.ctx.role());
  }

  setHands(queue) {
    this.hands = Array.isArray(queue) ? queue : [];
    this.render();
  }

  setLobby(entries) {
    this.lobby = Array.isArray(entries) ? entries : [];
    this.render();
  }

  async act(event, payload, done) {
    try {
      await this.ctx.request(event, payload);
      if (done) toast(done);
    } catch {
      /* shown by the `error` event */
    }
  }

  render() {
    this.closeMenu();
    const manage = this.canManage;
    // Lobby
    this.lobbySection.hidden = !manage || !this.lobby.length;
    if (manage && this.lobby.length) {
      const admitAll = this.lobby.length > 1
        ? h("button", { type: "button", class: "button button-small button-primary", text: t("people.admitAll"),
            on: { click: () => this.lobby.forEach((e) => this.act("lobby_admit", { id: e.id })) } })
        : null;
      this.lobbySection.replaceChildren(
        h("div", { class: "people-head" },
          h("h3", { id: "people-lobby-title", text: t("people.lobbyTitle", { count: this.lobby.length }) }), admitAll),
        h("ul", { class: "people-list" }, this.lobby.map((e) => h(
          "li",
          { class: "person lobby-entry", dataset: { lobbyId: e.id } },
          avatar(e.name, e.id),
          personText(e.name, e.organisation, roleLabel(e.role)),
          h("div", { class: "person-actions" },
            h("button", { type: "button", class: "button button-small button-primary", text: t("people.admit"),
              dataset: { testid: "lobby-admit" }, attrs: { "aria-label": t("people.admitName", { name: e.name }) },
              on: { click: () => this.act("lobby_admit", { id: e.id }) } }),
            h("button", { type: "button", class: "button button-small button-quiet", text: t("people.deny"),
              dataset: { testid: "lobby-deny" }, attrs: { "aria-label": t("people.denyName", { name: e.name }) },
              on: { click: () => this.act("lobby_deny", { id: e.id }) } })),
        ))),
      );
    }
    // Raised hands, in order
    const people = this.ctx.participants();
    const byId = new Map(people.map((p) => [p.id, p]));
    const hands = this.hands.filter((id) => byId.has(id));
    this.handsSection.hidden = !hands.length || !manage;
    if (hands.length && manage) {
      this.handsSection.replaceChildren(
        h("div", { class: "people-head" }, h("h3", { id: "people-hands-title", text: t("people.handsTitle", { count: hands.length }) })),
        h("ol", { class: "people-list hand-queue", dataset: { testid: "hand-queue" } }, hands.map((id, i) => {
          const p = byId.get(id);
          return h(
            "li",
            { class: "person", dataset: { participantId: id } },
            h("span", { class: "queue-pos", text: formatNumber(i + 1) }),
            personText(p.name, p.organisation),
            h("div", { class: "person-actions" },
              h("button", { type: "button", class: "button button-small button-quiet", text: t("people.lower"),
                attrs: { "aria-label": t("people.lowerName", { name: p.name }) },
                on: { click: () => this.act("hand", { raised: false, participant_id: id }) } })),
          );
        })),
      );
    }
    // Everyone
    this.listSection.replaceChildren(
      h("div", { class: "people-head" }, h("h3", { id: "people-list-title", text: t("people.listTitle", { count: people.length }) })),
      h("ul", { class: "people-list" }, people.map((p) => this.row(p))),
    );
  }

  row(p) {
    const selfId = this.ctx.selfId();
    const isSelf = p.id === selfId;
    const status = h("span", { class: "person-status" });
    if (p.hand_raised) status.append(h("span", { class: "status-hand", title: t("status.handRaised"), attrs: { role: "img", "aria-label": t("status.handRaised") } }, icon("hand")));
    status.append(icon(p.audio_muted ? "micOff" : "mic", p.audio_muted ? "status-off" : ""));
    status.append(icon(p.video_muted ? "cameraOff" : "camera", p.video_muted ? "status-off" : ""));
    const li = h(
      "li",
      { class: "person", dataset: { participantId: p.id } },
      avatar(p.name, p.id),
      personText(isSelf ? t("common.selfName", { name: p.name }) : p.name, p.organisation, roleLabel(p.role)),
      status,
    );
    li.setAttribute("aria-label", [p.name, roleLabel(p.role), p.organisation, t(p.audio_muted ? "status.spoken.micMuted" : "status.spoken.micOn"),
      t(p.video_muted ? "status.spoken.cameraOff" : "status.spoken.cameraOn"), p.hand_raised ? t("status.spoken.handRaised") : ""].filter(Boolean).join(", "));
    const items = isSelf ? [] : this.menuItems(p);
    if (items.length) {
      const btn = h("button", {
        type: "button",
        class: "person-more",
        dataset: { testid: "person-menu" },
        attrs: { "aria-label": t("people.actionsFor", { name: p.name }), "aria-haspopup": "menu", "aria-expanded": "false" },
      }, icon("more"));
      const menu = h("div", { class: "person-menu", role: "menu", hidden: true, attrs: { role: "menu" } },
        items.map(([label, fn, danger]) => h("button", {
          type: "button",
          class: `menu-item${danger ? " danger" : ""}`,
          text: label,
          attrs: { role: "menuitem" },
          on: { click: () => { this.closeMenu(); fn(); } },
        })));
      btn.addEventListener("click", () => {
        const open = menu.hidden;
        this.closeMenu();
        if (open) {
          menu.hidden = false;
          btn.setAttribute("aria-expanded", "true");
          this.openMenu = wrap;
          menu.querySelector("button")?.focus();
        }
      });
      menu.addEventListener("keydown", (e) => {
        if (e.key === "Escape") { this.closeMenu(); btn.focus(); }
      });
      const wrap = h("div", { class: "person-menu-wrap" }, btn, menu);
      li.append(wrap);
    }
    return li;
  }

  menuItems(p) {
    const role = this.ctx.role();
    if (!MANAGERS.includes(role)) return [];
    if (role === "staff" && p.role === "host") return [];
    const items = [];
    const name = p.name;
    if (!p.audio_muted) items.push([t("people.menu.mute"), () => this.act("mute", { participant_id: p.id, kind: "audio" }, t("people.done.muted", { name }))]);
    if (!p.video_muted) items.push([t("people.menu.stopVideo"), () => this.act("mute", { participant_id: p.id, kind: "video" }, t("people.done.videoStopped", { name }))]);
    items.push([t("people.menu.allowUnmute"), () => this.act("allow_unmute", { participant_id: p.id, kind: "audio" }, t("people.done.mayUnmute", { name }))]);
    items.push([t("people.menu.allowVideo"), () => this.act("allow_unmute", { participant_id: p.id, kind: "video" }, t("people.done.mayStartVideo", { name }))]);
    if (p.hand_raised) items.push([t("people.menu.lowerHand"), () => this.act("hand", { raised: false, participant_id: p.id })]);
    if (role === "host" || role === "staff") {
      if (p.role === "participant") items.push([t("people.menu.makeStaff"), () => this.act("set_role", { participant_id: p.id, role: "staff" }, t("people.done.nowStaff", { name }))]);
      if (p.role === "staff") items.push([t("people.menu.makeParticipant"), () => this.act("set_role", { participant_id: p.id, role: "participant" }, t("people.done.nowParticipant", { name }))]);
    }
    if (role === "host" && p.role !== "host") {
      items.push([t("people.menu.makeHost"), async () => {
        const ok = await confirmDialog({ title: t("people.makeHostTitle", { name }), message: t("people.makeHostMessage"), confirm: t("people.menu.makeHost"), danger: false });
        if (ok) this.act("set_role", { participant_id: p.id, role: "host" }, t("people.done.nowHost", { name }));
      }]);
    }
    items.push([t("people.menu.remove"), async () => {
      const ok = await confirmDialog({ title: t("people.removeTitle", { name }), message: t("people.removeMessage"), confirm: t("people.removeConfirm") });
      if (ok) this.act("remove", { participant_id: p.id }, t("people.done.removed", { name }));
    }, true]);
    return items;
  }

  closeMenu() {
    if (!this.openMenu) return;
    this.openMenu.querySelector(".person-menu").hidden = true;
    this.openMenu.querySelector(".person-more").setAttribute("aria-expanded", "false");
    this.openMenu = null;
  }

  destroy() {
    document.removeEventListener("pointerdown", this.onDocClick);
  }
}

function avatar(name, id) {
  const el = h("span", { class: "person-avatar", text: initials(name), attrs: { "aria-hidden": "true", translate: "no" } });
  el.style.setProperty("--hue", String(hueFor(id)));
  return el;
}

function personText(name, organisation, role) {
  const nameEl = h("span", { class: "person-name" });
  nameEl.textContent = name || t("common.guest");
  if (name) nameEl.setAttribute("translate", "no");
  return h("span", { class: "person-text" },
    h("span", { class: "person-line" }, nameEl, role ? h("span", { class: "role-chip", text: role }) : null),
    organisation ? h("span", { class: "person-org", text: organisation, attrs: { translate: "no" } }) : null);
}
