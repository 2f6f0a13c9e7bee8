// The two RTCPeerConnections of docs/protocol.md: the publish connection (this client always
// offers) and the subscribe connection (the server always offers); the subscribe_prefs list.
// Capture is in capture.js.

const GATHER_TIMEOUT_MS = 5000;
// The answer to an offer without media sections: a session with nothing in it.
const EMPTY_ANSWER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";

/** The key of one publisher's video source in a set of shown videos. */
export function videoKey(participantId, source) {
  return `${participantId}\n${source}`;
}

export const MAX_PAUSED = 512; // the server's bound on subscribe_prefs

/**
 * The `paused` list of subscribe_prefs (docs/protocol.md): every video consumer whose
 * (participant, source) is not in `shown` (a Set of videoKey), once, in a stable order.
 */
export function pausedVideos(consumers, shown) {
  const seen = new Set();
  const paused = [];
  for (const c of consumers || []) {
    if (!c || c.kind !== "video" || !c.participant_id || (c.source !== "camera" && c.source !== "screen")) continue;
    const key = videoKey(c.participant_id, c.source);
    if (shown.has(key) || seen.has(key)) continue;
    seen.add(key);
    paused.push({ participant_id: c.participant_id, source: c.source });
  }
  paused.sort((a, b) => (a.participant_id < b.participant_id ? -1 : a.participant_id > b.participant_id ? 1 : a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  return paused.slice(0, MAX_PAUSED);
}

/** Resolve once ICE gathering is complete (the server does not trickle), or after a timeout. */
export function waitForIceGathering(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  // A description without media sections (an offer before anyone publishes) gathers nothing.
  if (!pc.getTransceivers().some((t) => t.mid !== null && !t.stopped)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onState);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const onState = () => pc.iceGatheringState === "complete" && done();
    const onCandidate = (e) => e.candidate === null && done();
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onState);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

/**
 * An offer with no media sections may still carry "a=group:BUNDLE" with no MIDs (aiortc writes
 * one), which Chromium rejects; drop such an empty group.
 */
export function withoutEmptyBundle(sdp) {
  return sdp.replace(/^a=group:BUNDLE[ \t]*\r?\n/gm, "");
}

/** Runs async jobs one after another (negotiations must never overlap on one connection). */
class SerialQueue {
  constructor() {
    this.tail = Promise.resolve();
  }
  run(job) {
    const result = this.tail.then(job);
    this.tail = result.catch(() => {});
    return result;
  }
}

const VIDEO_CODEC_KEY = "sitroom.videoCodec";

/** The video codec chosen on this browser (localStorage "sitroom.videoCodec"), lower case, or "". */
export function preferredVideoCodec() {
  try {
    return (localStorage.getItem(VIDEO_CODEC_KEY) || "").trim().toLowerCase();
  } catch {
    return "";
  }
}

/**
 * Put this browser's preferred video codec first in a sending transceiver's offer, if one is set:
 * localStorage "sitroom.videoCodec" = "h264" or "vp8" (unset: the browser's own order). The SFU
 * answers in the publisher's order among the codecs it forwards, so this picks what the camera
 * is sent with (H.264 for rooms of iPhones, which decode it in hardware). Returns whether it did.
 */
export function preferVideoCodec(transceiver) {
  const wanted = preferredVideoCodec();
  const caps = window.RTCRtpSender && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities("video");
  if (!wanted || !caps || !transceiver.setCodecPreferences) return false;
  const mime = `video/${wanted}`;
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime);
  if (!first.length) return false;
  // H.264: packetization-mode 1 first (the SFU forwards only that)
  first.sort((a, b) => /packetization-mode=1/.test(b.sdpFmtpLine || "") - /packetization-mode=1/.test(a.sdpFmtpLine || ""));
  try {
    transceiver.setCodecPreferences([...first, ...caps.codecs.filter((c) => c.mimeType.toLowerCase() !== mime)]);
    return true;
  } catch {
    return false; // keep the browser's order
  }
}

/**
 * The camera's simulcast layers (docs/protocol.md, publish), lowest first: the SFU numbers them
 * 0, 1, 2 in this order and forwards each subscriber the one its tile needs. Three (a quarter,
 * half and full resolution) from a camera of at least 640x360, two (half and full) from one of at
 * least 320x180 (either way up: a phone held upright gives 360x640), else null: one encoding, as
 * the browser sends it by default. `settings` is the track's getSettings().
 */
export function cameraEncodings(settings) {
  const width = Number(settings?.width) || 0;
  const height = Number(settings?.height) || 0;
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  const full = { rid: "f", scaleResolutionDownBy: 1, maxBitrate: long >= 1280 && short >= 720 ? 2_000_000 : 1_500_000 };
  const half = { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 };
  const quarter = { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 };
  if (long >= 640 && short >= 360) return [quarter, half, full];
  if (long >= 320 && short >= 180) return [half, full];
  return null;
}

/**
 * The encodings to publish `track` of `source` with: simulcast layers for a camera
 * (cameraEncodings), in VP8 or H.264 alike (Chromium's encoder gives both in layers, and the SFU
 * switches H.264 layers at their IDR frames), else null (one encoding: a screen share keeps one
 * sharp layer).
 */
export function sendEncodingsFor(track, source) {
  if (!track || track.kind !== "video" || source !== "camera") return null;
  return cameraEncodings(track.getSettings ? track.getSettings() : null);
}

/** Whether a publish_layers payload (docs/protocol.md) is well formed: some layer stays active. */
export function validLayers(payload) {
  return Boolean(
    payload &&
      typeof payload.mid === "string" &&
      (payload.source === "camera" || payload.source === "screen") &&
      Array.isArray(payload.active) &&
      payload.active.length > 0 &&
      payload.active.every((a) => typeof a === "boolean") &&
      payload.active.some(Boolean),
  );
}

const RID_EXTENSIONS = ["urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"];

/** The lines of an SDP by m-section: [session lines, section lines, ...]; `eol` the line ending. */
function sdpSections(sdp) {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const sections = [[]];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) sections.push([]);
    sections[sections.length - 1].push(line);
  }
  return { sections, eol };
}

/** An m-section's mid (its lines), or null. */
const midOf = (lines) => lines.find((l) => l.startsWith("a=mid:"))?.slice(6).trim() ?? null;

/**
 * The RID header extensions (a=extmap lines) of the m-sections that offer simulcast, by mid: an
 * answer that refuses the simulcast drops them, and the browser's next offer would offer the
 * layers without them (and refuse its own offer); `withRidExtensions` puts them back.
 */
export function ridExtensions(sdp) {
  const found = new Map();
  for (const lines of sdpSections(sdp).sections.slice(1)) {
    const mid = midOf(lines);
    const ext = lines.filter((l) => l.startsWith("a=extmap:") && RID_EXTENSIONS.includes(l.trimEnd().split(" ").pop()));
    if (mid !== null && ext.length && lines.some((l) => l.startsWith("a=simulcast:"))) found.set(mid, ext);
  }
  return found;
}

/** `sdp` with the RID extensions of `known` (ridExtensions) in the simulcast sections that lack them. */
export function withRidExtensions(sdp, known) {
  if (!known.size) return sdp;
  const { sections, eol } = sdpSections(sdp);
  for (const lines of sections.slice(1)) {
    const ext = known.get(midOf(lines));
    if (!ext || !lines.some((l) => l.startsWith("a=simulcast:"))) continue;
    const uri = (line) => line.trimEnd().split(" ").pop();
    const missing = ext.filter((e) => !lines.some((l) => l.startsWith("a=extmap:") && uri(l) === uri(e)));
    if (!missing.length) continue;
    // after the section's last a=extmap line (or before its first a=rtpmap line)
    let at = lines.findIndex((l) => l.startsWith("a=rtpmap:"));
    lines.forEach((l, i) => l.startsWith("a=extmap:") && (at = i + 1));
    lines.splice(at < 0 ? lines.length : at, 0, ...missing);
  }
  return sections.flat().join(eol);
}

/**
 * RED for Opus (RFC 2198): `codecs` (audio capabilities) reordered audio/red first, then Opus, then
 * the rest as they were; null if red or Opus is missing. The capabilities are kept as they are, so
 * Opus keeps its fmtp (useinbandfec=1: in-band FEC).
 */
export function redFirst(codecs) {
  const mime = (c) => (c && typeof c.mimeType === "string" ? c.mimeType.toLowerCase() : "");
  const red = (codecs || []).filter((c) => mime(c) === "audio/red");
  const opus = (codecs || []).filter((c) => mime(c) === "audio/opus");
  if (!red.length || !opus.length) return null;
  return [...red, ...opus, ...codecs.filter((c) => !red.includes(c) && !opus.includes(c))];
}

/**
 * Send the microphone in RED when this browser can (Chromium lists audio/red in
 * RTCRtpSender.getCapabilities("audio")): each packet then carries the previous frame again, so a
 * packet lost on a lossy link is rebuilt from the next one (as LiveKit's client does by default).
 * The SFU answers red first (media/red.py) and forwards it. Other browsers keep their own order.
 * Returns whether it did.
 */
export function preferAudioRed(transceiver) {
  const caps = window.RTCRtpSender && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities("audio");
  const ordered = caps && redFirst(caps.codecs);
  if (!ordered || !transceiver.setCodecPreferences) return false;
  try {
    transceiver.setCodecPreferences(ordered);
    return true;
  } catch {
    return false; // keep the browser's order
  }
}

/**
 * The send-only publish connection. `request` is Connection.request bound to the connection.
 * Call setTracks([{track, source, stream}]) to (re)publish; each call renegotiates.
 */
export class Publisher {
  /** simulcast: whether the server takes a camera in layers (the join ack's `simulcast`). */
  constructor({ iceServers = [], request, onConnectionState = () => {}, simulcast = true }) {
    this.request = request;
    this.simulcast = simulcast;
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    this.pc.addEventListener("connectionstatechange", () => onConnectionState(this.pc.connectionState));
    this.queue = new SerialQueue();
    this.sources = new Map(); // RTCRtpTransceiver -> source
    this.layered = new Map(); // RTCRtpTransceiver -> the encodings it was added with (simulcast)
    this.ridExtensions = new Map(); // mid -> its RID a=extmap lines as first offered (ridExtensions)
    this.closed = false;
  }

  /** Publish exactly these tracks: reuse transceivers of the same source, then negotiate. */
  setTracks(entries) {
    return this.queue.run(async () => {
      if (this.closed) return;
      let changed = false;
      const wanted = new Map(entries.filter((e) => e.track).map((e) => [e.source, e]));
      for (const [transceiver, source] of this.sources) {
        const entry = wanted.get(source);
        const track = entry ? entry.track : null;
        if (transceiver.sender.track !== track) {
          // Another track of the same source (a new device) needs no new offer; a removal does.
          await transceiver.sender.replaceTrack(track);
          if (!track) {
            this.sources.delete(transceiver);
            // Keep the m-line (it may be reused) but stop sending on it.
            transceiver.direction = "inactive";
            changed = true;
          }
        }
        wanted.delete(source);
      }
      for (const { track, source, stream } of wanted.values()) {
        const encodings = this.simulcast ? sendEncodingsFor(track, source) : null;
        // An m-line keeps the encodings it was offered with: reuse one only if they are the same.
        const sameLayers = (t) => (this.layered.get(t)?.length || 1) === (encodings?.length || 1);
        const reusable = this.pc
          .getTransceivers()
          .find((t) => !this.sources.has(t) && t.receiver.track.kind === track.kind && !t.stopped && sameLayers(t));
        let transceiver;
        if (reusable) {
          transceiver = reusable;
          await transceiver.sender.replaceTrack(track);
          transceiver.direction = "sendonly";
          if (stream && transceiver.sender.setStreams) transceiver.sender.setStreams(stream);
        } else {
          transceiver = this.pc.addTransceiver(track, {
            direction: "sendonly",
            streams: stream ? [stream] : [],
            ...(encodings ? { sendEncodings: encodings } : {}),
          });
          if (encodings) this.layered.set(transceiver, encodings);
        }
        this.sources.set(transceiver, source);
        if (track.kind === "video") preferVideoCodec(transceiver);
        else if (track.kind === "audio") preferAudioRed(transceiver);
        changed = true;
      }
      if (changed) await this.negotiate();
    });
  }

  async negotiate() {
    const pc = this.pc;
    const offer = await pc.createOffer();
    await pc.setLocalDescription({ type: "offer", sdp: withRidExtensions(offer.sdp, this.ridExtensions) });
    for (const [mid, lines] of ridExtensions(pc.localDescription.sdp)) {
      if (!this.ridExtensions.has(mid)) this.ridExtensions.set(mid, lines);
    }
    await waitForIceGathering(pc);
    if (this.closed) return;
    const sources = {};
    for (const [transceiver, source] of this.sources) {
      if (transceiver.mid !== null && transceiver.sender.track) sources[transceiver.mid] = source;
    }
    let ack;
    try {
      ack = await this.request("publish", { sdp: pc.localDescription.sdp, sources });
    } catch (err) {
      if (!this.closed && pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw err;
    }
    if (this.closed) return;
    await pc.setRemoteDescription({ type: "answer", sdp: ack.sdp });
    await this.preferResolution();
  }

  /**
   * How each video sender gives way when bandwidth is short. A camera keeps its frame rate and
   * steps its resolution down (a moving face at 20-30 fps over a 1 Mbit/s hotel link, rather than
   * a sharp still every fifth of a second): the estimate now comes from the publisher's own uplink
   * (transport-cc), so it is low only when the link is. In simulcast the browser first drops its
   * top layers when the uplink is short, and this applies to the layers it still sends. A screen
   * share keeps its resolution and lowers the frame rate: text must stay readable.
   * Also, after every negotiation: all simulcast layers active (the SFU counts on it after a
   * publish), and a camera whose simulcast the answer refused (e.g. the SFU chose H.264) sends its
   * one encoding at full resolution, not at the lowest layer's scale and bitrate.
   */
  async preferResolution() {
    for (const [transceiver, source] of this.sources) {
      const sender = transceiver.sender;
      if (!sender.track || sender.track.kind !== "video" || !sender.getParameters) continue;
      try {
        const params = sender.getParameters();
        let changed = false;
        const wanted = source === "screen" ? "maintain-resolution" : "maintain-framerate";
        if (params.degradationPreference !== wanted) {
          params.degradationPreference = wanted;
          changed = true;
        }
        const offered = this.layered.get(transceiver);
        const encodings = params.encodings || [];
        if (offered && encodings.length === 1 && encodings[0].scaleResolutionDownBy !== 1) {
          encodings[0].scaleResolutionDownBy = 1;
          encodings[0].maxBitrate = offered[offered.length - 1].maxBitrate;
          changed = true;
        }
        for (const encoding of encodings.length > 1 ? encodings : []) {
          if (encoding.active === false) {
            encoding.active = true;
            changed = true;
          }
        }
        if (changed) await sender.setParameters(params);
      } catch {
        // Not supported by this browser: keep its default.
      }
    }
  }

  /**
   * The server's `publish_layers` (docs/protocol.md): send only the simulcast layers somebody
   * receives. A payload that is not well formed, names no simulcast sender of ours, or would stop
   * every layer is ignored.
   */
  setLayers(payload) {
    if (!validLayers(payload)) return Promise.resolve(false);
    return this.queue.run(async () => {
      if (this.closed) return false;
      const transceiver = [...this.sources.keys()].find((t) => t.mid === payload.mid);
      if (!transceiver || this.sources.get(transceiver) !== payload.source) return false;
      const sender = transceiver.sender;
      const params = sender.getParameters();
      const encodings = params.encodings || [];
      if (encodings.length < 2 || encodings.length !== payload.active.length) return false;
      if (encodings.every((e, i) => (e.active !== false) === payload.active[i])) return true;
      encodings.forEach((e, i) => (e.active = payload.active[i]));
      try {
        await sender.setParameters(params);
        return true;
      } catch (err) {
        console.warn("publish_layers not applied:", err);
        return false;
      }
    });
  }

  close() {
    this.closed = true;
    try {
      this.pc.close();
    } catch {
      /* already closed */
    }
  }
}

/**
 * The receive-only subscribe connection. The server offers; this side answers with the same
 * revision. onTracks(Map participantId -> {microphone?, camera?, screen?: MediaStreamTrack}) is
 * called after every applied offer.
 */
export class Subscriber {
  constructor({ request, onTracks = () => {}, onConnectionState = () => {} }) {
    this.request = request;
    this.onTracks = onTracks;
    this.onConnectionState = onConnectionState;
    this.pc = null;
    this.queue = new SerialQueue();
    this.consumers = [];
    this.closed = false;
    this.latestRevision = -1;
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
  }

  /** The join ack's ICE servers; offers that arrive before it wait for it. */
  start(iceServers = []) {
    if (this.pc || this.closed) return;
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    this.pc.addEventListener("connectionstatechange", () => this.onConnectionState(this.pc.connectionState));
    this.resolveReady();
  }

  handleOffer(offer) {
    if (!offer || typeof offer.sdp !== "string" || !Number.isInteger(offer.revision)) return Promise.resolve();
    if (offer.revision <= this.latestRevision) return Promise.resolve();
    this.latestRevision = offer.revision;
    return this.queue.run(async () => {
      await this.ready;
      if (this.closed || offer.revision < this.latestRevision) return; // superseded meanwhile
      const pc = this.pc;
      this.consumers = Array.isArray(offer.consumers) ? offer.consumers : [];
      if (!/^m=/m.test(offer.sdp) && !pc.remoteDescription) {
        // Nothing to receive yet (no one publishes). A browser with bundlePolicy "max-bundle"
        // rejects an offer without media sections, so answer it without touching the connection.
        this.emitTracks();
        await this.request("subscribe_answer", { sdp: EMPTY_ANSWER, revision: offer.revision });
        return;
      }
      await pc.setRemoteDescription({ type: "offer", sdp: withoutEmptyBundle(offer.sdp) });
      this.emitTracks();
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await waitForIceGathering(pc);
      if (this.closed) return;
      try {
        await this.request("subscribe_answer", { sdp: pc.localDescription.sdp, revision: offer.revision });
      } catch (err) {
        // A newer offer is on its way; it will be answered in turn.
        if (err.code !== "stale_revision") throw err;
      }
    });
  }

  /** Consumers mapped to live tracks by transceiver mid. */
  tracksByParticipant() {
    const result = new Map();
    if (!this.pc) return result;
    const byMid = new Map(this.pc.getTransceivers().map((t) => [t.mid, t]));
    for (const consumer of this.consumers) {
      const transceiver = byMid.get(String(consumer.mid));
      if (!transceiver) continue;
      const entry = result.get(consumer.participant_id) || {};
      entry[consumer.source] = transceiver.receiver.track;
      entry.receivers = entry.receivers || {};
      entry.receivers[consumer.source] = transceiver.receiver;
      result.set(consumer.participant_id, entry);
    }
    return result;
  }

  emitTracks() {
    this.onTracks(this.tracksByParticipant());
  }

  close() {
    this.closed = true;
    this.resolveReady();
    try {
      this.pc && this.pc.close();
    } catch {
      /* already closed */
    }
  }
}
