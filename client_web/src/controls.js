// The meeting's control bar: microphone, camera, screen share, raise hand, reactions, chat, people,
// host tools, Leave; keyboard shortcuts. On a phone the less used buttons move to a "More" sheet.
import { h } from "./dom.js";
import { icon } from "./icons.js";

/**
 * A microphone or camera toggle. Its accessible name stays fixed ("Mute microphone", "Turn camera
 * off") and aria-pressed tells whether that is in effect; the tooltip says what a click will do.
 */
export function toggleButton({ kind, on, available = true, compact = false }) {
  const labels = {
    mic: { name: "Mute microphone", on: "Mute microphone", off: "Unmute microphone", iconOn: "mic", iconOff: "micOff", text: "Mic", key: "M" },
    camera: { name: "Turn camera off", on: "Turn camera off", off: "Turn camera on", iconOn: "camera", iconOff: "cameraOff", text: "Camera", key: "V" },
  }[kind];
  const btn = h("button", { type: "button", class: `control-button toggle-${kind}` });
  btn.dataset.testid = `toggle-${kind}`;
  btn.setAttribute("aria-label", labels.name);
  btn.update = (isOn, isAvailable = true) => {
    btn.replaceChildren(icon(isOn ? labels.iconOn : labels.iconOff));
    if (!compact) btn.append(h("span", { class: "control-text", text: labels.text, attrs: { "aria-hidden": "true" } }));
    btn.classList.toggle("off", !isOn);
    btn.disabled = !isAvailable;
    btn.setAttribute("aria-pressed", String(!isOn));
    btn.title = isAvailable ? `${isOn ? labels.on : labels.off} (${labels.key})` : `${labels.text}: no device available`;
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

const DEVICE_KINDS = [
  { kind: "videoinput", label: "Camera", fallback: "Camera", id: "device-camera" },
  { kind: "audioinput", label: "Microphone", fallback: "Microphone", id: "device-microphone" },
  { kind: "audiooutput", label: "Speaker", fallback: "Speaker", id: "device-speaker" },
];

/**
 * The device menu next to the microphone and camera: one select per kind the user may choose.
 * devices: {onOpen(), onChoose(kind, deviceId), inputs: bool, speaker: bool}. Returns {button, menu,
 * open(anchor), close, isOpen, fill(lists, current), contains(node)}. The menu opens in `anchor`:
 * beside its own button on a wide screen, from the "More" sheet on a phone (no room in the bar).
 */
function deviceMenu(devices, closeOthers) {
  const button = h(
    "button",
    {
      type: "button",
      class: "control-button devices-button",
      dataset: { testid: "device-settings" },
      attrs: { "aria-label": "Camera, microphone and speaker", "aria-haspopup": "dialog", "aria-expanded": "false" },
      title: "Camera, microphone and speaker",
    },
    icon("settings"),
    h("span", { class: "control-text", text: "Devices", attrs: { "aria-hidden": "true" } }),
  );
  const fields = {};
  const items = [];
  for (const { kind, label, id } of DEVICE_KINDS) {
    if (kind === "audiooutput" ? !devices.speaker : !devices.inputs) continue;
    const select = h("select", { id, class: "field-select device-select", dataset: { kind } });
    select.addEventListener("change", () => devices.onChoose?.(kind, select.value));
    const wrap = h("div", { class: "device-field", hidden: true },
      h("label", { class: "field-label", htmlFor: id, text: label }), select);
    fields[kind] = { select, wrap };
    items.push(wrap);
  }
  const empty = h("p", { class: "device-menu-note", text: "Looking for devices…" });
  const menu = h(
    "div",
    { class: "more-sheet device-menu", hidden: true, dataset: { testid: "device-menu" },
      attrs: { role: "dialog", "aria-label": "Camera, microphone and speaker" } },
    h("div", { class: "more-sheet-items" }, ...items, empty),
  );
  const api = {
    button,
    menu,
    isOpen: () => !menu.hidden,
    contains: (node) => button.contains(node) || menu.contains(node),
    open: (anchor) => {
      closeOthers();
      if (anchor && menu.parentNode !== anchor) anchor.append(menu);
      menu.hidden = false;
      button.setAttribute("aria-expanded", "true");
      devices.onOpen?.();
    },
    close: () => {
      menu.hidden = true;
      button.setAttribute("aria-expanded", "false");
    },
    /** lists: {videoinput: [{deviceId, label}], ...}; current: {kind: deviceId} in use. */
    fill: (lists, current = {}) => {
      let any = false;
      for (const { kind, fallback } of DEVICE_KINDS) {
        const field = fields[kind];
        if (!field) continue;
        const list = (lists && lists[kind]) || [];
        const focused = document.activeElement === field.select;
        field.select.replaceChildren(
          ...list.map((d, i) => h("option", { value: d.deviceId, text: d.label || `${fallback} ${i + 1}` })),
        );
        if (current[kind] && list.some((d) => d.deviceId === current[kind])) field.select.value = current[kind];
        field.wrap.hidden = list.length < 1;
        any = any || list.length > 0;
        if (focused) field.select.focus();
      }
      empty.textContent = any ? "" : "No camera, microphone or speaker to choose from.";
      empty.hidden = any;
    },
  };
  button.addEventListener("click", () => (menu.hidden ? api.open(button.parentNode) : api.close()));
  return api;
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
  const micBtn = toggleButton({ kind: "mic", on: false, available: false });
  const camBtn = toggleButton({ kind: "camera", on: false, available: false });
  const countEl = h("span", { class: "count-value", text: "1" });
  const count = h(
    "button",
    { type: "button", class: "participant-count", dataset: { testid: "participant-count" }, attrs: { "aria-label": "Show participants" } },
    icon("people"),
    countEl,
    h("span", { class: "visually-hidden", text: " participants" }),
  );
  const leaveBtn = h(
    "button",
    {
      type: "button",
      class: "control-button leave-button",
      dataset: { testid: "leave" },
      attrs: { "aria-label": "Leave the meeting" },
      title: "Leave the meeting",
    },
    icon("leave"),
    h("span", { class: "control-text", text: "Leave" }),
  );
  leaveBtn.id = "leave-button";
  micBtn.addEventListener("click", onToggleMic);
  camBtn.addEventListener("click", onToggleCamera);
  leaveBtn.addEventListener("click", onLeave);

  const shareBtn = controlButton("share-button", "screen", "Share", "Share your screen", "share-screen");
  shareBtn.hidden = !c.canShare || !canPublish;
  const handBtn = controlButton("hand-button", "hand", "Raise", "Raise hand", "raise-hand");
  handBtn.hidden = !canPublish;
  const reactBtn = controlButton("react-button", "smile", "React", "Send a reaction", "react");
  reactBtn.setAttribute("aria-haspopup", "true");
  reactBtn.setAttribute("aria-expanded", "false");
  const chatBtn = controlButton("chat-button", "chat", "Chat", "Chat", "chat");
  const peopleBtn = controlButton("people-button", "people", "People", "People", "people");
  const hostBtn = controlButton("host-button", "shield", "Host", "Host tools", "host-tools");
  hostBtn.hidden = true;
  const moreBtn = controlButton("more-button", "more", "More", "More actions", "more");
  moreBtn.setAttribute("aria-haspopup", "true");
  moreBtn.setAttribute("aria-expanded", "false");
  count.addEventListener("click", () => c.onPanel?.("people"));
  shareBtn.addEventListener("click", () => c.onShare?.());
  handBtn.addEventListener("click", () => c.onHand?.());
  chatBtn.addEventListener("click", () => c.onPanel?.("chat"));
  peopleBtn.addEventListener("click", () => c.onPanel?.("people"));
  hostBtn.addEventListener("click", () => c.onPanel?.("host"));

  // Reactions popover
  const picker = h("div", { class: "reaction-picker", hidden: true, attrs: { role: "menu", "aria-label": "Reactions" } },
    (c.reactions || []).map((emoji) => h("button", {
      type: "button", class: "reaction-choice", text: emoji, attrs: { role: "menuitem", "aria-label": `React with ${emoji}` },
      on: { click: () => { c.onReact?.(emoji); closePopovers(); } },
    })));
  // The phone's "More" sheet: the buttons that do not fit in the bar.
  const sheetItems = h("div", { class: "more-sheet-items" });
  const sheet = h("div", { class: "more-sheet", hidden: true, attrs: { role: "menu", "aria-label": "More actions" } }, sheetItems);
  const sheetItem = (label, testid, fn) => h("button", {
    type: "button", class: "sheet-item", text: label, dataset: { testid }, attrs: { role: "menuitem" },
    on: { click: () => { closePopovers(); fn(); } },
  });
  const renderSheet = () => {
    const items = [];
    if (!shareBtn.hidden) items.push(sheetItem(shareBtn.classList.contains("active") ? "Stop sharing" : "Share screen", "sheet-share", () => c.onShare?.()));
    if (!handBtn.hidden) items.push(sheetItem(handBtn.classList.contains("active") ? "Lower hand" : "Raise hand", "sheet-hand", () => c.onHand?.()));
    items.push(sheetItem("People", "sheet-people", () => c.onPanel?.("people")));
    if (!hostBtn.hidden) items.push(sheetItem("Host tools", "sheet-host", () => c.onPanel?.("host")));
    if (devMenu) items.push(sheetItem("Camera, microphone and speaker", "sheet-devices", () => devMenu.open(moreAnchor)));
    const emojis = h("div", { class: "sheet-reactions" }, (c.reactions || []).map((emoji) => h("button", {
      type: "button", class: "reaction-choice", text: emoji, attrs: { "aria-label": `React with ${emoji}` },
      on: { click: () => { c.onReact?.(emoji); closePopovers(); } },
    })));
    sheetItems.replaceChildren(emojis, ...items);
  };
  const closePopovers = () => {
    picker.hidden = true;
    sheet.hidden = true;
    devMenu?.close();
    reactBtn.setAttribute("aria-expanded", "false");
    moreBtn.setAttribute("aria-expanded", "false");
  };
  reactBtn.addEventListener("click", () => {
    const open = picker.hidden;
    closePopovers();
    picker.hidden = !open;
    reactBtn.setAttribute("aria-expanded", String(open));
    if (open) picker.querySelector("button")?.focus();
  });
  moreBtn.addEventListener("click", () => {
    const open = sheet.hidden;
    closePopovers();
    if (open) renderSheet();
    sheet.hidden = !open;
    moreBtn.setAttribute("aria-expanded", String(open));
    if (open) sheet.querySelector("button")?.focus();
  });
  // Camera, microphone and speaker choice (where there is anything to choose).
  const devMenu = devices && (devices.inputs || devices.speaker) ? deviceMenu(devices, () => closePopovers()) : null;
  const moreAnchor = h("span", { class: "control-narrow popover-anchor" }, moreBtn, sheet);
  const onDocDown = (e) => {
    if (!picker.contains(e.target) && !reactBtn.contains(e.target) && !sheet.contains(e.target) && !moreBtn.contains(e.target)
      && !devMenu?.contains(e.target)) closePopovers();
  };
  document.addEventListener("pointerdown", onDocDown);

  const el = h(
    "nav",
    { class: "control-bar", attrs: { "aria-label": "Meeting controls" } },
    h("div", { class: "control-group control-left" }, count),
    h("div", { class: "control-group control-center" },
      canPublish ? [micBtn, camBtn] : null,
      devMenu ? h("span", { class: "control-wide" }, h("span", { class: "popover-anchor" }, devMenu.button, devMenu.menu)) : null,
      h("span", { class: "control-wide" }, shareBtn, handBtn, h("span", { class: "popover-anchor" }, reactBtn, picker)),
      chatBtn,
      h("span", { class: "control-wide" }, peopleBtn, hostBtn),
      moreAnchor,
      leaveBtn),
    h("div", { class: "control-group control-right" }),
  );

  const onKey = (event) => {
    if (event.key === "Escape") closePopovers();
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    const key = event.key.toLowerCase();
    if (key === "m" && !micBtn.disabled && canPublish) {
      event.preventDefault();
      onToggleMic();
    } else if (key === "v" && !camBtn.disabled && canPublish) {
      event.preventDefault();
      onToggleCamera();
    }
  };
  document.addEventListener("keydown", onKey);

  const setBadge = (btn, n, what) => {
    btn.badge.hidden = !n;
    btn.badge.textContent = n > 99 ? "99+" : String(n);
    btn.setAttribute("aria-label", n ? `${btn.baseLabel} (${n} ${what})` : btn.baseLabel);
  };

  return {
    el,
    setMic: (on, available) => micBtn.update(on, available),
    setCamera: (on, available) => camBtn.update(on, available),
    setCount: (n) => {
      countEl.textContent = String(n);
      count.title = `${n} ${n === 1 ? "participant" : "participants"} in the meeting`;
    },
    setBusy: (busy) => {
      leaveBtn.disabled = busy;
    },
    setBadge: (name, n) => {
      if (name === "chat") setBadge(chatBtn, n, "unread");
      if (name === "people") {
        setBadge(peopleBtn, n, "waiting or with a hand raised");
        moreBtn.badge.hidden = !n;
        moreBtn.badge.textContent = String(n);
      }
    },
    setPanel: (name) => {
      chatBtn.classList.toggle("active", name === "chat");
      peopleBtn.classList.toggle("active", name === "people");
      hostBtn.classList.toggle("active", name === "host");
      chatBtn.setAttribute("aria-expanded", String(name === "chat"));
      peopleBtn.setAttribute("aria-expanded", String(name === "people"));
    },
    setHand: (raised) => {
      handBtn.classList.toggle("active", raised);
      handBtn.setAttribute("aria-pressed", String(raised));
      handBtn.baseLabel = raised ? "Lower hand" : "Raise hand";
      handBtn.setAttribute("aria-label", handBtn.baseLabel);
      handBtn.title = handBtn.baseLabel;
      handBtn.querySelector(".control-text").textContent = raised ? "Lower" : "Raise";
    },
    setSharing: (on) => {
      shareBtn.classList.toggle("active", on);
      shareBtn.setAttribute("aria-pressed", String(on));
      shareBtn.baseLabel = on ? "Stop sharing your screen" : "Share your screen";
      shareBtn.setAttribute("aria-label", shareBtn.baseLabel);
      shareBtn.title = shareBtn.baseLabel;
      shareBtn.querySelector(".control-text").textContent = on ? "Stop" : "Share";
    },
    setDevices: (lists, current) => devMenu?.fill(lists, current),
    devicesOpen: () => Boolean(devMenu?.isOpen()),
    setRole: (role) => {
      hostBtn.hidden = !(role === "host" || role === "staff");
      handBtn.hidden = role === "viewer" || !canPublish;
      shareBtn.hidden = role === "viewer" || !c.canShare || !canPublish;
    },
    destroy: () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("pointerdown", onDocDown);
    },
  };
}
