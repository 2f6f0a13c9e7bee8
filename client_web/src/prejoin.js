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
  let audioOn = previous ? previous.audioOn : remembered(AUDIO_ON_KEY) !== "off";
  let videoOn = previous ? previous.videoOn : remembered(VIDEO_ON_KEY) !== "off";
  let media = { stream: new MediaStream(), audioTrack: null, videoTrack: null, errors: {} };
  let meter = null;
  let meterTimer = 0;

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
  const status = h("p", { class: "preview-status", attrs: { role: "status", "aria-live": "polite" } });
  const meterBar = h("span", { class: "meter-fill" });
  const meterEl = h("span", { class: "mic-meter", attrs: { "aria-hidden": "true" } }, meterBar);
  const micBtn = toggleButton({ kind: "mic", on: audioOn, available: false, compact: true });
  const camBtn = toggleButton({ kind: "camera", on: videoOn, available: false, compact: true });
  const preview = h(
    "div",
    { class: "preview video-off" },
    video,
    avatar,
    h("div", { class: "preview-controls" }, micBtn, meterEl, camBtn),
  );

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
  const roleNote = {
    host: "You are joining as the host of this meeting.",
    staff: "You are joining as meeting staff.",
    viewer: "You are joining as a viewer: you will see and hear the meeting.",
  }[role];

  // Camera, microphone and speaker choice (filled once capture has been allowed: labels need it).
  const deviceSelect = (id, label) => {
    const select = h("select", { id, class: "field-select device-select" });
    const wrap = h("div", { class: "device-field", hidden: true },
      h("label", { class: "field-label", htmlFor: id, text: label }), select);
    return { select, wrap };
  };
  const camSel = deviceSelect("prejoin-camera", "Camera");
  const micSel = deviceSelect("prejoin-microphone", "Microphone");
  const spkSel = deviceSelect("prejoin-speaker", "Speaker");
  const devices = h("div", { class: "device-fields" }, camSel.wrap, micSel.wrap, spkSel.wrap);
  let speakerId = rememberedDevice("audiooutput");

  const form = h(
    "form",
    { class: "prejoin-form", noValidate: true, attrs: { "aria-labelledby": "prejoin-title" } },
    h("p", { class: "eyebrow", text: "You are invited to" }),
    h("h1", { id: "prejoin-title", text: room.title }),
    roleNote ? h("p", { class: "role-note", text: roleNote }) : null,
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
    canPublish ? devices : null,
    joinBtn,
    status,
  );

  root.replaceChildren(
    h("div", { class: "prejoin" }, canPublish ? preview : null, form),
  );

  function renderPreview() {
    const hasVideo = Boolean(media.videoTrack) && videoOn;
    preview.classList.toggle("video-off", !hasVideo);
    micBtn.update(audioOn && Boolean(media.audioTrack), Boolean(media.audioTrack));
    camBtn.update(videoOn && Boolean(media.videoTrack), Boolean(media.videoTrack));
    if (media.audioTrack) media.audioTrack.enabled = audioOn;
    if (media.videoTrack) media.videoTrack.enabled = videoOn;
    meterEl.hidden = !media.audioTrack || !audioOn;
  }

  function fill({ select, wrap }, list, current, fallbackLabel) {
    select.replaceChildren(...list.map((d, i) => h("option", { value: d.deviceId, text: d.label || `${fallbackLabel} ${i + 1}` })));
    if (current && list.some((d) => d.deviceId === current)) select.value = current;
    wrap.hidden = list.length < 1;
  }

  async function fillDevices() {
    const list = await listDevices();
    fill(camSel, list.videoinput, media.videoTrack?.getSettings?.().deviceId, "Camera");
    fill(micSel, list.audioinput, media.audioTrack?.getSettings?.().deviceId, "Microphone");
    if (canChooseSpeaker()) fill(spkSel, list.audiooutput, speakerId, "Speaker");
  }

  function startMeter() {
    cancelAnimationFrame(meterTimer);
    meter?.close();
    meter = null;
    if (!media.audioTrack) return;
    meter = new LevelMeter(media.audioTrack);
    const tick = () => {
      meterBar.style.transform = `scaleX(${audioOn && meter ? meter.level().toFixed(3) : 0})`;
      meterTimer = requestAnimationFrame(tick);
    };
    meterTimer = requestAnimationFrame(tick);
  }

  /** Switch the camera or microphone to another device (the preview follows at once). */
  async function switchDevice(kind, deviceId) {
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
    const old = isVideo ? media.videoTrack : media.audioTrack;
    if (old) {
      media.stream.removeTrack(old);
      old.stop();
    }
    media.stream.addTrack(track);
    if (isVideo) {
      media.videoTrack = track;
      video.srcObject = new MediaStream([track]);
    } else {
      media.audioTrack = track;
      startMeter();
    }
    delete media.errors[isVideo ? "video" : "audio"];
    status.textContent = captureMessage(media.errors);
    renderPreview();
  }

  camSel.select.addEventListener("change", () => switchDevice("videoinput", camSel.select.value));
  micSel.select.addEventListener("change", () => switchDevice("audioinput", micSel.select.value));
  spkSel.select.addEventListener("change", () => {
    speakerId = spkSel.select.value;
    rememberDevice("audiooutput", speakerId);
  });

  micBtn.addEventListener("click", () => {
    audioOn = !audioOn;
    renderPreview();
  });
  camBtn.addEventListener("click", () => {
    videoOn = !videoOn;
    renderPreview();
  });
  nameInput.addEventListener("input", () => {
    avatarText.textContent = initials(nameInput.value);
    if (nameInput.value.trim()) {
      nameError.textContent = "";
      nameInput.removeAttribute("aria-invalid");
    }
  });

  const capturing = canPublish
    ? captureMedia({ audio: true, video: true }).then((result) => {
        media = result;
        if (!root.contains(form)) {
          stopStream(media.stream); // the user already left this screen
          return;
        }
        if (media.videoTrack) video.srcObject = new MediaStream([media.videoTrack]);
        startMeter();
        status.textContent = captureMessage(media.errors);
        renderPreview();
        fillDevices();
      })
    : Promise.resolve();
  if (canPublish) status.textContent = "Starting camera and microphone…";
  renderPreview();

  if (!nameInput.value) nameInput.focus();
  else joinBtn.focus();

  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = nameInput.value.trim();
      if (!name) {
        nameError.textContent = "Please enter your name so others know who you are.";
        nameInput.setAttribute("aria-invalid", "true");
        nameInput.focus();
        return;
      }
      joinBtn.disabled = true;
      joinBtn.textContent = "Joining…";
      const organisation = orgInput.value.trim();
      remember(NAME_KEY, name);
      remember(ORG_KEY, organisation);
      if (canPublish) {
        remember(AUDIO_ON_KEY, audioOn ? "on" : "off");
        remember(VIDEO_ON_KEY, videoOn ? "on" : "off");
      }
      await capturing;
      cancelAnimationFrame(meterTimer);
      meter?.close();
      resolve({
        name,
        organisation,
        media,
        audioOn: audioOn && Boolean(media.audioTrack),
        videoOn: videoOn && Boolean(media.videoTrack),
        wantAudio: audioOn,
        wantVideo: videoOn,
        speakerId,
      });
    });
  });
}
