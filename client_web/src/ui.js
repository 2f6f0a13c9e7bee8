// Small helpers of the meeting view: a message's time, a confirmation dialog, and this browser's
// device id (join's `device_id`).
import { h } from "./dom.js";
import { t, formatTime } from "./i18n.js";

/** "09:31" (in the page's language) in the viewer's local time; "" for a bad time. */
export function shortTime(iso) {
  return formatTime(iso);
}

let dialogs = 0;

/**
 * A modal dialog (<dialog>): a title, content nodes and action buttons ({label, value, kind:
 * "primary" | "danger" | "quiet", testid}). Resolves with the clicked action's value, or `null`
 * when cancelled (Escape, or an action with value null). Focus starts on `focus` (an action's
 * index or a node) and returns where it was.
 */
export function openDialog({ title, content = [], actions, focus = 0, testid = null, className = "" }) {
  return new Promise((resolve) => {
    const titleId = `sr-dialog-title-${++dialogs}`;
    const buttons = actions.map((a) => h("button", {
      type: "button",
      class: `button button-${a.kind || "quiet"}`,
      text: a.label,
      dataset: a.testid ? { testid: a.testid } : {},
    }));
    const dialog = h(
      "dialog",
      { class: `sr-dialog ${className}`.trim(), dataset: testid ? { testid } : {}, attrs: { "aria-labelledby": titleId } },
      h("h2", { id: titleId, text: title }),
      ...content,
      h("div", { class: "sr-dialog-actions" }, buttons),
    );
    const before = document.activeElement;
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      before?.focus?.({ preventScroll: true });
      resolve(value);
    };
    buttons.forEach((b, i) => b.addEventListener("click", () => finish(actions[i].value ?? null)));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (typeof focus === "number" ? buttons[focus] : focus)?.focus();
  });
}

/** A confirmation dialog; resolves true when confirmed. */
export async function confirmDialog({ title, message, confirm = t("common.confirm"), danger = true }) {
  const value = await openDialog({
    title,
    content: message ? [h("p", { text: message })] : [],
    actions: [
      { label: t("common.cancel"), value: false },
      { label: confirm, value: true, kind: danger ? "danger" : "primary" },
    ],
  });
  return value === true;
}

/** A stable random id for this browser (protocol `device_id`), kept in localStorage. */
export function deviceId() {
  const key = "sitroom.deviceId";
  try {
    let id = localStorage.getItem(key);
    if (!id || id.length > 64) {
      id = crypto.randomUUID ? crypto.randomUUID() : fallbackUuid();
      localStorage.setItem(key, id);
    }
    return id;
  } catch {
    return fallbackUuid();
  }
}

function fallbackUuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
