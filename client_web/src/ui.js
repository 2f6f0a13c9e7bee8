// Small helpers of the meeting view: a message's time, a confirmation dialog, and this browser's
// device id (join's `device_id`).
import { h } from "./dom.js";

/** "09:31" in the viewer's local time; "" for a bad time. */
export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A confirmation dialog (<dialog>); resolves true when confirmed. */
export function confirmDialog({ title, message, confirm = "Confirm", danger = true }) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: `button ${danger ? "button-danger" : "button-primary"}`, text: confirm });
    const cancel = h("button", { type: "button", class: "button button-quiet", text: "Cancel" });
    const dialog = h(
      "dialog",
      { class: "sr-dialog", attrs: { "aria-labelledby": "sr-dialog-title" } },
      h("h2", { id: "sr-dialog-title", text: title }),
      message ? h("p", { text: message }) : null,
      h("div", { class: "sr-dialog-actions" }, cancel, ok),
    );
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    ok.addEventListener("click", () => finish(true));
    cancel.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
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
