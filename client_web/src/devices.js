// Choosing the camera, microphone and speaker during the meeting (the device menu of controls.js).
// A new camera or microphone replaces the old track on the publish connection
// (RTCRtpSender.replaceTrack, no new offer) and keeps the mute state; the choice is remembered for
// the next pre-join, as the pre-join's own choice is.
import { toast } from "./dom.js";
import { listDevices, rememberedDevice, rememberDevice, captureTrack } from "./capture.js";
import { t } from "./i18n.js";

/**
 * A track from exactly this device, or null. Some phones open one camera at a time: then the
 * current camera (old, from oldDevice) is freed and the new one tried again (or the old one taken
 * back).
 */
async function openDevice(kind, deviceId, old, oldDevice) {
  let { track } = await captureTrack(kind, deviceId);
  if (!track && old && kind === "videoinput") {
    old.stop();
    ({ track } = await captureTrack(kind, deviceId));
    if (!track) ({ track } = await captureTrack(kind, oldDevice));
  }
  return track;
}

export class MeetingDevices {
  /** meeting: its media, mute state, publishing, gallery, stage and controls are kept in step. */
  constructor(meeting) {
    this.meeting = meeting;
    this.queue = Promise.resolve();
    this.onDeviceChange = () => this.meeting.controls?.devicesOpen() && this.refresh();
  }

  /** Keep the open device menu up to date when devices come and go. */
  watch() {
    navigator.mediaDevices?.addEventListener?.("devicechange", this.onDeviceChange);
  }

  unwatch() {
    navigator.mediaDevices?.removeEventListener?.("devicechange", this.onDeviceChange);
  }

  /** Fill the device menu: what this browser offers, and what is in use. */
  async refresh() {
    const m = this.meeting;
    const lists = await listDevices();
    const inUse = (track) => (track && track.readyState === "live" && track.getSettings?.().deviceId) || "";
    m.controls?.setDevices(lists, {
      videoinput: inUse(m.media.videoTrack) || rememberedDevice("videoinput"),
      audioinput: inUse(m.media.audioTrack) || rememberedDevice("audioinput"),
      audiooutput: m.gallery?.sinkId ?? (m.choices.speakerId || rememberedDevice("audiooutput")),
    });
  }

  /** The user chose a device in the menu; switches run one after another. */
  choose(kind, deviceId) {
    this.queue = this.queue
      .then(() => this.switchTo(kind, deviceId))
      .catch((err) => console.warn("switching device failed:", err));
    return this.queue;
  }

  /** Use another camera, microphone ("videoinput", "audioinput") or speaker ("audiooutput"). */
  async switchTo(kind, deviceId) {
    const m = this.meeting;
    const gone = () => m.state.status === "left" || m.state.status === "failed";
    if (gone()) return;
    if (kind === "audiooutput") {
      rememberDevice(kind, deviceId);
      m.choices.speakerId = deviceId; // also used after a reconnect (collab.js)
      await m.gallery.setSinkId(deviceId);
      return;
    }
    if (!m.canPublish || (kind !== "videoinput" && kind !== "audioinput")) return;
    const isVideo = kind === "videoinput";
    const old = m.media[isVideo ? "videoTrack" : "audioTrack"];
    const oldDevice = (old && old.getSettings?.().deviceId) || "";
    if (old && old.readyState === "live" && oldDevice === deviceId) {
      rememberDevice(kind, deviceId);
      return;
    }
    const track = await openDevice(kind, deviceId, old, oldDevice);
    if (gone()) {
      track?.stop();
      return;
    }
    if (!track) {
      toast(t(isVideo ? "devices.cameraFailed" : "devices.microphoneFailed"), "error");
      this.refresh();
      return;
    }
    await this.useTrack(kind, deviceId, track, old);
  }

  /** Put the new track where `old` was: in the stream, on the publish connection, in the views. */
  async useTrack(kind, deviceId, track, old) {
    const m = this.meeting;
    const isVideo = kind === "videoinput";
    const switched = track.getSettings?.().deviceId === deviceId;
    track.enabled = isVideo ? m.videoOn : m.audioOn; // muted stays muted
    if (old) m.media.stream.removeTrack(old);
    m.media.stream.addTrack(track);
    m.media[isVideo ? "videoTrack" : "audioTrack"] = track;
    if (switched) rememberDevice(kind, deviceId);
    try {
      // Same source, another track: Publisher.setTracks uses replaceTrack and sends no new offer.
      if (m.publishing.publisher || m.state.status === "joined") await m.publishing.update(m.session);
    } catch (err) {
      console.warn("publishing the new device failed:", err);
    }
    if (old && old !== track) old.stop();
    if (!isVideo) m.speaking.resetSelfMeter(); // the self level meter follows the new microphone
    const self = m.selfId();
    if (isVideo && self && m.gallery.has(self)) m.gallery.setTracks(self, { camera: track });
    m.stageView?.onTracks(m.remoteTracks);
    m.updateControls();
    if (m.controls.devicesOpen()) this.refresh();
    if (!switched) toast(t("devices.keptPrevious"));
    else if (track.label) toast(t("devices.nowUsing", { device: track.label }));
    else toast(t(isVideo ? "devices.nowUsingCamera" : "devices.nowUsingMicrophone"));
  }
}
