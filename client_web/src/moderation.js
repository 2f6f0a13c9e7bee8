// The host's meeting tools: lock, lobby, self-unmute, mute all, end the meeting for all, invite
// links, and the meeting record (timeline). Shown to hosts and staff; the host-only parts to hosts.
import { h, toast, copyText } from "./dom.js";
import { icon } from "./icons.js";
import { confirmDialog, shortTime } from "./ui.js";

const TIMELINE_TEXT = {
  join: "joined", leave: "left", mute: "muted", mute_all: "muted everyone", allow_unmute: "allowed to unmute",
  remove: "removed", promote: "changed the role of", set_role: "changed the role of", lock: "changed the lock",
  lobby: "changed the lobby", lobby_admit: "admitted", lobby_deny: "turned away", end: "ended the meeting",
  invite_create: "created an invite", invite_revoke: "revoked an invite", raise_hand: "raised a hand",
  lower_hand: "lowered the hand of", stage_set: "changed the stage",
};

function toggle(label, hint, testid, onChange) {
  const input = h("input", { type: "checkbox", class: "switch-input", dataset: { testid } });
  input.addEventListener("change", () => onChange(input.checked, input));
  const el = h("label", { class: "switch" }, input, h("span", { class: "switch-track", attrs: { "aria-hidden": "true" } }),
    h("span", { class: "switch-text" }, h("span", { class: "switch-label", text: label }), h("span", { class: "switch-hint", text: hint })));
  return { el, input };
}

export class HostPanel {
  /** ctx: {request(event, payload), role()} */
  constructor(ctx) {
    this.ctx = ctx;
    this.settings = { locked: false, lobby_enabled: false, allow_self_unmute: true, ended: false };
    this.buildSettings();
    const muteAll = h("button", { type: "button", class: "button button-secondary-dark", text: "Mute everyone", dataset: { testid: "mute-all" } });
    muteAll.addEventListener("click", async () => {
      try {
        const ack = await this.ctx.request("mute_all", { kind: "audio" });
        toast(ack.muted && ack.muted.length ? `Muted ${ack.muted.length} ${ack.muted.length === 1 ? "person" : "people"}.` : "Everyone is already muted.");
      } catch { /* toast from the error event */ }
    });
    this.endBtn = h("button", { type: "button", class: "button button-danger", text: "End meeting for all", dataset: { testid: "end-meeting" } });
    this.endBtn.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: "End the meeting for everyone?", message: "Everyone will be disconnected and the meeting cannot be joined again.", confirm: "End meeting" });
      if (ok) this.ctx.request("end_meeting", {}).catch(() => {});
    });
    const inviteForm = this.buildInviteForm();

    this.timelineList = h("ol", { class: "timeline-list" });
    const loadTimeline = h("button", { type: "button", class: "button button-secondary-dark", text: "Show the meeting record", dataset: { testid: "timeline-load" } });
    loadTimeline.addEventListener("click", () => this.loadTimeline(loadTimeline));

    this.hostOnly = [this.endBtn];
    this.el = h("div", { class: "host-panel" },
      h("section", { class: "host-section" }, h("h3", { text: "Meeting settings" }), this.lock.el, this.lobby.el, this.selfUnmute.el),
      h("section", { class: "host-section host-actions" }, muteAll, this.endBtn),
      h("section", { class: "host-section" }, h("h3", { text: "Invite people" }), inviteForm),
      h("section", { class: "host-section" }, h("h3", { text: "Meeting record" }), loadTimeline, this.timelineList));
    this.render();
  }

  /** The lock, lobby and self-unmute switches; each change is a request (undone if refused). */
  buildSettings() {
    const set = (event, key) => async (value, input) => {
      input.disabled = true;
      try {
        await this.ctx.request(event, { [key]: value });
      } catch {
        input.checked = !value;
      } finally {
        input.disabled = false;
      }
    };
    this.lock = toggle("Lock the meeting", "No one new can join (hosts and staff still can).", "setting-lock", set("lock", "locked"));
    this.lobby = toggle("Lobby", "New participants wait until a host lets them in.", "setting-lobby", set("lobby_enable", "enabled"));
    this.selfUnmute = toggle("Participants may unmute themselves", "When off, muted people must ask to unmute.", "setting-self-unmute", set("set_allow_self_unmute", "allowed"));
  }

  /** The invite link form: role, label, expiry, single use; the link appears below it. */
  buildInviteForm() {
    this.inviteRole = h("select", { class: "field-select", id: "invite-role" },
      ["participant", "viewer", "staff", "host"].map((r) => h("option", { value: r, text: r[0].toUpperCase() + r.slice(1) })));
    this.inviteLabel = h("input", { type: "text", id: "invite-label", maxLength: 80, placeholder: "e.g. Paris delegation" });
    this.inviteDays = h("input", { type: "number", id: "invite-days", min: 1, max: 365, value: 7, class: "field-number" });
    this.inviteSingle = h("input", { type: "checkbox", id: "invite-single" });
    this.inviteResult = h("div", { class: "invite-result", hidden: true });
    const inviteForm = h("form", { class: "invite-form" },
      h("label", { class: "field-label", htmlFor: "invite-role", text: "Role" }), this.inviteRole,
      h("label", { class: "field-label", htmlFor: "invite-label", text: "Label" }), this.inviteLabel,
      h("label", { class: "field-label", htmlFor: "invite-days", text: "Expires after (days)" }), this.inviteDays,
      h("label", { class: "check" }, this.inviteSingle, " Single use (a personal invite)"),
      h("button", { type: "submit", class: "button button-primary", text: "Create invite link", dataset: { testid: "invite-create" } }),
      this.inviteResult);
    inviteForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.createInvite();
    });
    return inviteForm;
  }

  setSettings(settings) {
    if (settings && typeof settings === "object") this.settings = { ...this.settings, ...settings };
    this.render();
  }

  render() {
    this.lock.input.checked = Boolean(this.settings.locked);
    this.lobby.input.checked = Boolean(this.settings.lobby_enabled);
    this.selfUnmute.input.checked = Boolean(this.settings.allow_self_unmute);
    const host = this.ctx.role() === "host";
    this.endBtn.hidden = !host;
    this.inviteRole.querySelector('option[value="host"]').hidden = !host;
    if (!host && this.inviteRole.value === "host") this.inviteRole.value = "participant";
  }

  async createInvite() {
    const days = Math.max(1, Math.min(365, parseInt(this.inviteDays.value, 10) || 7));
    const payload = { role: this.inviteRole.value, expires_in_s: days * 86400 };
    const label = this.inviteLabel.value.trim();
    if (label) payload.label = label;
    if (this.inviteSingle.checked) payload.max_uses = 1;
    let ack;
    try {
      ack = await this.ctx.request("invite_create", payload);
    } catch {
      return;
    }
    const field = h("input", { type: "text", class: "link-input", readOnly: true, value: ack.link, attrs: { "aria-label": "Invite link" } });
    const copy = h("button", { type: "button", class: "button button-secondary-dark", dataset: { testid: "invite-copy" } }, icon("copy"), "Copy");
    copy.addEventListener("click", async () => {
      const ok = await copyText(ack.link);
      copy.lastChild.textContent = ok ? "Copied" : "Copy failed";
      setTimeout(() => (copy.lastChild.textContent = "Copy"), 2000);
    });
    const inv = ack.invite || {};
    const what = `${inv.label ? `${inv.label}: ` : ""}${inv.role || payload.role}, expires in ${days} ${days === 1 ? "day" : "days"}${inv.max_uses === 1 ? ", single use" : ""}`;
    this.inviteResult.replaceChildren(h("p", { class: "invite-what", text: what }), h("div", { class: "link-field" }, field, copy));
    this.inviteResult.hidden = false;
    field.select();
  }

  async loadTimeline(button) {
    button.disabled = true;
    try {
      const ack = await this.ctx.request("timeline", {});
      const events = (ack.events || []).slice(-200).reverse();
      this.timelineList.replaceChildren(...events.map((e) => {
        const verb = TIMELINE_TEXT[e.kind] || e.kind.replace(/_/g, " ");
        const line = [e.actor_name || "Someone", verb, e.target_name || ""].filter(Boolean).join(" ");
        return h("li", {}, h("time", { text: shortTime(e.at), attrs: { datetime: e.at || "" } }), h("span", { text: line }));
      }));
      if (!events.length) this.timelineList.replaceChildren(h("li", { text: "Nothing recorded yet." }));
      button.textContent = "Refresh the meeting record";
    } catch {
      /* error toast */
    } finally {
      button.disabled = false;
    }
  }
}
