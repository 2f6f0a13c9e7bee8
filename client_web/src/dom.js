// Small DOM helpers shared by every view: element creation, avatars' initials and hues, toasts and
// whole-screen notices. Icons live in icons.js.
import { icon } from "./icons.js";
import { t } from "./i18n.js";


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

/** Whether keys pressed in `target` are typing (an input, a text area, a select, editable text). */
export function isTyping(target) {
  return Boolean(target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)));
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
    attrs: { "aria-label": t("common.dismiss") },
  });
  const el = h("div", { class: `toast toast-${kind}` }, h("span", { text: message }), close);
  const remove = () => el.remove();
  close.addEventListener("click", remove);
  toastRegion.append(el);
  setTimeout(remove, timeoutMs);
  return el;
}

/** A toast with one action button; stays until acted on or dismissed (or timeoutMs). */
export function actionToast(message, label, onAction, { kind = "info", timeoutMs = 15000, testid } = {}) {
  const el = toast(message, kind, timeoutMs);
  const btn = h("button", { type: "button", class: "toast-action", text: label });
  if (testid) btn.dataset.testid = testid;
  btn.addEventListener("click", () => {
    el.remove();
    onAction();
  });
  el.insertBefore(btn, el.lastChild);
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

/** A copy button that says "Copied" for a moment (or asks to copy by hand when it could not). */
export function copyButton({ label, text, testid, primary = false, onFail }) {
  const labelEl = h("span", { text: label });
  const btn = h("button", {
    type: "button",
    class: `button ${primary ? "button-primary" : "button-secondary"} copy-button`,
    dataset: { testid },
  }, icon("copy"), labelEl);
  let resetTimer = 0;
  btn.addEventListener("click", async () => {
    const ok = await copyText(text());
    btn.replaceChildren(icon(ok ? "check" : "alert"), labelEl);
    labelEl.textContent = ok ? t("start.created.copied") : t("start.created.copyByHand");
    btn.classList.toggle("copied", ok);
    if (!ok) onFail?.();
    clearTimeout(resetTimer);
    resetTimer = setTimeout(() => {
      btn.replaceChildren(icon("copy"), labelEl);
      labelEl.textContent = label;
      btn.classList.remove("copied");
    }, 2500);
  });
  return btn;
}

