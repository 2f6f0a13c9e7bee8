// The meeting's control bar: microphone, camera, participants count, Leave; keyboard shortcuts.
import { h, icon } from "./dom.js";

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

/**
 * handlers: {onToggleMic(), onToggleCamera(), onLeave()}.
 * Returns {el, setMic(on, available), setCamera(on, available), setCount(n), destroy()}.
 */
export function createControls({ onToggleMic, onToggleCamera, onLeave, canPublish = true }) {
  const micBtn = toggleButton({ kind: "mic", on: false, available: false });
  const camBtn = toggleButton({ kind: "camera", on: false, available: false });
  const countEl = h("span", { class: "count-value", text: "1" });
  const count = h(
    "span",
    { class: "participant-count", attrs: { role: "status", "aria-live": "polite" } },
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

  const el = h(
    "nav",
    { class: "control-bar", attrs: { "aria-label": "Meeting controls" } },
    h("div", { class: "control-group control-left" }, count),
    h("div", { class: "control-group control-center" }, canPublish ? [micBtn, camBtn] : null, leaveBtn),
    h("div", { class: "control-group control-right" }),
  );

  const onKey = (event) => {
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
    destroy: () => document.removeEventListener("keydown", onKey),
  };
}
