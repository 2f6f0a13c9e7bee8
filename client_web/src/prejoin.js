// The pre-join screen: name and organisation, camera and microphone preview, Join; devices, a
// speaker test and the language below.
import { h, initials } from "./dom.js";
import { toggleButton } from "./controls.js";
import { deviceOption } from "./settings_menu.js";
import { t, languageSelect } from "./i18n.js";
import {
  captureMedia,
  LevelMeter,
  listDevices,
  rememberedDevice,
  rememberDevice,
  canChooseSpeaker,
} from "./capture.js";

const NAME_KEY = "sitroom.name";
const ORG_KEY = "sitroom.organisation";
const AUDIO_ON_KEY = "sitroom.joinWithMic";
const VIDEO_ON_KEY = "sitroom.joinWithCamera";
const NAME_MAX = 64;
const ORG_MAX = 80;

function remembered(key) {
  try {
    return localStorage.getItem(key) || "";
  } catch {
    return "";
  }
}

function remember(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* private mode: nothing to do */
  }
}

/** Why a device could not be used, and that one can still join; "" when both work. */
function captureMessage(errors) {
  const lines = [];
  if (errors.audio) lines.push(t("prejoin.captureMicrophone", { reason: t(`prejoin.capture.${errors.audio}`) }));
  if (errors.video) lines.push(t("prejoin.captureCamera", { reason: t(`prejoin.capture.${errors.video}`) }));
  if (!lines.length) return "";
  return `${lines.join(" ")} ${t("prejoin.canStillJoin")}`;
}

/**
 * Render the pre-join screen into root. Resolves when the user clicks Join with
 * {name, organisation, media: {stream, audioTrack, videoTrack, errors}, audioOn, videoOn}.
 * `previous` carries choices from an earlier join (Rejoin keeps them). Changing the language
 * draws the screen again in the new language, keeping what was typed and the camera.
 */
export function showPrejoin(root, { room, role, previous = null, recording = false }) {
  const canPublish = role !== "viewer";
  // What the user chose so far; `media` is replaced once capture settles.
  const s = {
    audioOn: previous ? previous.audioOn : remembered(AUDIO_ON_KEY) !== "off",
    videoOn: previous ? previous.videoOn : remembered(VIDEO_ON_KEY) !== "off",
    media: { stream: new MediaStream(), audioTrack: null, videoTrack: null, errors: {} },
    speakerId: rememberedDevice("audiooutput"),
    capturing: null,
    typed: { name: previous?.name ?? remembered(NAME_KEY), organisation: previous?.organisation ?? remembered(ORG_KEY) },
  };
  return new Promise((resolve) => mountPrejoin(root, { room, role, canPublish, s, resolve, recording }));
}

/** Draw the pre-join screen (again, after a language change) and wire it. */
function mountPrejoin(root, { room, role, canPublish, s, resolve, recording }) {
  document.title = t("prejoin.pageTitle", { title: room.title });
  const preview = createPreview(s);
  const status = h("p", { class: "preview-status", attrs: { role: "status", "aria-live": "polite" } });
  const devices = deviceFields(s);
  const remount = () => {
    s.typed = { name: f.nameInput.value, organisation: f.orgInput.value };
    preview.stopMeter();
    mountPrejoin(root, { room, role, canPublish, s, resolve, recording });
  };
  const f = prejoinForm({ room, role, s, devices: canPublish ? devices.el : null, status, onLanguage: remount, recording });
  root.replaceChildren(
    h("div", { class: "prejoin" }, canPublish ? preview.el : null, f.form),
  );
  wirePrejoin(s, { preview, devices, status, f });

  if (canPublish && !s.capturing) {
    s.capturing = startCapture(s);
    status.textContent = t("prejoin.starting");
  }
  s.capturing?.then(() => {
    if (!root.contains(f.form)) return;
    showCaptured(s, { preview, devices, status });
  });
  preview.render();

  if (!f.nameInput.value) f.nameInput.focus();
  else f.joinBtn.focus();
  waitForJoin(f, s, { preview, canPublish, resolve });
}

/** The screen's controls: device choice, the toggles, the speaker test, the initials. */
function wirePrejoin(s, { preview, devices, status, f }) {
  devices.camSel.select.addEventListener("change", () => switchDevice(s, preview, status, "videoinput", devices.camSel.select.value));
  devices.micSel.select.addEventListener("change", () => switchDevice(s, preview, status, "audioinput", devices.micSel.select.value));
  devices.spkSel.select.addEventListener("change", () => {
    s.speakerId = devices.spkSel.select.value;
    rememberDevice("audiooutput", s.speakerId);
  });
  preview.micBtn.addEventListener("click", () => {
    s.audioOn = !s.audioOn;
    preview.render();
  });
  preview.camBtn.addEventListener("click", () => {
    s.videoOn = !s.videoOn;
    preview.render();
  });
  f.nameInput.addEventListener("input", () => {
    preview.avatarText.textContent = initials(f.nameInput.value);
    if (f.nameInput.value.trim()) {
      f.nameError.textContent = "";
      f.nameInput.removeAttribute("aria-invalid");
    }
  });
}

/**
 * The camera preview with the initials (camera off), the microphone and camera toggles and the
 * microphone's level meter. Reads and updates the choices `s`.
 */
function createPreview(s) {
  const video = h("video", {
    class: "preview-video mirrored",
    autoplay: true,
    muted: true,
    playsInline: true,
    attrs: { playsinline: "", "aria-label": t("prejoin.preview") },
  });
  if (s.media.videoTrack) video.srcObject = new MediaStream([s.media.videoTrack]);
  const avatarText = h("span", { class: "avatar-initials", text: initials(s.typed.name), attrs: { translate: "no" } });
  const avatar = h("div", { class: "avatar" }, avatarText);
  avatar.style.setProperty("--hue", "212");
  const meterBar = h("span", { class: "meter-fill" });
  const meterEl = h("span", { class: "mic-meter", attrs: { "aria-hidden": "true" } }, meterBar);
  const micBtn = toggleButton({ kind: "mic", on: s.audioOn, available: false, compact: true });
  const camBtn = toggleButton({ kind: "camera", on: s.videoOn, available: false, compact: true });
  const el = h(
    "div",
    { class: "preview video-off" },
    video,
    avatar,
    h("div", { class: "preview-controls" }, micBtn, meterEl, camBtn),
  );
  let meter = null;
  let meterTimer = 0;
  return {
    el,
    video,
    avatarText,
    micBtn,
    camBtn,
    render() {
      const media = s.media;
      const hasVideo = Boolean(media.videoTrack) && s.videoOn;
      el.classList.toggle("video-off", !hasVideo);
      micBtn.update(s.audioOn && Boolean(media.audioTrack), Boolean(media.audioTrack));
      camBtn.update(s.videoOn && Boolean(media.videoTrack), Boolean(media.videoTrack));
      if (media.audioTrack) media.audioTrack.enabled = s.audioOn;
      if (media.videoTrack) media.videoTrack.enabled = s.videoOn;
      meterEl.hidden = !media.audioTrack || !s.audioOn;
    },
    startMeter() {
      cancelAnimationFrame(meterTimer);
      meter?.close();
      meter = null;
      if (!s.media.audioTrack) return;
      meter = new LevelMeter(s.media.audioTrack);
      const tick = () => {
        meterBar.style.transform = `scaleX(${s.audioOn && meter ? meter.level().toFixed(3) : 0})`;
        meterTimer = requestAnimationFrame(tick);
      };
      meterTimer = requestAnimationFrame(tick);
    },
    stopMeter() {
      cancelAnimationFrame(meterTimer);
      meter?.close();
      meter = null;
    },
  };
}

/**
 * Camera, microphone and speaker choice (filled once capture has been allowed: labels need it),
 * and a speaker test for everyone: where the browser cannot choose the output (phones, Safari),
 * the sound plays where the device sends it, and the test says so.
 * Returns {el, camSel, micSel, spkSel, fill(s)}, each *Sel a {select, wrap}.
 */
function deviceFields(s) {
  const deviceSelect = (id, label) => {
    const select = h("select", { id, class: "field-select device-select" });
    const wrap = h("div", { class: "device-field", hidden: true },
      h("label", { class: "field-label", htmlFor: id, text: label }), select);
    return { select, wrap };
  };
  const camSel = deviceSelect("prejoin-camera", t("devices.camera"));
  const micSel = deviceSelect("prejoin-microphone", t("devices.microphone"));
  const spkSel = deviceSelect("prejoin-speaker", t("devices.speaker"));
  const testNote = h("p", { class: "field-hint", text: canChooseSpeaker() ? "" : t("prejoin.speakerFixed") });
  const test = h("button", { type: "button", class: "button button-secondary button-small", dataset: { testid: "test-speaker" },
    text: t("prejoin.testSpeaker"), on: { click: () => playTestSound(s.speakerId, test) } });
  const el = h("div", { class: "device-fields" }, camSel.wrap, micSel.wrap, spkSel.wrap,
    h("div", { class: "speaker-test" }, test, testNote));
  const fillSelect = ({ select, wrap }, list, current, numbered) => {
    select.replaceChildren(...list.map((d, i) => deviceOption(d, i, numbered)));
    if (current && list.some((d) => d.deviceId === current)) select.value = current;
    wrap.hidden = list.length < 1;
  };
  return {
    el,
    camSel,
    micSel,
    spkSel,
    /** List the devices, selecting those in use (s: showPrejoin's choices). */
    async fill(s) {
      const list = await listDevices();
      fillSelect(camSel, list.videoinput, s.media.videoTrack?.getSettings?.().deviceId, "devices.cameraNumbered");
      fillSelect(micSel, list.audioinput, s.media.audioTrack?.getSettings?.().deviceId, "devices.microphoneNumbered");
      if (canChooseSpeaker()) fillSelect(spkSel, list.audiooutput, s.speakerId, "devices.speakerNumbered");
    },
  };
}

/** A short two-note chime on the chosen output (a generated WAV, so nothing is downloaded). */
function playTestSound(sinkId, button) {
  const rate = 22050;
  const seconds = 0.9;
  const n = Math.floor(rate * seconds);
  const data = new DataView(new ArrayBuffer(44 + n * 2));
  const text = (offset, s) => [...s].forEach((c, i) => data.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); data.setUint32(4, 36 + n * 2, true); text(8, "WAVEfmt ");
  data.setUint32(16, 16, true); data.setUint16(20, 1, true); data.setUint16(22, 1, true);
  data.setUint32(24, rate, true); data.setUint32(28, rate * 2, true); data.setUint16(32, 2, true);
  data.setUint16(34, 16, true); text(36, "data"); data.setUint32(40, n * 2, true);
  for (let i = 0; i < n; i++) {
    const time = i / rate;
    const freq = time < seconds / 2 ? 660 : 880;
    const envelope = Math.min(1, time * 40) * Math.max(0, 1 - ((time % (seconds / 2)) / (seconds / 2)));
    data.setInt16(44 + i * 2, Math.sin(2 * Math.PI * freq * time) * envelope * 0.4 * 32767, true);
  }
  const url = URL.createObjectURL(new Blob([data], { type: "audio/wav" }));
  const audio = new Audio(url);
  const done = () => {
    URL.revokeObjectURL(url);
    button.disabled = false;
  };
  button.disabled = true;
  audio.addEventListener("ended", done, { once: true });
  const sink = sinkId && audio.setSinkId ? audio.setSinkId(sinkId).catch(() => {}) : Promise.resolve();
  sink.then(() => audio.play()).catch(done);
}

/**
 * The form: the meeting's name (for a host "Your meeting", for others "You are invited to"), name,
 * organisation, Join, the status line; then the devices and the language (below Join, so Join is
 * on the first screen of a phone).
 */
function prejoinForm({ room, role, s, devices, status, onLanguage, recording = false }) {
  const nameInput = h("input", {
    id: "prejoin-name",
    name: "name",
    type: "text",
    required: true,
    maxLength: NAME_MAX,
    autocomplete: "name",
    value: s.typed.name,
    attrs: { "aria-describedby": "prejoin-name-error", spellcheck: "false" },
  });
  const nameError = h("p", { id: "prejoin-name-error", class: "field-error", attrs: { "aria-live": "polite" } });
  const orgInput = h("input", {
    id: "prejoin-org",
    name: "organisation",
    type: "text",
    maxLength: ORG_MAX,
    autocomplete: "organization",
    placeholder: t("prejoin.organisationPlaceholder"),
    value: s.typed.organisation,
  });
  const joinBtn = h("button", {
    id: "join-button",
    type: "submit",
    class: "button button-primary button-large",
    text: t("prejoin.join"),
    dataset: { testid: "join" },
  });
  const note = { host: "prejoin.roleHost", staff: "prejoin.roleStaff", viewer: "prejoin.roleViewer" }[role];
  const language = h("div", { class: "device-field language-field" },
    h("label", { class: "field-label", htmlFor: "prejoin-language", text: t("common.language") }),
    languageSelect(h, { id: "prejoin-language", onChange: onLanguage }));
  const form = h(
    "form",
    { class: "prejoin-form", noValidate: true, attrs: { "aria-labelledby": "prejoin-title" } },
    h("p", { class: "eyebrow", text: t(role === "host" ? "prejoin.eyebrowHost" : "prejoin.eyebrowInvited") }),
    h("h1", { id: "prejoin-title", text: room.title, attrs: { translate: "no" } }),
    note ? h("p", { class: "role-note", text: t(note) }) : null,
    recording ? h("p", { class: "recorded-note", dataset: { testid: "prejoin-recorded" }, attrs: { role: "note" } },
      h("span", { class: "rec-dot", attrs: { "aria-hidden": "true" } }), t("prejoin.recorded")) : null,
    h("label", { class: "field-label", htmlFor: "prejoin-name", text: t("prejoin.name") }),
    nameInput,
    nameError,
    h("label", { class: "field-label", htmlFor: "prejoin-org" }, t("prejoin.organisation"), " ",
      h("span", { class: "optional", text: t("common.optional") })),
    orgInput,
    joinBtn,
    status,
    h("div", { class: "prejoin-settings" }, devices, language),
  );
  return { form, nameInput, nameError, orgInput, joinBtn };
}

/** Capture camera and microphone for the preview; resolves once settled (s.media is then set). */
function startCapture(s) {
  return captureMedia({ audio: true, video: true }).then((result) => {
    s.media = result;
  });
}

/** Capture settled: show it (the preview, the meter, what failed, the device lists). */
function showCaptured(s, { preview, devices, status }) {
  if (s.media.videoTrack) preview.video.srcObject = new MediaStream([s.media.videoTrack]);
  preview.startMeter();
  status.textContent = captureMessage(s.media.errors);
  preview.render();
  devices.fill(s);
}

/** Switch the camera or microphone to another device (the preview follows at once). */
async function switchDevice(s, preview, status, kind, deviceId) {
  const isVideo = kind === "videoinput";
  rememberDevice(kind, deviceId);
  const fresh = await captureMedia({
    audio: !isVideo,
    video: isVideo,
    audioDeviceId: isVideo ? "" : deviceId,
    videoDeviceId: isVideo ? deviceId : "",
  });
  const track = isVideo ? fresh.videoTrack : fresh.audioTrack;
  if (!track) {
    status.textContent = t("prejoin.deviceFailed");
    return;
  }
  const media = s.media;
  const old = isVideo ? media.videoTrack : media.audioTrack;
  if (old) {
    media.stream.removeTrack(old);
    old.stop();
  }
  media.stream.addTrack(track);
  if (isVideo) {
    media.videoTrack = track;
    preview.video.srcObject = new MediaStream([track]);
  } else {
    media.audioTrack = track;
    preview.startMeter();
  }
  delete media.errors[isVideo ? "video" : "audio"];
  status.textContent = captureMessage(media.errors);
  preview.render();
}

/** Resolves (resolve()) with the choices when Join is clicked with a name (see showPrejoin). */
function waitForJoin(f, s, { preview, canPublish, resolve }) {
  f.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = f.nameInput.value.trim();
    if (!name) {
      f.nameError.textContent = t("prejoin.nameMissing");
      f.nameInput.setAttribute("aria-invalid", "true");
      f.nameInput.focus();
      return;
    }
    f.joinBtn.disabled = true;
    f.joinBtn.textContent = t("prejoin.joining");
    const organisation = f.orgInput.value.trim();
    remember(NAME_KEY, name);
    remember(ORG_KEY, organisation);
    if (canPublish) {
      remember(AUDIO_ON_KEY, s.audioOn ? "on" : "off");
      remember(VIDEO_ON_KEY, s.videoOn ? "on" : "off");
    }
    await s.capturing;
    preview.stopMeter();
    resolve({
      name,
      organisation,
      media: s.media,
      audioOn: s.audioOn && Boolean(s.media.audioTrack),
      videoOn: s.videoOn && Boolean(s.media.videoTrack),
      wantAudio: s.audioOn,
      wantVideo: s.videoOn,
      speakerId: s.speakerId,
    });
  });
}
