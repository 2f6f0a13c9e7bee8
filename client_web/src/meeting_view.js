// The meeting's screen: the header (room title, duration clock), the status banner, the "turn on
// sound" button (when the browser blocked autoplay), the gallery's <main> and the control bar.
import { h } from "./dom.js";
import { t, formatTime } from "./i18n.js";
import { icon } from "./icons.js";
import { createControls } from "./controls.js";
import { collabControls } from "./collab.js";
import { canChooseSpeaker } from "./capture.js";
import { reloadAndRejoin } from "./rejoin.js";
import { createClockStrip } from "./clock_strip.js";

/** "mm:ss", or "h:mm:ss" from an hour on. */
export function formatElapsed(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(total / 3600);
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, "0");
  const ss = String(total % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/**
 * The meeting clock: how long the meeting has run (from when its first participant was admitted,
 * the same for everyone), and its planned end when there is one. Returns {text, label, state}
 * where state is "" | "ending" (5 minutes or less left) | "overtime".
 */
export function meetingClock(now, startedAt, endsAt = null, formatEnd = (d) => String(d)) {
  const elapsed = formatElapsed(now - startedAt);
  if (!endsAt) return { text: elapsed, label: t("meeting.clock.label", { elapsed }), state: "" };
  const left = endsAt - now;
  const end = formatEnd(new Date(endsAt));
  const state = left <= 0 ? "overtime" : left <= 5 * 60 * 1000 ? "ending" : "";
  const key = state === "overtime" ? "meeting.clock.endedAt" : "meeting.clock.endsAt";
  return { text: `${elapsed} · ${t(key, { time: end })}`, label: t("meeting.clock.labelWithEnd", { elapsed, end }), state };
}

/** Show the meeting clock (see meetingClock) in its element. */
export function renderClock(el, { startedAt, endsAt }) {
  const c = meetingClock(Date.now(), startedAt, endsAt, (d) => formatTime(d));
  el.textContent = c.text;
  el.setAttribute("aria-label", c.label);
  el.dataset.state = c.state;
}

/**
 * The screen around `main` (the gallery) and `controls` (the bar's element). onSound(): the sound
 * button was clicked (it hides itself). Returns {el, clock, clockStrip, banner, soundButton}; the
 * city clock strip (clock_strip.js) sits under the header, hidden until the join gives clocks.
 */
export function meetingScreen({ title, main, controls, onSound }) {
  const clock = h("span", { class: "meeting-clock", dataset: { testid: "meeting-clock" }, attrs: { role: "timer", "aria-label": t("meeting.clock.name") } });
  const banner = h("div", {
    class: "banner",
    hidden: true,
    attrs: { role: "status", "aria-live": "assertive" },
  });
  const soundButton = h(
    "button",
    { type: "button", class: "button button-primary sound-button", hidden: true },
    t("meeting.soundOn"),
  );
  soundButton.addEventListener("click", () => {
    onSound();
    soundButton.hidden = true;
  });
  // Shown while the meeting is recorded (the `recording` event and the join answer's field).
  const rec = h("span", {
    class: "rec-indicator", hidden: true, dataset: { testid: "rec-indicator" },
    attrs: { role: "status", title: t("meeting.recording.title") },
  }, h("span", { class: "rec-dot", attrs: { "aria-hidden": "true" } }), t("meeting.recording.badge"));
  const header = h(
    "header",
    { class: "meeting-header" },
    h("span", { class: "brand-mark small" }, icon("hall")),
    h("h1", { class: "meeting-title", text: title, attrs: { translate: "no" } }),
    rec,
    clock,
  );
  const clockStrip = createClockStrip();
  const el = h("div", { class: "meeting" }, header, clockStrip.el, banner, soundButton, main, controls);
  return { el, clock, clockStrip, banner, soundButton, rec };
}

/** The control bar (controls.js), wired to the meeting, collab.js and the device menu (devices.js). */
export function meetingControls(meeting) {
  return createControls({
    canPublish: meeting.canPublish,
    onToggleMic: () => meeting.toggleMic(),
    onToggleCamera: () => meeting.toggleCamera(),
    onLeave: () => meeting.leaveClicked(),
    collab: collabControls(meeting), // share, hand, reactions, side panel (collab.js)
    devices: {
      inputs: meeting.canPublish,
      speaker: canChooseSpeaker(),
      onOpen: () => meeting.devices.refresh(),
      onChoose: (kind, id) => meeting.devices.choose(kind, id),
      onLanguage: () => reloadAndRejoin(meeting), // the whole page in the new language, same person
    },
  });
}

/** Show `text` in the banner (tone: "info" | "warning"), or hide it when text is empty. */
export function setBanner(banner, text, tone = "warning") {
  banner.textContent = text;
  banner.className = `banner banner-${tone}`;
  banner.hidden = !text;
}
