// Icons and small widgets of the collaboration features (chat, hands, reactions, moderation,
// screen share). Shares dom.js's element helper; icons are line drawings on a 24x24 grid.
import { h, icon as baseIcon } from "./dom.js";

const PATHS = {
  pin: '<path d="M9 3.5h6M10 3.5v6l-3 3.5h10l-3-3.5v-6M12 13v7.5"/>',
  screen: '<rect x="2.5" y="4" width="19" height="13" rx="2"/><path d="M8 20.5h8M12 17v3.5M12 13.5V7.5M9 10l3-3 3 3"/>',
  screenOff: '<rect x="2.5" y="4" width="19" height="13" rx="2"/><path d="M8 20.5h8M12 17v3.5M9 8l6 6M15 8l-6 6"/>',
  hand: '<path d="M8 13V5.5a1.5 1.5 0 0 1 3 0V11M11 10V4a1.5 1.5 0 0 1 3 0v7M14 10.5V5.5a1.5 1.5 0 0 1 3 0V14c0 4-2.5 7-6.5 7-2.5 0-4-1-5.5-3l-2.5-4a1.5 1.5 0 0 1 2.5-1.7L8 15"/>',
  chat: '<path d="M4 5.5A2 2 0 0 1 6 3.5h12a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H10l-4.5 4v-4H6a2 2 0 0 1-2-2z"/>',
  smile: '<circle cx="12" cy="12" r="9"/><path d="M8.5 14.5a4.5 4.5 0 0 0 7 0M9 9.5v.5M15 9.5v.5"/>',
  more: '<circle cx="5.5" cy="12" r="1.2"/><circle cx="12" cy="12" r="1.2"/><circle cx="18.5" cy="12" r="1.2"/>',
  shield: '<path d="M12 3l7.5 3v5.5c0 4.5-3.2 8-7.5 9.5-4.3-1.5-7.5-5-7.5-9.5V6z"/><path d="M9 12l2 2 4-4"/>',
  close: '<path d="M6 6l12 12M18 6L6 18"/>',
  send: '<path d="M4 12l16-8-6 16-2.5-6.5z"/><path d="M11.5 13.5L20 4"/>',
  lock: '<rect x="5" y="10.5" width="14" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 0 1 8 0v3"/>',
  settings: '<circle cx="12" cy="12" r="3"/><path d="M12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1"/>',
};

export function icon(name, extraClass = "") {
  if (!PATHS[name]) return baseIcon(name, extraClass);
  const span = document.createElement("span");
  span.className = `icon ${extraClass}`.trim();
  span.setAttribute("aria-hidden", "true");
  span.innerHTML =
    `<svg viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" ` +
    `stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${PATHS[name]}</svg>`;
  return span;
}

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
