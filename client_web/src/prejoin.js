// The pre-join screen: name and organisation, camera and microphone preview, Join.
import { h, initials } from "./dom.js";
import { toggleButton } from "./controls.js";
import {
  captureMedia,
  stopStream,
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

const CAPTURE_HELP = {
  blocked: "access was blocked. Allow it from the icon in the address bar, then reload",
  missing: "no device was found",
  busy: "the device is in use by another application",
  insecure: "this page is not served over HTTPS",
  unavailable: "the device could not be started",
};

const ROLE_NOTES = {
  host: "You are joining as the host of this meeting.",
  staff: "You are joining as meeting staff.",
  viewer: "You are joining as a viewer: you will see and hear the meeting.",
};

function captureMessage(errors) {
  const lines = [];
  if (errors.audio) lines.push(`Microphone: ${CAPTURE_HELP[errors.audio]}.`);
  if (errors.video) lines.push(`Camera: ${CAPTURE_HELP[errors.video]}.`);
  if (!lines.length) return "";
  return `${lines.join(" ")} You can still join the meeting.`;
}

/**
 * Render the pre-join screen into root. Resolves when the user clicks Join with
 * {name, organisation, media: {stream, audioTrack, videoTrack, errors}, audioOn, videoOn}.
 * `previous` carries choices from an earlier join (Rejoin keeps them).
 */
export function showPrejoin(root, { room, role, previous = null }) {
  const canPublish = role !== "viewer";
  // What the user chose so far; `media` is replaced once capture settles.
  const s = {
    audioOn: previous ? previous.audioOn : remembered(AUDIO_ON_KEY) !== "off",
    videoOn: previous ? previous.videoOn : remembered(VIDEO_ON_KEY) !== "off",
    media: { stream: new MediaStream(), audioTrack: null, videoTrack: null, errors: {} },
    speakerId: rememberedDevice("audiooutput"),
  };
  const preview = createPreview(s);
  const status = h("p", { class: "preview-status", attrs: { role: "status", "aria-live": "polite" } });
  const devices = deviceFields();
  const f = prejoinForm({ room, role, previous, devices: canPublish ? devices.el : null, status });
  root.replaceChildren(
    h("div", { class: "prejoin" }, canPublish ? preview.el : null, f.form),
  );

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

  const capturing = canPublish ? startCapture(root, f.form, s, { preview, devices, status }) : Promise.resolve();
  if (canPublish) status.textContent = "Starting camera and microphone…";
  preview.render();

  if (!f.nameInput.value) f.nameInput.focus();
  else f.joinBtn.focus();
  return waitForJoin(f, s, { preview, capturing, canPublish });
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
    attrs: { playsinline: "", "aria-label": "Camera preview" },
  });
  const avatarText = h("span", { class: "avatar-initials", text: initials(remembered(NAME_KEY)) });
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
    },
  };
}

/**
 * Camera, microphone and speaker choice (filled once capture has been allowed: labels need it).
 * Returns {el, camSel, micSel, spkSel, fill(s)}, each *Sel a {select, wrap}.
 */
function deviceFields() {
  const deviceSelect = (id, label) => {
    const select = h("select", { id, class: "field-select device-select" });
    const wrap = h("div", { class: "device-field", hidden: true },
      h("label", { class: "field-label", htmlFor: id, text: label }), select);
    return { select, wrap };
  };
  const camSel = deviceSelect("prejoin-camera", "Camera");
  const micSel = deviceSelect("prejoin-microphone", "Microphone");
  const spkSel = deviceSelect("prejoin-speaker", "Speaker");
  const el = h("div", { class: "device-fields" }, camSel.wrap, micSel.wrap, spkSel.wrap);
  const fillSelect = ({ select, wrap }, list, current, fallbackLabel) => {
    select.replaceChildren(...list.map((d, i) => h("option", { value: d.deviceId, text: d.label || `${fallbackLabel} ${i + 1}` })));
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
      fillSelect(camSel, list.videoinput, s.media.videoTrack?.getSettings?.().deviceId, "Camera");
      fillSelect(micSel, list.audioinput, s.media.audioTrack?.getSettings?.().deviceId, "Microphone");
      if (canChooseSpeaker()) fillSelect(spkSel, list.audiooutput, s.speakerId, "Speaker");
    },
  };
}

/** The form: the invitation, name, organisation, the device fields (if any), Join and the status line. */
function prejoinForm({ room, role, previous, devices, status }) {
  const nameInput = h("input", {
    id: "prejoin-name",
    name: "name",
    type: "text",
    required: true,
    maxLength: NAME_MAX,
    autocomplete: "name",
    value: previous?.name ?? remembered(NAME_KEY),
    attrs: { "aria-describedby": "prejoin-name-error", spellcheck: "false" },
  });
  const nameError = h("p", { id: "prejoin-name-error", class: "field-error", attrs: { "aria-live": "polite" } });
  const orgInput = h("input", {
    id: "prejoin-org",
    name: "organisation",
    type: "text",
    maxLength: ORG_MAX,
    autocomplete: "organization",
    placeholder: "e.g. City of Porto",
    value: previous?.organisation ?? remembered(ORG_KEY),
  });
  const joinBtn = h("button", {
    id: "join-button",
    type: "submit",
    class: "button button-primary button-large",
    text: "Join meeting",
    dataset: { testid: "join" },
  });
  const form = h(
    "form",
    { class: "prejoin-form", noValidate: true, attrs: { "aria-labelledby": "prejoin-title" } },
    h("p", { class: "eyebrow", text: "You are invited to" }),
    h("h1", { id: "prejoin-title", text: room.title }),
    ROLE_NOTES[role] ? h("p", { class: "role-note", text: ROLE_NOTES[role] }) : null,
    h("label", { class: "field-label", htmlFor: "prejoin-name", text: "Your name" }),
    nameInput,
    nameError,
    h(
      "label",
      { class: "field-label", htmlFor: "prejoin-org" },
      "Organisation or city ",
      h("span", { class: "optional", text: "(optional)" }),
    ),
    orgInput,
    devices,
    joinBtn,
    status,
  );
  return { form, nameInput, nameError, orgInput, joinBtn };
}

/** Capture camera and microphone for the preview; resolves once settled (s.media is then set). */
function startCapture(root, form, s, { preview, devices, status }) {
  return captureMedia({ audio: true, video: true }).then((result) => {
    s.media = result;
    if (!root.contains(form)) {
      stopStream(s.media.stream); // the user already left this screen
      return;
    }
    if (s.media.videoTrack) preview.video.srcObject = new MediaStream([s.media.videoTrack]);
    preview.startMeter();
    status.textContent = captureMessage(s.media.errors);
    preview.render();
    devices.fill(s);
  });
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
    status.textContent = "That device could not be started; keeping the previous one.";
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

/** Resolves with the choices when Join is clicked with a name (see showPrejoin). */
function waitForJoin(f, s, { preview, capturing, canPublish }) {
  return new Promise((resolve) => {
    f.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = f.nameInput.value.trim();
      if (!name) {
        f.nameError.textContent = "Please enter your name so others know who you are.";
        f.nameInput.setAttribute("aria-invalid", "true");
        f.nameInput.focus();
        return;
      }
      f.joinBtn.disabled = true;
      f.joinBtn.textContent = "Joining…";
      const organisation = f.orgInput.value.trim();
      remember(NAME_KEY, name);
      remember(ORG_KEY, organisation);
      if (canPublish) {
        remember(AUDIO_ON_KEY, s.audioOn ? "on" : "off");
        remember(VIDEO_ON_KEY, s.videoOn ? "on" : "off");
      }
      await capturing;
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
  });
}
