// The meeting: one Socket.IO session, the publish and subscribe connections, the gallery and the
// controls. Follows docs/protocol.md; reconnects by joining again on a fresh connection.
import { Connection } from "./connection.js";
import { h, toast, showNotice } from "./dom.js";
import { icon } from "./icons.js";
import { Gallery } from "./gallery.js";
import { createControls } from "./controls.js";
import { Publisher, Subscriber, pausedVideos, videoKey } from "./media.js";
import {
  LevelMeter,
  stopStream,
  listDevices,
  rememberedDevice,
  rememberDevice,
  canChooseSpeaker,
  captureTrack,
} from "./capture.js";
import { attachStage } from "./stage.js";
import { attachCollab, collabControls } from "./collab.js";
import { deviceId } from "./ui.js";

// The speaking ring (pollSpeaking): a received level at or above the SFU's voice level (-40 dBov,
// media/speaker.py), sampled often enough to catch a short sound, held so it does not flicker.
const SPEAKING_LEVEL = 0.0095; // -40 dBov is 0.01: a little under, so exactly -40 counts
const SELF_SPEAKING_LEVEL = 0.08; // LevelMeter's scale (rms * 4), not dBov
const SPEAKING_POLL_MS = 50; // getSynchronizationSources() costs ~1 us: cheap for 49 tiles
const SPEAKING_HOLD_MS = 700;
const MEDIA_FAILED_GRACE_MS = 4000;
const RECOVER_MAX_DELAY_MS = 30000;
const RECOVER_RESET_MS = 60000;
// subscribe_prefs: sent this long after the videos shown last changed, and checked this often
// anyway (a stage browsed privately changes what is shown without an event).
const PREFS_DEBOUNCE_MS = 250;
const PREFS_POLL_MS = 1000;

const ERROR_TEXT = {
  bad_request: "The server did not accept that request.",
  invalid_token: "This invite link is not valid any more.",
  room_not_found: "This meeting no longer exists.",
  not_joined: "You are not in the meeting yet.",
  forbidden: "Your role in this meeting does not allow that.",
  bad_sdp: "Your camera or microphone could not be connected.",
  rate_limited: "Too many actions at once; please wait a moment.",
  internal: "The server had a problem; please try again.",
  timeout: "The server did not answer in time.",
};

export function errorText(code, fallback) {
  return ERROR_TEXT[code] || fallback || "Something went wrong.";
}

function formatElapsed(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(total / 3600);
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, "0");
  const ss = String(total % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class Meeting {
  /**
   * root: element to render into. options: {roomId, token, room, role, choices, onExit(kind, info)}
   * where choices come from the pre-join screen and onExit is called after Leave or a fatal error.
   */
  constructor(root, { roomId, token, room, role, choices, onExit }) {
    this.root = root;
    this.token = token;
    this.choices = choices;
    this.onExit = onExit;
    this.canPublish = role !== "viewer";
    this.media = choices.media;
    this.audioOn = choices.audioOn;
    this.videoOn = choices.videoOn;
    if (this.media.audioTrack) this.media.audioTrack.enabled = this.audioOn;
    if (this.media.videoTrack) this.media.videoTrack.enabled = this.videoOn;
    /** Read-only view for tests and debugging (window.sitroom.state). */
    this.state = {
      status: "connecting", // connecting | joined | reconnecting | left | failed
      roomId,
      room,
      role,
      self: null,
      participants: {},
      consumers: [],
      audioMuted: !this.audioOn,
      videoMuted: !this.videoOn,
      startedAt: Date.now(), // the Join click (after the pre-join capture settled)
      joinedAt: null,
      joins: 0, // completed joins: 1 after the first, +1 for each automatic rejoin
      resumed: false, // the latest join came back as the same participant (same id and role)
      firstRemoteFrameAt: null,
      firstFrameAt: {}, // participant id -> when their first video frame was shown
      videoPaused: [], // the last subscribe_prefs the server accepted: videos it does not forward
    };
    this.resumeKey = null; // from the latest join ack: proves who we are when rejoining
    this.prefsSent = "[]"; // JSON of the paused list the server has (a new connection: none)
    this.prefsSending = null;
    this.prefsTimer = 0;
    this.session = 0;
    this.publisher = null;
    this.subscriber = null;
    this.remoteTracks = new Map();
    this.timers = [];
    this.selfMeter = null;
  }

  get pcs() {
    return { publish: this.publisher?.pc ?? null, subscribe: this.subscriber?.pc ?? null };
  }

  selfId() {
    return this.state.self ? this.state.self.id : null;
  }

  // ---- view ----------------------------------------------------------------------------------

  render() {
    this.stage = h("main", { class: "stage", attrs: { "aria-label": "Participants" } });
    this.gallery = new Gallery(this.stage);
    this.gallery.onVideosChanged = () => this.scheduleSubscribePrefs();
    this.controls = createControls({
      canPublish: this.canPublish,
      onToggleMic: () => this.toggleMic(),
      onToggleCamera: () => this.toggleCamera(),
      onLeave: () => this.leave(),
      collab: collabControls(this), // share, hand, reactions, side panel (collab.js)
      devices: {
        inputs: this.canPublish,
        speaker: canChooseSpeaker(),
        onOpen: () => this.refreshDevices(),
        onChoose: (kind, id) => this.chooseDevice(kind, id),
      },
    });
    this.clock = h("span", { class: "meeting-clock", attrs: { "aria-label": "Meeting duration" } });
    this.banner = h("div", {
      class: "banner",
      hidden: true,
      attrs: { role: "status", "aria-live": "assertive" },
    });
    this.soundButton = h(
      "button",
      { type: "button", class: "button button-primary sound-button", hidden: true },
      "Click to turn on meeting sound",
    );
    this.soundButton.addEventListener("click", () => {
      this.gallery.resumePlayback();
      this.soundButton.hidden = true;
    });
    const header = h(
      "header",
      { class: "meeting-header" },
      h("span", { class: "brand-mark small" }, icon("hall")),
      h("h1", { class: "meeting-title", text: this.state.room.title }),
      this.clock,
    );
    this.root.replaceChildren(
      h("div", { class: "meeting" }, header, this.banner, this.soundButton, this.stage, this.controls.el),
    );
    this.stageView = attachStage(this); // the shared stage next to the gallery (stage.js)
    this.collab = attachCollab(this); // chat, people, hands, moderation, lobby (collab.js)
    document.title = `${this.state.room.title} · Sitroom`;
    this.updateControls();
    this.onAutoplayBlocked = () => (this.soundButton.hidden = false);
    document.addEventListener("sitroom:autoplay-blocked", this.onAutoplayBlocked);
  }

  showBanner(text, tone = "warning") {
    this.banner.textContent = text;
    this.banner.className = `banner banner-${tone}`;
    this.banner.hidden = !text;
  }

  updateControls() {
    this.controls.setMic(this.audioOn, Boolean(this.media.audioTrack));
    this.controls.setCamera(this.videoOn, Boolean(this.media.videoTrack));
    const selfCounted = this.state.self && this.canPublish ? 1 : 0;
    this.controls.setCount(Object.keys(this.state.participants).length + selfCounted);
  }

  selfParticipant() {
    const self = this.state.self || { id: "self" };
    return { ...self, audio_muted: !this.audioOn, video_muted: !this.videoOn };
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  start() {
    this.render();
    this.showBanner("Joining the meeting…", "info");
    this.conn = new Connection();
    const c = this.conn;
    c.on("connect", () => this.establish());
    c.on("disconnect", (reason) => this.onDisconnect(reason));
    c.on("connect_error", () => {
      if (this.state.status === "connecting" || this.state.status === "reconnecting") {
        this.showBanner("Cannot reach the server. Retrying…", "warning");
      }
    });
    c.on("participant_joined", (p) => this.onParticipantJoined(p));
    c.on("participant_left", (p) => this.onParticipantLeft(p));
    c.on("participant_updated", (p) => this.onParticipantUpdated(p));
    c.on("subscribe_offer", (offer) => this.onSubscribeOffer(offer));
    c.on("stage", () => this.scheduleSubscribePrefs()); // the stage may show someone's video now
    c.on("error", (err) => this.onServerError(err));
    c.on("joined", (ack) => this.lobbySession && this.admitted(ack, this.lobbySession));
    c.on("lobby_denied", (d) => this.lobbySession && this.end("lobby_denied", d && d.reason));
    this.collab.bind(c);
    c.open();

    this.timers.push(setInterval(() => this.pollSpeaking(), SPEAKING_POLL_MS));
    this.timers.push(
      setInterval(() => {
        if (this.state.joinedAt) this.clock.textContent = formatElapsed(Date.now() - this.state.joinedAt);
      }, 1000),
    );
    this.timers.push(setInterval(() => this.syncSubscribePrefs(), PREFS_POLL_MS));
    this.onPageHide = () => this.conn?.socket.disconnect();
    window.addEventListener("pagehide", this.onPageHide);
    this.onDeviceChange = () => this.controls?.devicesOpen() && this.refreshDevices();
    navigator.mediaDevices?.addEventListener?.("devicechange", this.onDeviceChange);
    this.requestWakeLock();
  }

  async requestWakeLock() {
    try {
      this.wakeLock = await navigator.wakeLock?.request("screen");
    } catch {
      this.wakeLock = null;
    }
  }

  /** Join on the current connection (first connect and every reconnect) and start media. */
  async establish() {
    const session = ++this.session;
    const current = () => session === this.session && this.state.status !== "left";
    this.closeMedia();
    this.clearRemote();
    this.prefsSent = "[]"; // a new connection: the server pauses nothing for it yet
    this.prefsSending = null;
    this.state.videoPaused = [];

    const request = (event, payload) => this.conn.request(event, payload);
    this.subscriber = new Subscriber({
      request,
      onTracks: (tracks) => current() && this.onTracks(tracks),
      onConnectionState: (s) => current() && this.onMediaState("subscribe", s),
    });

    let ack;
    try {
      ack = await request("join", {
        token: this.token,
        name: this.choices.name,
        organisation: this.choices.organisation,
        device_id: deviceId(),
        // After a dropped connection: come back as the same person, with the role we had.
        ...(this.resumeKey ? { resume_key: this.resumeKey } : {}),
      });
    } catch (err) {
      if (!current()) return;
      if (["invalid_token", "room_not_found", "bad_request", "forbidden"].includes(err.code)) {
        this.fail(err.code, err.message);
      } else {
        // Timeouts and lost connections: join again on a fresh connection.
        this.recover("The server is not answering; retrying.");
      }
      return;
    }
    if (!current()) return;
    if (ack.lobby && !ack.self) {
      // Waiting in the lobby: `joined` (the same ack) or `lobby_denied` comes later.
      this.lobbySession = session;
      this.state.status = "lobby";
      this.showBanner("");
      this.collab.showLobby(ack);
      return;
    }
    await this.admitted(ack, session);
  }

  /** The meeting as a participant: after the join ack, or `joined` after waiting in the lobby. */
  async admitted(ack, session) {
    if (session !== this.session || !ack || !ack.self) return;
    this.lobbySession = null;
    const wasReconnecting = this.state.status === "reconnecting";
    this.state.status = "joined";
    this.state.joins += 1;
    this.state.resumed = ack.resumed === true;
    this.state.self = ack.self;
    this.state.role = ack.self.role || this.state.role;
    this.resumeKey = typeof ack.resume_key === "string" ? ack.resume_key : null;
    this.state.room = ack.room || this.state.room;
    this.state.participants = {};
    if (!this.state.joinedAt) this.state.joinedAt = Date.now();
    this.showBanner("");
    if (wasReconnecting) toast("Reconnected to the meeting.");

    if (this.canPublish) {
      this.gallery.upsert(this.selfParticipant(), { isSelf: true });
      this.gallery.setTracks(ack.self.id, { camera: this.media.videoTrack });
    }
    for (const p of ack.participants || []) this.onParticipantJoined(p, { quiet: true });
    this.stageView?.onJoined(ack);
    this.collab.onJoined(ack);
    this.updateControls();
    this.iceServers = Array.isArray(ack.ice_servers) ? ack.ice_servers : [];
    this.subscriber.start(this.iceServers);
    this.scheduleSubscribePrefs();

    // Held muted by the host before a drop or reload: mute here as the host's mute did.
    for (const kind of Array.isArray(ack.held) ? ack.held : []) this.collab.onModerated({ action: "mute", kind, by: null });
    if (ack.self.audio_muted !== !this.audioOn || ack.self.video_muted !== !this.videoOn) {
      this.sendMediaState();
    }
    if (this.canPublish) await this.publish(session);
  }

  publishEntries() {
    const entries = [];
    if (this.media.audioTrack) entries.push({ track: this.media.audioTrack, source: "microphone", stream: this.media.stream });
    if (this.media.videoTrack) entries.push({ track: this.media.videoTrack, source: "camera", stream: this.media.stream });
    const screen = this.collab?.screenEntry();
    if (screen) entries.push(screen);
    return entries;
  }

  /** Publish the current set of tracks again (a screen share started or stopped). */
  async republish() {
    if (this.state.status !== "joined" || !this.canPublish) return;
    if (this.publisher) await this.publisher.setTracks(this.publishEntries());
    else await this.publish(this.session);
  }

  async publish(session) {
    const entries = this.publishEntries();
    if (!entries.length) return;
    this.publisher = new Publisher({
      iceServers: this.iceServers,
      request: (event, payload) => this.conn.request(event, payload),
      onConnectionState: (s) => session === this.session && this.onMediaState("publish", s),
    });
    try {
      await this.publisher.setTracks(entries);
    } catch (err) {
      if (session !== this.session) return;
      // Server-side failures also arrive as an `error` event (and a toast); report local ones.
      console.warn("publish failed:", err);
      if (typeof err.code !== "string" || err.code === "timeout") {
        toast("Your camera and microphone could not be connected.", "error");
      }
    }
  }

  /** The server ended this participant's meeting: removed, meeting ended, or turned away. */
  end(code, detail) {
    if (this.state.status === "left" || this.state.status === "failed") return;
    this.fail(code, detail || "");
  }

  /** A host muted this participant's microphone ("audio") or camera ("video"). */
  forceLocalMute(kind) {
    if (kind === "audio" && this.audioOn) {
      this.audioOn = false;
      if (this.media.audioTrack) this.media.audioTrack.enabled = false;
    } else if (kind === "video" && this.videoOn) {
      this.videoOn = false;
      if (this.media.videoTrack) this.media.videoTrack.enabled = false;
    } else {
      return;
    }
    this.afterLocalChange();
  }

  onDisconnect(reason) {
    if (this.state.status === "left" || this.state.status === "failed") return;
    this.session++; // stale replies from the old connection are ignored
    this.closeMedia();
    this.state.status = "reconnecting";
    this.showBanner("Connection lost. Reconnecting…", "warning");
    if (reason === "io server disconnect") {
      // The server closed this session; Socket.IO does not retry on its own in that case.
      setTimeout(() => this.state.status === "reconnecting" && this.conn.socket.connect(), 1000);
    }
  }

  onMediaState(which, connectionState) {
    if (connectionState !== "failed") return;
    // aiortc has no ICE restart: join again on a fresh connection if it does not recover.
    const session = this.session;
    setTimeout(() => {
      const pc = which === "publish" ? this.publisher?.pc : this.subscriber?.pc;
      if (session !== this.session || !pc || pc.connectionState !== "failed") return;
      this.recover("The media connection was lost; reconnecting.");
    }, MEDIA_FAILED_GRACE_MS);
  }

  /**
   * Join again on a fresh Socket.IO connection, with exponential back-off so that a persistent
   * fault does not turn into a reconnect storm.
   */
  recover(message) {
    if (this.state.status === "left" || this.state.status === "failed" || this.recoverTimer) return;
    const now = Date.now();
    if (now - (this.lastRecoverAt || 0) > RECOVER_RESET_MS) this.recoverAttempts = 0;
    const delay = Math.min(RECOVER_MAX_DELAY_MS, 1000 * 2 ** (this.recoverAttempts || 0));
    this.recoverAttempts = (this.recoverAttempts || 0) + 1;
    this.lastRecoverAt = now;
    toast(message, "error");
    this.showBanner("Reconnecting…", "warning");
    this.recoverTimer = setTimeout(() => {
      this.recoverTimer = 0;
      if (this.state.status === "left" || this.state.status === "failed") return;
      this.conn.socket.disconnect().connect();
    }, delay);
  }

  closeMedia() {
    this.publisher?.close();
    this.subscriber?.close();
    this.publisher = null;
    this.subscriber = null;
    this.remoteTracks = new Map();
  }

  clearRemote() {
    for (const id of Object.keys(this.state.participants)) this.gallery.remove(id);
    this.state.participants = {};
    const self = this.selfId();
    if (self) this.gallery.remove(self);
  }

  async leave() {
    if (this.state.status === "left") return;
    this.controls.setBusy(true);
    const wasJoined = this.state.status === "joined" || this.state.status === "lobby";
    this.state.status = "left";
    if (wasJoined) {
      await this.conn.request("leave", {}, { timeoutMs: 1500 }).catch(() => {});
    }
    this.teardown();
    this.onExit("left");
  }

  fail(code, message) {
    this.state.status = "failed";
    this.teardown();
    this.onExit("failed", { code, message: errorText(code, message) });
  }

  teardown() {
    this.session++;
    this.resumeKey = null; // left or failed: a later join is a new one
    clearTimeout(this.prefsTimer);
    navigator.mediaDevices?.removeEventListener?.("devicechange", this.onDeviceChange);
    this.closeMedia();
    this.conn?.close();
    this.timers.forEach(clearInterval);
    clearTimeout(this.recoverTimer);
    this.timers = [];
    this.selfMeter?.close();
    this.selfMeter = null;
    stopStream(this.media.stream);
    this.gallery?.destroy();
    this.stageView?.destroy();
    this.collab?.destroy();
    this.controls?.destroy();
    this.wakeLock?.release?.().catch(() => {});
    window.removeEventListener("pagehide", this.onPageHide);
    document.removeEventListener("sitroom:autoplay-blocked", this.onAutoplayBlocked);
  }

  // ---- participants and tracks ---------------------------------------------------------------

  onParticipantJoined(p, { quiet = false } = {}) {
    if (!p || !p.id || p.id === this.selfId() || this.state.status !== "joined") return;
    const isNew = !(p.id in this.state.participants);
    this.state.participants[p.id] = p;
    this.gallery.upsert(p);
    const tracks = this.remoteTracks.get(p.id);
    if (tracks) {
      this.gallery.setTracks(p.id, tracks);
      this.watchFirstFrame();
    }
    this.updateControls();
    this.collab.refreshPeople();
    if (isNew && !quiet) toast(`${p.name}${p.organisation ? ` (${p.organisation})` : ""} joined.`);
  }

  onParticipantUpdated(p) {
    if (!p || !p.id) return;
    if (p.id === this.selfId()) {
      const prevRole = this.state.self?.role;
      this.state.self = { ...this.state.self, ...p };
      if (p.role) this.state.role = p.role;
      if (this.gallery.has(p.id)) this.gallery.upsert(this.selfParticipant(), { isSelf: true });
      this.collab.onSelfUpdated(prevRole);
      return;
    }
    if (!(p.id in this.state.participants)) return;
    this.state.participants[p.id] = { ...this.state.participants[p.id], ...p };
    this.gallery.upsert(this.state.participants[p.id]);
    this.collab.refreshPeople();
  }

  onParticipantLeft(p) {
    if (!p || !p.id || !(p.id in this.state.participants)) return;
    const who = this.state.participants[p.id];
    delete this.state.participants[p.id];
    this.gallery.remove(p.id);
    this.updateControls();
    this.collab.refreshPeople();
    toast(`${who.name} left.`);
  }

  onSubscribeOffer(offer) {
    const subscriber = this.subscriber;
    if (!subscriber) return;
    subscriber.handleOffer(offer).catch((err) => {
      if (subscriber !== this.subscriber) return;
      console.warn("subscribe_offer failed:", err);
      // Refusals by the server (RequestError with a string code) are also reported as `error`
      // events; anything else (a browser-side SDP failure, a timeout) leaves this connection
      // unusable, so join again on a fresh one.
      if (err.code === "timeout") {
        this.recover("Could not receive the others' video; reconnecting.");
      } else if (typeof err.code !== "string") {
        toast("Could not receive the others' video.", "error");
      }
    });
  }

  onTracks(tracks) {
    this.remoteTracks = tracks;
    this.state.consumers = this.subscriber ? this.subscriber.consumers : [];
    for (const id of Object.keys(this.state.participants)) {
      this.gallery.setTracks(id, tracks.get(id) || {});
    }
    this.stageView?.onTracks(tracks);
    this.watchFirstFrame();
    this.scheduleSubscribePrefs();
  }

  // ---- which videos the SFU forwards (subscribe_prefs) -----------------------------------------

  /** The remote videos on screen: decoded gallery tiles, the spotlight, and the shared stage. */
  shownVideos() {
    const shown = this.gallery ? this.gallery.shownVideos() : new Set();
    const current = this.stageView?.current;
    if (current?.type === "participant" && current.id) shown.add(videoKey(current.id, current.source || "camera"));
    return shown;
  }

  scheduleSubscribePrefs() {
    clearTimeout(this.prefsTimer);
    this.prefsTimer = setTimeout(() => this.syncSubscribePrefs(), PREFS_DEBOUNCE_MS);
  }

  /**
   * Tell the server which videos not to forward, when that changed: every video consumer that is
   * not on screen (detached tiles, other gallery pages, a phone's budget). The whole list each
   * time (docs/protocol.md, subscribe_prefs), so a failed send is repaired by the next one.
   */
  syncSubscribePrefs() {
    if (this.state.status !== "joined" || !this.subscriber || !this.conn?.connected) return;
    // From the tracks the gallery was given (not the latest offer's consumers, which may not be
    // attached yet): a video is paused only once it could have been shown.
    const videos = [];
    for (const [id, tracks] of this.remoteTracks) {
      for (const source of ["camera", "screen"]) {
        if (tracks[source]) videos.push({ participant_id: id, source, kind: "video" });
      }
    }
    const paused = pausedVideos(videos, this.shownVideos());
    const body = JSON.stringify(paused);
    if (body === this.prefsSent || body === this.prefsSending) return;
    const session = this.session;
    this.prefsSending = body;
    this.conn
      .request("subscribe_prefs", { paused })
      .then(() => {
        if (session !== this.session) return;
        this.prefsSent = body;
        this.state.videoPaused = paused;
      })
      .catch((err) => {
        // A refusal would be refused again: do not resend the same list every second.
        if (session === this.session && typeof err.code === "string" && !["timeout", "disconnected"].includes(err.code)) {
          this.prefsSent = body;
        }
      })
      .finally(() => {
        if (this.prefsSending === body) this.prefsSending = null;
      });
  }

  /** Record when each participant's first video frame is shown (for tests and diagnostics). */
  watchFirstFrame() {
    for (const tile of this.gallery.tiles.values()) {
      if (tile.isSelf || !tile.videoTrack || tile.watchingFrame) continue;
      tile.watchingFrame = true;
      const video = tile.video;
      const mark = () => {
        const now = Date.now();
        if (!this.state.firstRemoteFrameAt) this.state.firstRemoteFrameAt = now;
        if (!(tile.id in this.state.firstFrameAt)) this.state.firstFrameAt[tile.id] = now;
      };
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(mark);
      else video.addEventListener("loadeddata", mark, { once: true });
    }
  }

  /**
   * The speaking ring. getSynchronizationSources() gives the level of the last packet received
   * only, and speech is bursty: a syllable is loud for a few packets, Chromium's fake microphone
   * above -40 dBov for about 100 ms every 500 ms. Sampled every 250 ms (half the beep's period)
   * the ring was either always or never on, depending on the phase. So: sample every
   * SPEAKING_POLL_MS, and keep the ring for SPEAKING_HOLD_MS after the last loud sample (across
   * the pauses between words).
   */
  pollSpeaking() {
    if (this.state.status !== "joined") return;
    const now = performance.now();
    const heard = this.heardAt || (this.heardAt = new Map()); // participant id -> last loud sample
    const speaking = (id, loud) => {
      if (loud) heard.set(id, now);
      const at = heard.get(id);
      this.gallery.setSpeaking(id, at !== undefined && now - at < SPEAKING_HOLD_MS);
    };
    for (const [id, tracks] of this.remoteTracks) {
      const receiver = tracks.receivers?.microphone;
      let level = 0;
      try {
        const sources = receiver ? receiver.getSynchronizationSources() : [];
        level = sources.length ? sources[0].audioLevel || 0 : 0;
      } catch {
        level = 0;
      }
      speaking(id, level >= SPEAKING_LEVEL);
    }
    const self = this.selfId();
    for (const id of heard.keys()) if (id !== self && !this.remoteTracks.has(id)) heard.delete(id);
    if (self && this.media.audioTrack) {
      if (!this.selfMeter) this.selfMeter = new LevelMeter(this.media.audioTrack);
      speaking(self, this.audioOn && this.selfMeter.level() > SELF_SPEAKING_LEVEL);
    }
  }

  // ---- local media controls ------------------------------------------------------------------

  toggleMic() {
    if (!this.media.audioTrack || this.state.status === "left") return;
    if (!this.audioOn && this.collab && !this.collab.mayUnmute("audio")) return;
    this.audioOn = !this.audioOn;
    this.media.audioTrack.enabled = this.audioOn;
    this.afterLocalChange();
  }

  toggleCamera() {
    if (!this.media.videoTrack || this.state.status === "left") return;
    if (!this.videoOn && this.collab && !this.collab.mayUnmute("video")) return;
    this.videoOn = !this.videoOn;
    this.media.videoTrack.enabled = this.videoOn;
    this.afterLocalChange();
  }

  // ---- camera, microphone and speaker choice ---------------------------------------------------

  /** Fill the device menu: what this browser offers, and what is in use. */
  async refreshDevices() {
    const lists = await listDevices();
    const inUse = (track) => (track && track.readyState === "live" && track.getSettings?.().deviceId) || "";
    this.controls?.setDevices(lists, {
      videoinput: inUse(this.media.videoTrack) || rememberedDevice("videoinput"),
      audioinput: inUse(this.media.audioTrack) || rememberedDevice("audioinput"),
      audiooutput: this.gallery?.sinkId ?? (this.choices.speakerId || rememberedDevice("audiooutput")),
    });
  }

  /** The user chose a device in the menu; switches run one after another. */
  chooseDevice(kind, deviceId) {
    this.deviceQueue = (this.deviceQueue || Promise.resolve())
      .then(() => this.switchDevice(kind, deviceId))
      .catch((err) => console.warn("switching device failed:", err));
    return this.deviceQueue;
  }

  /**
   * Use another camera, microphone or speaker without leaving: the new track replaces the old one
   * on the publish connection (RTCRtpSender.replaceTrack, no new offer), keeps the mute state, and
   * the choice is remembered for the next pre-join, as the pre-join's own choice is.
   */
  async switchDevice(kind, deviceId) {
    const gone = () => this.state.status === "left" || this.state.status === "failed";
    if (gone()) return;
    if (kind === "audiooutput") {
      rememberDevice(kind, deviceId);
      this.choices.speakerId = deviceId; // also used after a reconnect (collab.js)
      await this.gallery.setSinkId(deviceId);
      return;
    }
    if (!this.canPublish || (kind !== "videoinput" && kind !== "audioinput")) return;
    const isVideo = kind === "videoinput";
    const field = isVideo ? "videoTrack" : "audioTrack";
    const old = this.media[field];
    const oldDevice = (old && old.getSettings?.().deviceId) || "";
    if (old && old.readyState === "live" && oldDevice === deviceId) {
      rememberDevice(kind, deviceId);
      return;
    }
    let { track } = await captureTrack(kind, deviceId);
    if (!track && old && isVideo) {
      // Some phones open one camera at a time: free the current one and try again (or take it back).
      old.stop();
      ({ track } = await captureTrack(kind, deviceId));
      if (!track) ({ track } = await captureTrack(kind, oldDevice));
    }
    if (gone()) {
      track?.stop();
      return;
    }
    if (!track) {
      toast(`That ${isVideo ? "camera" : "microphone"} could not be started.`, "error");
      this.refreshDevices();
      return;
    }
    const switched = track.getSettings?.().deviceId === deviceId;
    track.enabled = isVideo ? this.videoOn : this.audioOn; // muted stays muted
    if (old) this.media.stream.removeTrack(old);
    this.media.stream.addTrack(track);
    this.media[field] = track;
    if (switched) rememberDevice(kind, deviceId);
    try {
      // Same source, another track: Publisher.setTracks uses replaceTrack and sends no new offer.
      if (this.publisher) await this.publisher.setTracks(this.publishEntries());
      else if (this.state.status === "joined") await this.publish(this.session);
    } catch (err) {
      console.warn("publishing the new device failed:", err);
    }
    if (old && old !== track) old.stop();
    if (!isVideo && this.selfMeter) {
      this.selfMeter.close(); // the self level meter follows the new microphone
      this.selfMeter = null;
    }
    const self = this.selfId();
    if (isVideo && self && this.gallery.has(self)) this.gallery.setTracks(self, { camera: track });
    this.stageView?.onTracks(this.remoteTracks);
    this.updateControls();
    if (this.controls.devicesOpen()) this.refreshDevices();
    toast(switched ? `Now using ${track.label || `the chosen ${isVideo ? "camera" : "microphone"}`}.` : "That device could not be started; kept the previous one.");
  }

  afterLocalChange() {
    this.state.audioMuted = !this.audioOn;
    this.state.videoMuted = !this.videoOn;
    this.updateControls();
    if (this.state.self && this.gallery.has(this.state.self.id)) {
      this.gallery.upsert(this.selfParticipant(), { isSelf: true });
    }
    if (this.state.status === "joined") this.sendMediaState();
  }

  sendMediaState() {
    const session = this.session;
    this.conn
      .request("media_state", { audio_muted: !this.audioOn, video_muted: !this.videoOn })
      .then((ack) => {
        if (session === this.session && ack.self) this.state.self = { ...this.state.self, ...ack.self };
      })
      .catch(() => {
        /* reported through the `error` event; the next change or reconnect sends it again */
      });
  }

  onServerError(err) {
    if (!err || typeof err !== "object") return;
    if (err.code === "stale_revision") return; // a newer offer is already on its way
    if (err.event === "join" && this.state.status !== "joined") return; // shown as a full screen
    toast(errorText(err.code, err.message), "error");
  }
}
