// The host's meeting tools: lock, lobby, self-unmute, mute all, end the meeting for all, invite
// links, and the meeting record (timeline). Shown to hosts and staff; the host-only parts to hosts.
import { h, toast, copyText } from "./dom.js";
import { icon } from "./icons.js";
import { confirmDialog, shortTime } from "./ui.js";
import { t } from "./i18n.js";

// The meeting record's events said in words: host.timeline.<kind>.alone ("{{actor}} joined") and
// .target ("{{actor}} muted {{target}}"); other kinds name the kind itself (host.timeline.other).
const TIMELINE_KINDS = new Set(["join", "leave", "mute", "mute_all", "allow_unmute", "remove", "promote", "set_role",
  "lock", "lobby", "lobby_admit", "lobby_deny", "end", "invite_create", "invite_revoke", "raise_hand", "lower_hand",
  "stage_set"]);

/** One event of the meeting record in words. */
function timelineLine(e) {
  const known = TIMELINE_KINDS.has(e.kind);
  const form = e.target_name ? "target" : "alone";
  return t(known ? `host.timeline.${e.kind}.${form}` : `host.timeline.other.${form}`, {
    actor: e.actor_name || t("common.someone"),
    target: e.target_name || "",
    kind: String(e.kind).replace(/_/g, " "),
  });
}

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
    const muteAll = h("button", { type: "button", class: "button button-secondary-dark", text: t("host.muteAll"), dataset: { testid: "mute-all" } });
    muteAll.addEventListener("click", async () => {
      try {
        const ack = await this.ctx.request("mute_all", { kind: "audio" });
        toast(ack.muted && ack.muted.length ? t("host.mutedCount", { count: ack.muted.length }) : t("host.allMuted"));
      } catch { /* toast from the error event */ }
    });
    this.endBtn = h("button", { type: "button", class: "button button-danger", text: t("host.endForAll"), dataset: { testid: "end-meeting" } });
    this.endBtn.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: t("host.endTitle"), message: t("host.endMessage"), confirm: t("host.endConfirm") });
      if (ok) this.ctx.request("end_meeting", {}).catch(() => {});
    });
    const inviteForm = this.buildInviteForm();

    this.timelineList = h("ol", { class: "timeline-list" });
    const loadTimeline = h("button", { type: "button", class: "button button-secondary-dark", text: t("host.showRecord"), dataset: { testid: "timeline-load" } });
    loadTimeline.addEventListener("click", () => this.loadTimeline(loadTimeline));

    this.hostOnly = [this.endBtn];
    this.el = h("div", { class: "host-panel" },
      h("section", { class: "host-section" }, h("h3", { text: t("host.settings") }), this.lock.el, this.lobby.el, this.selfUnmute.el,
        this.recording.el),
      h("section", { class: "host-section host-actions" }, muteAll, this.endBtn),
      h("section", { class: "host-section" }, h("h3", { text: t("host.invite") }), inviteForm),
      h("section", { class: "host-section" }, h("h3", { text: t("host.record") }), loadTimeline, this.timelineList));
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
    this.lock = toggle(t("host.lock"), t("host.lockHint"), "setting-lock", set("lock", "locked"));
    this.lobby = toggle(t("host.lobby"), t("host.lobbyHint"), "setting-lobby", set("lobby_enable", "enabled"));
    this.selfUnmute = toggle(t("host.selfUnmute"), t("host.selfUnmuteHint"), "setting-self-unmute", set("set_allow_self_unmute", "allowed"));
    // Recording (hosts and staff): on starts it, off stops it; everyone then sees REC.
    this.recording = toggle(t("host.recordMeeting"), t("host.recordMeetingHint"), "setting-recording", async (on, input) => {
      input.disabled = true;
      try {
        await this.ctx.request(on ? "recording_start" : "recording_stop", {});
      } catch {
        input.checked = !on;
      } finally {
        input.disabled = false;
      }
    });
  }

  /** The meeting is recorded or not (the `recording` event, the join answer). */
  setRecording(active) {
    this.recording.input.checked = Boolean(active);
  }

  /** The invite link form: role, label, expiry, single use; the link appears below it. */
  buildInviteForm() {
    this.inviteRole = h("select", { class: "field-select", id: "invite-role" },
      ["participant", "viewer", "staff", "host"].map((r) => h("option", { value: r, text: t(`roles.${r}`) })));
    this.inviteLabel = h("input", { type: "text", id: "invite-label", maxLength: 80, placeholder: t("host.labelPlaceholder") });
    this.inviteDays = h("input", { type: "number", id: "invite-days", min: 1, max: 365, value: 7, class: "field-number" });
    this.inviteSingle = h("input", { type: "checkbox", id: "invite-single" });
    this.inviteResult = h("div", { class: "invite-result", hidden: true });
    const inviteForm = h("form", { class: "invite-form" },
      h("label", { class: "field-label", htmlFor: "invite-role", text: t("host.role") }), this.inviteRole,
      h("label", { class: "field-label", htmlFor: "invite-label", text: t("host.label") }), this.inviteLabel,
      h("label", { class: "field-label", htmlFor: "invite-days", text: t("host.expiresAfter") }), this.inviteDays,
      h("label", { class: "check" }, this.inviteSingle, ` ${t("host.singleUse")}`),
      h("button", { type: "submit", class: "button button-primary", text: t("host.createInvite"), dataset: { testid: "invite-create" } }),
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
    const field = h("input", { type: "text", class: "link-input", readOnly: true, value: ack.link, attrs: { "aria-label": t("host.inviteLink") } });
    const copy = h("button", { type: "button", class: "button button-secondary-dark", dataset: { testid: "invite-copy" } }, icon("copy"), t("host.copy"));
    copy.addEventListener("click", async () => {
      const ok = await copyText(ack.link);
      copy.lastChild.textContent = ok ? t("host.copied") : t("host.copyFailed");
      setTimeout(() => (copy.lastChild.textContent = t("host.copy")), 2000);
    });
    const inv = ack.invite || {};
    const role = inv.role || payload.role;
    const expiry = t(inv.max_uses === 1 ? "host.inviteExpiresSingle" : "host.inviteExpires", {
      role: t(`host.inviteRole.${role}`, { defaultValue: role }),
      count: days,
    });
    const what = inv.label ? t("host.inviteLabelled", { label: inv.label, what: expiry }) : expiry;
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
        return h("li", {}, h("time", { text: shortTime(e.at), attrs: { datetime: e.at || "" } }), h("span", { text: timelineLine(e) }));
      }));
      if (!events.length) this.timelineList.replaceChildren(h("li", { text: t("host.recordEmpty") }));
      button.textContent = t("host.refreshRecord");
    } catch {
      /* error toast */
    } finally {
      button.disabled = false;
    }
  }
}
