// Local capture: camera and microphone (with the device chosen on this browser remembered), the
// device lists, switching one track to another device, and the input level meter.

export const VIDEO_CONSTRAINTS = {
  width: { ideal: 960 },
  height: { ideal: 540 },
  frameRate: { ideal: 30, max: 30 },
};
export const AUDIO_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/** Why capture failed, in words for the pre-join screen. */
function describeCaptureError(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "blocked";
    case "NotFoundError":
    case "OverconstrainedError":
      return "missing";
    case "NotReadableError":
      return "busy";
    default:
      return "unavailable";
  }
}

const DEVICE_KEYS = { audioinput: "sitroom.microphone", videoinput: "sitroom.camera", audiooutput: "sitroom.speaker" };

/** The device chosen on this browser for kind "audioinput" | "videoinput" | "audiooutput" ("" = default). */
export function rememberedDevice(kind) {
  try {
    return localStorage.getItem(DEVICE_KEYS[kind]) || "";
  } catch {
    return "";
  }
}

export function rememberDevice(kind, deviceId) {
  try {
    localStorage.setItem(DEVICE_KEYS[kind], deviceId || "");
  } catch {
    /* private mode */
  }
}

/**
 * Constraints for one kind, on exactly the chosen device if any. ("ideal" is not enough: Chromium
 * weighs it against the size and frame rate wanted and may pick another camera.) captureMedia
 * falls back to any device when the chosen one is gone.
 */
function withDevice(base, deviceId) {
  return deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
}

/** Devices by kind: {audioinput: [{deviceId, label}], videoinput: [...], audiooutput: [...]}. */
export async function listDevices() {
  const result = { audioinput: [], videoinput: [], audiooutput: [] };
  try {
    for (const d of await navigator.mediaDevices.enumerateDevices()) {
      if (result[d.kind] && d.deviceId) result[d.kind].push({ deviceId: d.deviceId, label: d.label });
    }
  } catch {
    /* no device list: the selects stay hidden */
  }
  return result;
}

/** Whether this browser can choose where sound plays (HTMLMediaElement.setSinkId). */
export function canChooseSpeaker() {
  return typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
}

/**
 * Ask for microphone and camera. Never throws: returns whatever could be captured, and for each kind
 * that could not, a reason ("blocked", "missing", "busy", "unavailable", "insecure").
 * Result: {stream, audioTrack, videoTrack, errors: {audio?, video?}}
 */
export async function captureMedia({
  audio = true,
  video = true,
  audioDeviceId = rememberedDevice("audioinput"),
  videoDeviceId = rememberedDevice("videoinput"),
} = {}) {
  const stream = new MediaStream();
  const errors = {};
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const reason = window.isSecureContext ? "unavailable" : "insecure";
    if (audio) errors.audio = reason;
    if (video) errors.video = reason;
    return { stream, audioTrack: null, videoTrack: null, errors };
  }
  const want = {
    audio: audio ? withDevice(AUDIO_CONSTRAINTS, audioDeviceId) : false,
    video: video ? withDevice(VIDEO_CONSTRAINTS, videoDeviceId) : false,
  };
  const anyDevice = { audio: AUDIO_CONSTRAINTS, video: VIDEO_CONSTRAINTS };
  const chosen = { audio: Boolean(audioDeviceId), video: Boolean(videoDeviceId) };
  if (want.audio || want.video) {
    try {
      const s = await navigator.mediaDevices.getUserMedia(want);
      s.getTracks().forEach((t) => stream.addTrack(t));
    } catch (err) {
      // One device may be the problem (or a chosen one is gone): try each kind on its own.
      for (const kind of ["audio", "video"]) {
        if (!want[kind]) continue;
        try {
          const s = await navigator.mediaDevices.getUserMedia({ [kind]: want[kind] });
          s.getTracks().forEach((t) => stream.addTrack(t));
        } catch (kindErr) {
          let error = kindErr;
          if (chosen[kind]) {
            try {
              const s = await navigator.mediaDevices.getUserMedia({ [kind]: anyDevice[kind] });
              s.getTracks().forEach((t) => stream.addTrack(t));
              error = null;
            } catch (anyErr) {
              error = anyErr;
            }
          }
          if (error) errors[kind] = describeCaptureError(error);
        }
      }
    }
  }
  return {
    stream,
    audioTrack: stream.getAudioTracks()[0] || null,
    videoTrack: stream.getVideoTracks()[0] || null,
    errors,
  };
}

/**
 * One new track from exactly this device (kind "audioinput" | "videoinput"), for switching devices
 * during a meeting. Never throws: {track, error} with error a reason as in captureMedia.
 */
export async function captureTrack(kind, deviceId) {
  const isVideo = kind === "videoinput";
  const base = isVideo ? VIDEO_CONSTRAINTS : AUDIO_CONSTRAINTS;
  const constraints = deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
  try {
    const stream = await navigator.mediaDevices.getUserMedia(isVideo ? { video: constraints } : { audio: constraints });
    const track = (isVideo ? stream.getVideoTracks() : stream.getAudioTracks())[0] || null;
    return { track, error: track ? null : "unavailable" };
  } catch (err) {
    return { track: null, error: describeCaptureError(err) };
  }
}

export function stopStream(stream) {
  if (stream) stream.getTracks().forEach((t) => t.stop());
}


/** Input level of an audio track, 0..1, sampled on demand (for meters and the speaking ring). */
export class LevelMeter {
  constructor(track) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    this.ctx = null;
    if (!Ctx || !track) return;
    try {
      this.ctx = new Ctx();
      this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = 512;
      this.buffer = new Float32Array(this.analyser.fftSize);
      this.source.connect(this.analyser);
    } catch {
      this.ctx = null;
    }
  }

  level() {
    if (!this.ctx) return 0;
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    this.analyser.getFloatTimeDomainData(this.buffer);
    let sum = 0;
    for (const v of this.buffer) sum += v * v;
    const rms = Math.sqrt(sum / this.buffer.length);
    return Math.min(1, rms * 4);
  }

  close() {
    if (this.ctx) this.ctx.close().catch(() => {});
    this.ctx = null;
  }
}
