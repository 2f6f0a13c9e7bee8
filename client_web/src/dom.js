// Small DOM helpers shared by every view: element creation, icons, toasts and whole-screen notices.

/**
 * Create an element. `props` keys: class, text, html (trusted static markup only), dataset, attrs
 * (attributes), on (event listeners); any other key is set as a property.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "html") el.innerHTML = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) el.setAttribute(a, v);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else el[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Line icons on a 24x24 grid, drawn with the current text colour.
const ICON_PATHS = {
  mic: '<rect x="9" y="2.5" width="6" height="12" rx="3"/><path d="M5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21M8.5 21h7"/>',
  micOff:
    '<path d="M15 9.5V5.5a3 3 0 0 0-5.6-1.5M9 9v2.5a3 3 0 0 0 4.8 2.4M5.5 11a6.5 6.5 0 0 0 10.7 5M18.5 11a6.4 6.4 0 0 1-.6 2.7M12 17.5V21M8.5 21h7M3 3l18 18"/>',
  camera: '<rect x="2.5" y="6" width="13" height="12" rx="2.5"/><path d="M15.5 10.5l6-3.5v10l-6-3.5z"/>',
  cameraOff:
    '<path d="M9 6h4a2.5 2.5 0 0 1 2.5 2.5v3M15.5 15.5A2.5 2.5 0 0 1 13 18H5a2.5 2.5 0 0 1-2.5-2.5v-7A2.5 2.5 0 0 1 5 6M15.5 10.5l6-3.5v10l-3-1.75M3 3l18 18"/>',
  leave: '<path d="M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4M10 16l-4-4 4-4M6 12h10"/>',
  copy: '<rect x="9" y="9" width="11" height="11" rx="2"/><path d="M5 15H4.5A1.5 1.5 0 0 1 3 13.5v-9A1.5 1.5 0 0 1 4.5 3h9A1.5 1.5 0 0 1 15 4.5V5"/>',
  check: '<path d="M4.5 12.5l5 5 10-11"/>',
  people:
    '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0M16 4.8a3.5 3.5 0 0 1 0 6.4M18 14.5a6.5 6.5 0 0 1 3.5 5.5"/>',
  hall: '<path d="M3 9.5L12 4l9 5.5M5 10v7.5M9.5 10v7.5M14.5 10v7.5M19 10v7.5M3 20.5h18M4 9.5h16"/>',
  alert: '<path d="M12 3l9.5 17h-19z"/><path d="M12 10v4.5M12 17.5v.5"/>',
  link: '<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>',
  expand: '<path d="M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5"/>',
  shrink: '<path d="M9 4v5H4M15 4v5h5M9 20v-5H4M15 20v-5h5"/>',
};

export function icon(name, extraClass = "") {
  const span = document.createElement("span");
  span.className = `icon ${extraClass}`.trim();
  span.setAttribute("aria-hidden", "true");
  span.innerHTML =
    `<svg viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" ` +
    `stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${ICON_PATHS[name]}</svg>`;
  return span;
}

/** Initials for an avatar: "Ana Maria Silva" -> "AS", "lisbon" -> "L". */
export function initials(name) {
  const words = String(name || "").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const first = [...words[0]][0] || "";
  const last = words.length > 1 ? [...words[words.length - 1]][0] || "" : "";
  return (first + last).toUpperCase();
}

// Avatar hues, spread around the wheel and muted by the tile's saturation/lightness.
const AVATAR_HUES = [212, 28, 160, 265, 350, 190, 95, 45, 300, 130];

/** A stable hue for a participant id (FNV-1a), so each avatar keeps its colour. */
export function hueFor(key) {
  let hash = 0x811c9dc5;
  for (const ch of String(key)) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return AVATAR_HUES[hash % AVATAR_HUES.length];
}

let toastRegion = null;

/** Show a short message. kind: "info" | "error". Errors stay longer. */
export function toast(message, kind = "info", timeoutMs = kind === "error" ? 7000 : 4000) {
  if (!toastRegion) {
    toastRegion = h("div", {
      class: "toasts",
      attrs: { role: "status", "aria-live": "polite", "aria-relevant": "additions" },
    });
    document.body.append(toastRegion);
  }
  const close = h("button", {
    class: "toast-close",
    type: "button",
    text: "×",
    attrs: { "aria-label": "Dismiss" },
  });
  const el = h("div", { class: `toast toast-${kind}` }, h("span", { text: message }), close);
  const remove = () => el.remove();
  close.addEventListener("click", remove);
  toastRegion.append(el);
  setTimeout(remove, timeoutMs);
  return el;
}

/** Replace the main region with a centred notice card (errors, "You left", ...). */
export function showNotice(root, { title, message, iconName = "alert", actions = [], tone = "" }) {
  const card = h(
    "section",
    { class: `notice-card ${tone}`.trim(), attrs: { "aria-labelledby": "notice-title" } },
    icon(iconName, "notice-icon"),
    h("h1", { id: "notice-title", text: title, attrs: { tabindex: "-1" } }),
    message ? h("p", { text: message }) : null,
    actions.length ? h("div", { class: "notice-actions" }, actions) : null,
  );
  root.replaceChildren(h("div", { class: "notice-screen" }, card));
  card.querySelector("h1").focus({ preventScroll: true });
  return card;
}

/** Copy text to the clipboard, falling back to a hidden textarea where the API is missing. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { value: text, attrs: { readonly: "", "aria-hidden": "true" } });
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}
