// The meeting: one Socket.IO session and its lifecycle (connect, join or wait in the lobby, leave,
// reconnect by joining again on a fresh connection). Follows docs/protocol.md. Its parts, each
// given what it needs: meeting_view.js (the screen and control bar), participants.js (the others
// and their tracks), local_media.js (this participant's mute state), publishing.js,
// subscribe_prefs.js, speaking.js, devices.js, reconnect.js, wake_lock.js. stage.js and collab.js
// attach to it.
import { Connection, errorText } from "./connection.js";
import { h, toast, actionToast } from "./dom.js";
import { Gallery } from "./gallery.js";
import { Subscriber } from "./media.js";
import { stopStream } from "./capture.js";
import { attachStage } from "./stage.js";
import { attachCollab } from "./collab.js";
import { deviceId } from "./ui.js";
import { meetingScreen, meetingControls, setBanner, renderClock } from "./meeting_view.js";
import { Publishing, publishEntries } from "./publishing.js";
import { SubscribePrefs, shownVideos, shownSizes, PREFS_POLL_MS } from "./subscribe_prefs.js";
import { SpeakingRing, SPEAKING_POLL_MS } from "./speaking.js";
import { MeetingDevices } from "./devices.js";
import { ScreenWakeLock } from "./wake_lock.js";
import { Recovery, MEDIA_FAILED_GRACE_MS } from "./reconnect.js";
import { Participants } from "./participants.js";
import * as local from "./local_media.js";
import { hostLeaveDialog } from "./meeting_dialogs.js";
import { MediaWatch } from "./media_watch.js";
import { t, formatDateTime } from "./i18n.js";
import { rejoinFragment } from "./rejoin.js";

export class Meeting {
  /**
   * root: element to render into. options: {roomId, token, room, role, choices, onExit(kind, info)}
   * where choices come from the pre-join screen and onExit is called after Leave or a fatal error.
   */
  constructor(root, { roomId, token, room, role, choices, onExit, resumeKey = null }) {
    this.root = root;
    this.token = token;
    this.choices = choices;
    this.onExit = onExit;
    this.canPublish = role !== "viewer";
    this.linkRole = role; // the role of the link this page was opened with (a host link opens the archive)
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
      videoSizes: [], // ... and the sizes of those shown
      videoLayers: [], // the latest video_layers: what the SFU forwards of each video
    };
    this.resumeKey = resumeKey; // from the latest join ack: proves who we are when rejoining
    this.session = 0;
    this.subscriber = null;
    this.remoteTracks = new Map();
    this.timers = [];
    this.createParts();
  }

  /** The parts of the meeting that take what they need from it (see their modules). */
  createParts() {
    const request = (event, payload) => this.conn.request(event, payload);
    const session = () => this.session;
    this.publishing = new Publishing({
      entries: () => publishEntries(this.media, this.collab?.screenEntry()),
      request,
      iceServers: () => this.iceServers,
      simulcast: () => this.simulcast,
      session,
      onConnectionState: (s) => this.onMediaState("publish", s),
    });
    this.prefs = new SubscribePrefs({
      request,
      ready: () => this.state.status === "joined" && Boolean(this.subscriber) && Boolean(this.conn?.connected),
      remoteTracks: () => this.remoteTracks,
      shown: () => shownVideos(this.gallery, this.stageView),
      sizes: () => shownSizes(this.gallery, this.stageView),
      session,
      accepted: (paused, sizes) => {
        this.state.videoPaused = paused;
        this.state.videoSizes = sizes;
      },
    });
    this.speaking = new SpeakingRing({
      active: () => this.state.status === "joined",
      remoteTracks: () => this.remoteTracks,
      self: () => ({ id: this.selfId(), track: this.media.audioTrack, on: this.audioOn }),
      show: (id, on) => this.gallery.setSpeaking(id, on),
    });
    this.devices = new MeetingDevices(this);
    this.wakeLock = new ScreenWakeLock();
    this.restarting = false; // the server said it is restarting (server_restarting)
    this.recovery = new Recovery({
      ended: () => this.state.status === "left" || this.state.status === "failed",
      notify: (message) => {
        toast(message, "error");
        this.showBanner(t("meeting.reconnecting"), "warning");
      },
      rejoin: () => this.conn.socket.disconnect().connect(),
    });
    this.participants = new Participants(this);
    this.mediaWatch = new MediaWatch({
      pcs: () => this.pcs,
      current: (session) => session === this.session && this.state.status === "joined",
      retry: () => this.recover(t("meeting.mediaRetry")),
      giveUp: () => {
        this.showBanner(t("meeting.mediaFailed"), "warning");
        actionToast(t("meeting.mediaFailed"), t("meeting.tryAgain"), () => {
          this.mediaWatch.reset();
          this.recover(t("meeting.mediaRetry"));
        }, { kind: "error", timeoutMs: 60_000, testid: "media-try-again" });
      },
    });
  }

  get pcs() {
    return { publish: this.publishing.pc, subscribe: this.subscriber?.pc ?? null };
  }

  selfId() {
    return this.state.self ? this.state.self.id : null;
  }

  // ---- view ----------------------------------------------------------------------------------

  render() {
    this.stage = h("main", { class: "stage", attrs: { "aria-label": t("gallery.label") } });
    this.gallery = new Gallery(this.stage);
    this.gallery.onVideosChanged = () => this.prefs.schedule();
    this.gallery.stageAction = {
      allowed: () => ["host", "staff"].includes(this.state.role),
      show: (id) => this.stageView?.setStage({ kind: "participant", participant_id: id, source: "screen" }),
    };
    this.controls = meetingControls(this);
    const screen = meetingScreen({
      title: this.state.room.title,
      main: this.stage,
      controls: this.controls.el,
      onSound: () => this.gallery.resumePlayback(),
    });
    ({ clock: this.clock, clockStrip: this.clockStrip, banner: this.banner, soundButton: this.soundButton, rec: this.rec } = screen);
    this.root.replaceChildren(screen.el);
    this.stageView = attachStage(this); // the shared stage next to the gallery (stage.js)
    this.collab = attachCollab(this); // chat, people, hands, moderation, lobby (collab.js)
    document.title = t("common.pageTitle", { title: this.state.room.title });
    this.updateControls();
    this.onAutoplayBlocked = () => (this.soundButton.hidden = false);
    document.addEventListener("sitroom:autoplay-blocked", this.onAutoplayBlocked);
  }

  showBanner(text, tone = "warning") {
    setBanner(this.banner, text, tone);
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
    this.showBanner(t("meeting.joining"), "info");
    this.conn = new Connection({ roomId: this.state.roomId });
    const c = this.conn;
    c.on("connect", () => this.establish());
    c.on("disconnect", (reason) => this.onDisconnect(reason));
    c.on("connect_error", () => {
      // (while the server restarts, it cannot be reached: the banner keeps saying it is restarting)
      if (!this.restarting && (this.state.status === "connecting" || this.state.status === "reconnecting")) {
        this.showBanner(t("meeting.cannotReach"), "warning");
      }
    });
    c.on("participant_joined", (p) => this.participants.joined(p));
    c.on("participant_left", (p) => this.participants.left(p));
    c.on("participant_updated", (p) => this.participants.updated(p));
    c.on("subscribe_offer", (offer) => this.onSubscribeOffer(offer));
    c.on("server_restarting", () => this.onServerRestarting());
    c.on("recording", (state) => this.showRecording(state, true));
    c.on("media_reset", () => this.resetMedia().catch((err) => console.warn("media reset failed:", err)));
    c.on("stage", () => this.prefs.schedule()); // the stage may show someone's video now
    c.on("video_layers", (payload) => this.onVideoLayers(payload));
    c.on("publish_layers", (payload) => this.publishing.setLayers(payload).catch(() => {}));
    c.on("error", (err) => this.onServerError(err));
    c.on("joined", (ack) => this.lobbySession && this.admitted(ack, this.lobbySession));
    c.on("lobby_denied", (d) => this.lobbySession && this.end("lobby_denied", d && d.reason));
    this.collab.bind(c);
    c.open();

    this.timers.push(setInterval(() => this.speaking.poll(), SPEAKING_POLL_MS));
    this.timers.push(setInterval(() => this.tickClock(), 1000));
    this.timers.push(setInterval(() => this.tickCityClocks(), 1000));
    this.timers.push(setInterval(() => this.prefs.sync(), PREFS_POLL_MS));
    this.onPageHide = () => this.conn?.socket.disconnect();
    window.addEventListener("pagehide", this.onPageHide);
    this.devices.watch();
    this.wakeLock.request();
  }

  /** The meeting clock: since the meeting began (the join ack's meeting.started_at), to its planned end. */
  tickClock() {
    const started = Date.parse(this.state.meeting?.started_at || "") || this.state.joinedAt;
    if (!started) return;
    renderClock(this.clock, { startedAt: started, endsAt: Date.parse(this.state.room?.ends_at || "") || null });
  }

  /**
   * The city clock strip and the delegates' local times on their tiles (clock_strip.js), redrawn
   * when the minute changes (within a second of it: the strip and the tiles turn together).
   */
  tickCityClocks() {
    const minute = Math.floor(Date.now() / 60_000);
    if (minute === this.cityClockMinute) return;
    this.cityClockMinute = minute;
    this.clockStrip?.tick();
    this.gallery?.tickLocalTimes();
  }

  /** Join on the current connection (first connect and every reconnect) and start media. */
  async establish() {
    const session = ++this.session;
    const current = () => session === this.session && this.state.status !== "left";
    this.closeMedia();
    this.participants.clear();
    this.prefs.reset(); // a new connection: the server pauses nothing for it yet
    this.state.videoPaused = [];
    this.state.videoSizes = [];
    this.state.videoLayers = [];

    const request = (event, payload) => this.conn.request(event, payload);
    this.subscriber = this.newSubscriber(session);

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
      if (err.code === "not_yet_open") {
        this.waitForOpening(err.details);
        return;
      }
      if (err.code === "room_elsewhere") {
        // Open it where it is held; if that is here (nodes behind one proxy URL), ask again soon.
        if (!this.goToNode(err.details?.url)) this.recover(t("meeting.roomMoving"));
        return;
      }
      if (["invalid_token", "room_not_found", "bad_request", "forbidden"].includes(err.code)) {
        this.fail(err.code, err.message);
      } else {
        // Timeouts and lost connections: join again on a fresh connection.
        this.recover(t("meeting.notAnswering"));
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

  /** REC in the header while the meeting is recorded; a change is also said in a toast. */
  showRecording(state, announce) {
    const active = Boolean(state && state.active);
    const changed = this.rec.hidden === active;
    this.rec.hidden = !active;
    this.state.recording = active;
    this.collab?.host?.setRecording(active);
    if (!announce || !changed) return;
    if (!active && this.linkRole === "host") {
      // a host link also opens the archive, where the recording plays with the stage as it was
      const archive = `/archive#room=${encodeURIComponent(this.state.roomId)}&t=${encodeURIComponent(this.token)}`;
      actionToast(t("meeting.recording.stopped"), t("meeting.recording.watch"),
        () => window.open(archive, "_blank", "noopener"), { testid: "recording-watch" });
    } else {
      toast(t(active ? "meeting.recording.started" : "meeting.recording.stopped"));
    }
  }

  /**
   * `not_yet_open`: a scheduled meeting whose invite opens shortly before its start (and no host has
   * opened it yet). Say when it starts, in this browser's time, and try again now and then (the
   * host may open it early), off the server meanwhile.
   */
  waitForOpening(details) {
    const starts = Date.parse(details?.starts_at || "");
    const opens = Date.parse(details?.opens_at || "");
    this.state.status = "waiting";
    this.showBanner(Number.isFinite(starts)
      ? t("meeting.notYetOpen", { when: formatDateTime(new Date(starts), { dateStyle: "full", timeStyle: "short" }) })
      : t("meeting.notYetOpenSoon"), "info");
    this.conn.socket.disconnect();
    const untilOpen = Number.isFinite(opens) ? opens - Date.now() : 0;
    setTimeout(() => {
      if (this.state.status !== "waiting") return;
      this.state.status = "connecting";
      this.conn.socket.connect();
    }, Math.min(10000, Math.max(3000, untilOpen)));
  }

  /**
   * `room_elsewhere`: another node of this Sitroom holds the meeting (several nodes, docs/deploy.md):
   * open the same invite there. False when that is where we are (a proxy routes by room: retry).
   */
  goToNode(url) {
    let target;
    try {
      target = new URL(location.pathname + location.search, url);
    } catch {
      return false;
    }
    if (target.origin === location.origin || !/^https?:$/.test(target.protocol)) return false;
    // come back there as the same person, with the same choices (no pre-join)
    target.hash = rejoinFragment(this);
    this.state.status = "left";
    location.replace(target.href);
    return true;
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
    this.state.meeting = ack.meeting || null;
    this.clockStrip?.setClocks(ack.clocks);
    this.showRecording(ack.recording, false);
    this.state.participants = {};
    if (!this.state.joinedAt) this.state.joinedAt = Date.now();
    this.showBanner("");
    if (wasReconnecting) toast(t("meeting.reconnected"));
    if (this.restarting) {
      this.restarting = false;
      this.conn.brisk(false);
    }

    if (this.canPublish) {
      this.gallery.upsert(this.selfParticipant(), { isSelf: true });
      this.gallery.setTracks(ack.self.id, { camera: this.media.videoTrack });
    }
    for (const p of ack.participants || []) this.participants.joined(p, { quiet: true });
    this.stageView?.onJoined(ack);
    this.collab.onJoined(ack);
    this.updateControls();
    this.iceServers = Array.isArray(ack.ice_servers) ? ack.ice_servers : [];
    // false: this server takes one layer per camera (without the field: offer layers, and should
    // the answer refuse them the camera is sent in one layer)
    this.simulcast = ack.simulcast !== false;
    this.subscriber.start(this.iceServers);
    this.prefs.schedule();

    // Held muted by the host before a drop or reload: mute here as the host's mute did.
    for (const kind of Array.isArray(ack.held) ? ack.held : []) this.collab.onModerated({ action: "mute", kind, by: null });
    if (ack.self.audio_muted !== !this.audioOn || ack.self.video_muted !== !this.videoOn) {
      local.sendMediaState(this);
    }
    this.mediaWatch.arm(session);
    if (this.canPublish) await this.publishing.start(session);
  }

  /** The receive connection of `session`, until the session ends or the media is reset. */
  newSubscriber(session) {
    const current = () => session === this.session && this.state.status !== "left";
    const subscriber = new Subscriber({
      request: (event, payload) => this.conn.request(event, payload),
      onTracks: (tracks) => current() && subscriber === this.subscriber && this.participants.setTracks(tracks),
      onConnectionState: (s) => current() && subscriber === this.subscriber && this.onMediaState("subscribe", s),
    });
    return subscriber;
  }

  /**
   * `media_reset`: the server moved this meeting's media (its media worker stopped). The meeting
   * goes on (roster, chat, stage untouched); only the two media connections are made again: a new
   * receive connection for the server's next offer, and the tracks published again.
   */
  async resetMedia() {
    if (this.state.status !== "joined") return;
    const session = this.session;
    this.publishing.close();
    this.subscriber?.close();
    this.subscriber = this.newSubscriber(session);
    this.participants.setTracks(new Map());
    this.prefs.reset(); // the new media room pauses nothing for this client yet
    this.state.videoPaused = [];
    this.state.videoSizes = [];
    this.state.videoLayers = [];
    this.gallery.setVideoLayers([]);
    this.subscriber.start(this.iceServers);
    this.prefs.schedule();
    this.mediaWatch.arm(session);
    if (this.canPublish) await this.publishing.start(session);
  }

  /** Publish the current set of tracks again (a screen share started or stopped). */
  async republish() {
    if (this.state.status !== "joined" || !this.canPublish) return;
    await this.publishing.update(this.session);
  }

  /** The server ended this participant's meeting: removed, meeting ended, or turned away. */
  end(code, detail) {
    if (this.state.status === "left" || this.state.status === "failed") return;
    this.fail(code, detail || "");
  }

  onDisconnect(reason) {
    if (this.state.status === "left" || this.state.status === "failed" || this.state.status === "waiting") return;
    this.session++; // stale replies from the old connection are ignored
    this.closeMedia();
    this.state.status = "reconnecting";
    this.showBanner(t(this.restarting ? "meeting.serverRestarting" : "meeting.connectionLost"),
      this.restarting ? "info" : "warning");
    if (reason === "io server disconnect") {
      // The server closed this session; Socket.IO does not retry on its own in that case.
      setTimeout(() => this.state.status === "reconnecting" && this.conn.socket.connect(), this.restarting ? 250 : 1000);
    }
  }

  /**
   * `server_restarting`: the server is stopping and will be back in seconds (its connections close
   * next). Come back as soon as it answers: the meeting, stage, hand and mutes are kept for us.
   */
  onServerRestarting() {
    this.restarting = true;
    this.conn.brisk(true);
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
        this.recover(t("meeting.receiveFailedRetrying"));
      } else if (typeof err.code !== "string") {
        toast(t("meeting.receiveFailed"), "error");
      }
    });
  }

  /** `video_layers`: the simulcast layer the SFU forwards of each video, shown on the tiles. */
  onVideoLayers(payload) {
    if (this.state.status !== "joined" || !payload || !Array.isArray(payload.videos)) return;
    this.state.videoLayers = payload.videos;
    this.gallery.setVideoLayers(payload.videos);
  }

  onMediaState(which, connectionState) {
    if (connectionState !== "failed") return;
    // aiortc has no ICE restart: join again on a fresh connection if it does not recover.
    const session = this.session;
    setTimeout(() => {
      const pc = which === "publish" ? this.publishing.pc : this.subscriber?.pc;
      if (session !== this.session || !pc || pc.connectionState !== "failed") return;
      this.recover(t("meeting.mediaLost"));
    }, MEDIA_FAILED_GRACE_MS);
  }

  /** Join again on a fresh Socket.IO connection (reconnect.js). */
  recover(message) {
    this.recovery.start(message);
  }

  closeMedia() {
    this.publishing.close();
    this.subscriber?.close();
    this.subscriber = null;
    this.remoteTracks = new Map();
  }

  /**
   * The Leave button. A host who is not the last one in the meeting first chooses: end it for
   * everyone, or hand the host role to someone and leave (a meeting should not go on unchaired).
   */
  async leaveClicked() {
    if (this.state.status !== "joined" || this.state.role !== "host") return this.leave();
    const others = Object.values(this.state.participants);
    if (!others.length || others.some((p) => p.role === "host")) return this.leave();
    const choice = await hostLeaveDialog(others);
    if (!choice || this.state.status !== "joined") return undefined;
    try {
      if (choice.action === "end") return await this.conn.request("end_meeting", {});
      if (choice.action === "handover") await this.conn.request("set_role", { participant_id: choice.to, role: "host" });
    } catch {
      return undefined; // refused: the server's `error` is shown as a notice, and nobody left
    }
    return this.leave();
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
    this.prefs.stop();
    this.devices.unwatch();
    this.closeMedia();
    this.conn?.close();
    this.timers.forEach(clearInterval);
    this.recovery.stop();
    this.mediaWatch.stop();
    this.timers = [];
    this.speaking.close();
    stopStream(this.media.stream);
    this.gallery?.destroy();
    this.stageView?.destroy();
    this.collab?.destroy();
    this.controls?.destroy();
    this.wakeLock.release();
    window.removeEventListener("pagehide", this.onPageHide);
    document.removeEventListener("sitroom:autoplay-blocked", this.onAutoplayBlocked);
  }

  // ---- this participant's microphone and camera (local_media.js) ------------------------------

  toggleMic() {
    local.toggleMic(this);
  }

  toggleCamera() {
    local.toggleCamera(this);
  }

  /** A host muted this participant's microphone ("audio") or camera ("video"). */
  forceLocalMute(kind) {
    local.forceLocalMute(this, kind);
  }

  onServerError(err) {
    if (!err || typeof err !== "object") return;
    if (err.code === "stale_revision") return; // a newer offer is already on its way
    if (err.event === "join" && this.state.status !== "joined") return; // shown as a full screen
    toast(errorText(err.code, err.message), "error");
  }
}
