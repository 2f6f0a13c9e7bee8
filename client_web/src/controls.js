// The meeting's control bar: microphone, camera, screen share, raise hand, reactions, chat, people,
// host tools, Leave; keyboard shortcuts. On a phone the less used buttons move to a "More" sheet.
import { h, isTyping } from "./dom.js";
import { icon } from "./icons.js";
import { t, formatNumber } from "./i18n.js";
import { deviceMenu } from "./settings_menu.js";

/**
 * A microphone or camera toggle. It says what a click will do, in its text and its accessible name:
 * "Mute" / "Unmute" ("Mute microphone"), "Stop video" / "Start video"; `data-state` is "on" or "off"
 * (for styles and tests). The tooltip adds the keyboard shortcut.
 */
export function toggleButton({ kind, on, available = true, compact = false }) {
  const mic = kind === "mic";
  const btn = h("button", { type: "button", class: `control-button toggle-${kind}` });
  btn.dataset.testid = `toggle-${kind}`;
  btn.update = (isOn, isAvailable = true) => {
    const action = mic ? (isOn ? "mute" : "unmute") : (isOn ? "stopVideo" : "startVideo");
    const label = t(`controls.${action}Label`);
    btn.replaceChildren(icon(isOn ? (mic ? "mic" : "camera") : (mic ? "micOff" : "cameraOff")));
    if (!compact) btn.append(h("span", { class: "control-text", text: t(`controls.${action}`), attrs: { "aria-hidden": "true" } }));
    btn.classList.toggle("off", !isOn);
    btn.dataset.state = isOn ? "on" : "off";
    btn.disabled = !isAvailable;
    btn.setAttribute("aria-label", isAvailable ? label : t(mic ? "controls.noMicrophone" : "controls.noCamera"));
    btn.title = isAvailable ? t("controls.withShortcut", { label, keys: mic ? "M, Alt+A" : "V, Alt+V" }) : btn.getAttribute("aria-label");
  };
  btn.update(on, available);
  return btn;
}

function controlButton(cls, iconName, text, label, testid) {
  const badge = h("span", { class: "control-badge", hidden: true, attrs: { "aria-hidden": "true" } });
  const btn = h(
    "button",
    { type: "button", class: `control-button ${cls}`, dataset: { testid }, attrs: { "aria-label": label }, title: label },
    icon(iconName),
    h("span", { class: "control-text", text, attrs: { "aria-hidden": "true" } }),
    badge,
  );
  btn.badge = badge;
  btn.baseLabel = label;
  return btn;
}

/**
 * The bar's buttons (see createControls); microphone, camera and Leave wired to their handlers, the
 * others by wireCollabButtons() and popovers().
 */
function barButtons(c, { onToggleMic, onToggleCamera, onLeave, canPublish }) {
  const b = {};
  b.micBtn = toggleButton({ kind: "mic", on: false, available: false });
  b.camBtn = toggleButton({ kind: "camera", on: false, available: false });
  b.countEl = h("span", { class: "count-value", text: formatNumber(1) });
  b.count = h(
    "button",
    { type: "button", class: "participant-count", dataset: { testid: "participant-count" }, attrs: { "aria-label": t("controls.showParticipants") } },
    icon("people"),
    b.countEl,

  );
  b.leaveBtn = h(
    "button",
    {
      type: "button",
      class: "control-button leave-button",
      dataset: { testid: "leave" },
      attrs: { "aria-label": t("controls.leaveLabel") },
      title: t("controls.leaveLabel"),
    },
    icon("leave"),
    h("span", { class: "control-text", text: t("controls.leave") }),
  );
  b.leaveBtn.id = "leave-button";
  b.micBtn.addEventListener("click", onToggleMic);
  b.camBtn.addEventListener("click", onToggleCamera);
  b.leaveBtn.addEventListener("click", onLeave);
  Object.assign(b, collabButtons(c, canPublish));
  return b;
}

/** The collaboration buttons: Share, Raise, React, Chat, People, Host tools and (on a phone) More. */
function collabButtons(c, canPublish) {
  const shareBtn = controlButton("share-button", "screen", t("controls.share"), t("controls.shareLabel"), "share-screen");
  shareBtn.hidden = !c.canShare || !canPublish;
  const handBtn = controlButton("hand-button", "hand", t("controls.raise"), t("controls.raiseLabel"), "raise-hand");
  handBtn.hidden = !canPublish;
  const reactBtn = controlButton("react-button", "smile", t("controls.react"), t("controls.reactLabel"), "react");
  reactBtn.setAttribute("aria-haspopup", "true");
  reactBtn.setAttribute("aria-expanded", "false");
  const chatBtn = controlButton("chat-button", "chat", t("controls.chat"), t("controls.chat"), "chat");
  const peopleBtn = controlButton("people-button", "people", t("controls.people"), t("controls.people"), "people");
  const hostBtn = controlButton("host-button", "shield", t("controls.host"), t("controls.hostLabel"), "host-tools");
  hostBtn.hidden = true;
  const moreBtn = controlButton("more-button", "more", t("controls.more"), t("controls.moreLabel"), "more");
  moreBtn.setAttribute("aria-haspopup", "true");
  moreBtn.setAttribute("aria-expanded", "false");
  return { shareBtn, handBtn, reactBtn, chatBtn, peopleBtn, hostBtn, moreBtn };
}

/** The participant count and the collaboration buttons call collab.js (c: createControls' collab). */
function wireCollabButtons(b, c) {
  b.count.addEventListener("click", () => c.onPanel?.("people"));
  b.shareBtn.addEventListener("click", () => c.onShare?.());
  b.handBtn.addEventListener("click", () => c.onHand?.());
  b.chatBtn.addEventListener("click", () => c.onPanel?.("chat"));
  b.peopleBtn.addEventListener("click", () => c.onPanel?.("people"));
  b.hostBtn.addEventListener("click", () => c.onPanel?.("host"));
}

/** One button per reaction; a click reacts and closes the popovers. */
function reactionButtons(c, close, asMenuItems) {
  return (c.reactions || []).map((emoji) => h("button", {
    type: "button", class: "reaction-choice", text: emoji,
    attrs: asMenuItems ? { role: "menuitem", "aria-label": t("controls.reactWith", { emoji }) } : { "aria-label": t("controls.reactWith", { emoji }) },
    on: { click: () => { c.onReact?.(emoji); close(); } },
  }));
}

/** The reactions popover beside the React button. */
function reactionPicker(c, close) {
  return h("div", { class: "reaction-picker", hidden: true, attrs: { role: "menu", "aria-label": t("controls.reactions") } },
    reactionButtons(c, close, true));
}

/**
 * The phone's "More" sheet: the buttons that do not fit in the bar, rebuilt by render() each time
 * it opens. openDevices(): opens the settings menu (devices and language).
 */
function moreSheet(b, c, close, openDevices) {
  const sheetItems = h("div", { class: "more-sheet-items" });
  const sheet = h("div", { class: "more-sheet", hidden: true, dataset: { testid: "more-sheet" }, attrs: { role: "menu", "aria-label": t("controls.moreLabel") } }, sheetItems);
  const sheetItem = (label, testid, fn) => h("button", {
    type: "button", class: "sheet-item", text: label, dataset: { testid }, attrs: { role: "menuitem" },
    on: { click: () => { close(); fn(); } },
  });
  const render = () => {
    const items = [];
    if (!b.shareBtn.hidden) items.push(sheetItem(t(b.shareBtn.classList.contains("active") ? "controls.stopSharing" : "controls.shareScreen"), "sheet-share", () => c.onShare?.()));
    if (!b.handBtn.hidden) items.push(sheetItem(t(b.handBtn.classList.contains("active") ? "controls.lowerLabel" : "controls.raiseLabel"), "sheet-hand", () => c.onHand?.()));
    items.push(sheetItem(t("controls.people"), "sheet-people", () => c.onPanel?.("people")));
    if (!b.hostBtn.hidden) items.push(sheetItem(t("controls.hostLabel"), "sheet-host", () => c.onPanel?.("host")));
    if (openDevices) items.push(sheetItem(t("settings.label"), "sheet-devices", openDevices));
    const emojis = h("div", { class: "sheet-reactions" }, reactionButtons(c, close, false));
    sheetItems.replaceChildren(emojis, ...items);
  };
  return { sheet, render };
}

/**
 * The bar's popovers, one open at a time: the reactions picker, the "More" sheet and the device
 * menu (camera, microphone and speaker choice, where there is anything to choose). Returns {picker,
 * sheet, moreAnchor, devMenu, close(), onDocDown(event)}.
 */
function popovers(b, c, devices) {
  const p = {};
  p.close = () => {
    p.picker.hidden = true;
    p.sheet.hidden = true;
    p.devMenu?.close();
    b.reactBtn.setAttribute("aria-expanded", "false");
    b.moreBtn.setAttribute("aria-expanded", "false");
  };
  p.picker = reactionPicker(c, p.close);
  const more = moreSheet(b, c, p.close, devices ? () => p.devMenu.open(p.moreAnchor) : null);
  p.sheet = more.sheet;
  b.reactBtn.addEventListener("click", () => {
    const open = p.picker.hidden;
    p.close();
    p.picker.hidden = !open;
    b.reactBtn.setAttribute("aria-expanded", String(open));
    if (open) p.picker.querySelector("button")?.focus();
  });
  b.moreBtn.addEventListener("click", () => {
    const open = p.sheet.hidden;
    p.close();
    if (open) more.render();
    p.sheet.hidden = !open;
    b.moreBtn.setAttribute("aria-expanded", String(open));
    if (open) p.sheet.querySelector("button")?.focus();
  });
  p.devMenu = devices ? deviceMenu(devices, () => p.close()) : null;
  p.moreAnchor = h("span", { class: "control-narrow popover-anchor" }, b.moreBtn, p.sheet);
  p.onDocDown = (e) => {
    if (!p.picker.contains(e.target) && !b.reactBtn.contains(e.target) && !p.sheet.contains(e.target) && !b.moreBtn.contains(e.target)
      && !p.devMenu?.contains(e.target)) p.close();
  };
  return p;
}

/** The control bar: count on the left; media, devices, collaboration and Leave in the centre. */
function barLayout(b, p, canPublish) {
  return h(
    "nav",
    { class: "control-bar", attrs: { "aria-label": t("controls.bar") } },
    h("div", { class: "control-group control-left" }, b.count),
    h("div", { class: "control-group control-center" },
      canPublish ? [b.micBtn, b.camBtn] : null,
      p.devMenu ? h("span", { class: "control-wide" }, h("span", { class: "popover-anchor" }, p.devMenu.button, p.devMenu.menu)) : null,
      h("span", { class: "control-wide" }, b.shareBtn, b.handBtn, h("span", { class: "popover-anchor" }, b.reactBtn, p.picker)),
      b.chatBtn,
      h("span", { class: "control-wide" }, b.peopleBtn, b.hostBtn),
      p.moreAnchor,
      b.leaveBtn),
    h("div", { class: "control-group control-right" }),
  );
}

/**
 * Keyboard shortcuts, as in Zoom's web client: Alt+A (microphone), Alt+V (video), Alt+Y (hand),
 * Alt+H (chat), Alt+S (screen share); M and V also work outside text fields; "?" lists them;
 * Escape closes the popovers. Matched by physical key (event.code), so Alt on a Mac, which
 * types "å", works too.
 */
export const SHORTCUTS = [
  { keys: "Alt+A", code: "KeyA", action: "mic", plain: "m" },
  { keys: "Alt+V", code: "KeyV", action: "camera", plain: "v" },
  { keys: "Alt+Y", code: "KeyY", action: "hand" },
  { keys: "Alt+H", code: "KeyH", action: "chat" },
  { keys: "Alt+S", code: "KeyS", action: "share" },
  { keys: "?", action: "help", plain: "?" },
];

function shortcuts(b, closePopovers, { canPublish, onToggleMic, onToggleCamera, c }) {
  const run = {
    mic: () => !b.micBtn.disabled && canPublish && onToggleMic(),
    camera: () => !b.camBtn.disabled && canPublish && onToggleCamera(),
    hand: () => !b.handBtn.hidden && c.onHand?.(),
    chat: () => c.onPanel?.("chat"),
    share: () => !b.shareBtn.hidden && c.onShare?.(),
    help: () => c.onShortcuts?.(),
  };
  return (event) => {
    if (event.key === "Escape") closePopovers();
    if (event.ctrlKey || event.metaKey || event.repeat || document.querySelector("dialog[open]")) return;
    let shortcut = null;
    if (event.altKey) shortcut = SHORTCUTS.find((s) => s.code && s.code === event.code);
    else if (!isTyping(event.target)) shortcut = SHORTCUTS.find((s) => s.plain && s.plain === event.key.toLowerCase());
    if (!shortcut || (shortcut.plain && !event.altKey && (event.key === "?" ? false : event.shiftKey))) return;
    event.preventDefault();
    run[shortcut.action]();
  };
}

function setBadge(btn, n, what) {
  btn.badge.hidden = !n;
  btn.badge.textContent = n > 99 ? `${formatNumber(99)}+` : formatNumber(n);
  btn.setAttribute("aria-label", n ? t(what, { label: btn.baseLabel, count: n }) : btn.baseLabel);
}

/** A toggled control button's pressed state, label, tooltip and short text. */
function setToggled(btn, on, label, text) {
  btn.classList.toggle("active", on);
  btn.setAttribute("aria-pressed", String(on));
  btn.baseLabel = label;
  btn.setAttribute("aria-label", btn.baseLabel);
  btn.title = btn.baseLabel;
  btn.querySelector(".control-text").textContent = text;
}

/**
 * handlers: {onToggleMic(), onToggleCamera(), onLeave(), canPublish, collab: {onShare, canShare,
 * onHand, onReact(emoji), reactions, onPanel(name)}, devices: {onOpen(), onChoose(kind, deviceId),
 * inputs, speaker}}.
 * Returns {el, setMic, setCamera, setCount, setBusy, setBadge(name, n), setPanel(name), setHand(on),
 * setSharing(on), setRole(role), setDevices(lists, current), devicesOpen(), destroy()}.
 */
export function createControls({ onToggleMic, onToggleCamera, onLeave, canPublish = true, collab = null, devices = null }) {
  const c = collab || {};
  const b = barButtons(c, { onToggleMic, onToggleCamera, onLeave, canPublish });
  wireCollabButtons(b, c);
  const p = popovers(b, c, devices);
  document.addEventListener("pointerdown", p.onDocDown);
  const el = barLayout(b, p, canPublish);
  const onKey = shortcuts(b, p.close, { canPublish, onToggleMic, onToggleCamera, c });
  document.addEventListener("keydown", onKey);
  return {
    el,
    ...controlsApi(b, p, { c, canPublish }),
    destroy: () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("pointerdown", p.onDocDown);
    },
  };
}

/** What the meeting and collab.js change on the bar (see createControls). */
function controlsApi(b, p, { c, canPublish }) {
  return {
    setMic: (on, available) => b.micBtn.update(on, available),
    setCamera: (on, available) => b.camBtn.update(on, available),
    setCount: (n) => {
      b.countEl.textContent = formatNumber(n);
      b.count.title = t("controls.count", { count: n });
      b.count.setAttribute("aria-label", t("controls.countLabel", { count: n }));
    },
    setBusy: (busy) => {
      b.leaveBtn.disabled = busy;
    },
    setBadge: (name, n) => {
      if (name === "chat") setBadge(b.chatBtn, n, "controls.unread");
      if (name === "people") {
        setBadge(b.peopleBtn, n, "controls.waiting");
        b.moreBtn.badge.hidden = !n;
        b.moreBtn.badge.textContent = formatNumber(n);
      }
    },
    setPanel: (name) => {
      b.chatBtn.classList.toggle("active", name === "chat");
      b.peopleBtn.classList.toggle("active", name === "people");
      b.hostBtn.classList.toggle("active", name === "host");
      b.chatBtn.setAttribute("aria-expanded", String(name === "chat"));
      b.peopleBtn.setAttribute("aria-expanded", String(name === "people"));
    },
    setHand: (raised) => setToggled(b.handBtn, raised, t(raised ? "controls.lowerLabel" : "controls.raiseLabel"), t(raised ? "controls.lower" : "controls.raise")),
    setSharing: (on) => setToggled(b.shareBtn, on, t(on ? "controls.stopShareLabel" : "controls.shareLabel"), t(on ? "controls.stopShare" : "controls.share")),
    setDevices: (lists, current) => p.devMenu?.fill(lists, current),
    devicesOpen: () => Boolean(p.devMenu?.isOpen()),
    setRole: (role) => {
      b.hostBtn.hidden = !(role === "host" || role === "staff");
      b.handBtn.hidden = role === "viewer" || !canPublish;
      b.shareBtn.hidden = role === "viewer" || !c.canShare || !canPublish;
    },
  };
}
