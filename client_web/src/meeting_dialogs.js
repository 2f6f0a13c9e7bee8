// The meeting's dialogs: what a host chooses when leaving, and the keyboard shortcuts.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { openDialog } from "./ui.js";
import { SHORTCUTS } from "./controls.js";

const RANK = { staff: 0, participant: 1 };

/** Who can take over as host: staff first, then participants, each in the order they joined. */
export function hostCandidates(participants) {
  return participants
    .filter((p) => p && (p.role === "staff" || p.role === "participant"))
    .map((p, i) => ({ p, i }))
    .sort((a, b) => RANK[a.p.role] - RANK[b.p.role] || a.i - b.i)
    .map(({ p }) => p);
}

/**
 * The host leaves while others are in the meeting: end it for everyone, or leave and hand the host
 * role to someone (chosen in a list, staff first). Resolves {action: "end"} | {action: "handover",
 * to: participant id} | {action: "leave"} (nobody to hand over to) | null (stay).
 */
export async function hostLeaveDialog(participants) {
  const candidates = hostCandidates(participants);
  const select = h("select", { id: "handover-to", class: "field-select", dataset: { testid: "handover-to" } },
    candidates.map((p) => h("option", {
      value: p.id,
      text: p.role === "staff" ? t("leave.candidateStaff", { name: p.name }) : p.name,
      attrs: p.role === "staff" ? {} : { translate: "no" },
    })));
  const content = [h("p", { text: t("leave.hostMessage") })];
  if (candidates.length) {
    content.push(h("label", { class: "field-label", htmlFor: "handover-to", text: t("leave.handoverTo") }), select);
  }
  const actions = [
    { label: t("common.cancel"), value: "stay", testid: "leave-cancel" },
    { label: t("leave.endForAll"), value: "end", kind: "danger", testid: "leave-end-all" },
    candidates.length
      ? { label: t("leave.handover"), value: "handover", kind: "primary", testid: "leave-handover" }
      : { label: t("leave.leaveAnyway"), value: "leave", kind: "primary", testid: "leave-anyway" },
  ];
  const value = await openDialog({ title: t("leave.hostTitle"), content, actions, focus: 2, testid: "leave-dialog" });
  if (!value || value === "stay") return null;
  return value === "handover" ? { action: "handover", to: select.value } : { action: value };
}

/** The list of keyboard shortcuts ("?"). */
export function shortcutsDialog() {
  const rows = SHORTCUTS.map((s) => h("tr", {},
    h("th", { scope: "row" }, h("kbd", { text: s.plain && s.plain !== "?" ? `${s.keys} · ${s.plain.toUpperCase()}` : s.keys })),
    h("td", { text: t(`shortcuts.${s.action}`) })));
  return openDialog({
    title: t("shortcuts.title"),
    content: [h("table", { class: "shortcut-table" }, h("tbody", {}, rows))],
    actions: [{ label: t("common.close"), value: null, kind: "primary" }],
    testid: "shortcuts-dialog",
  });
}
