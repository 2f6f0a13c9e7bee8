// Simulcast in the client (docs/protocol.md): the camera's layers by its size, the server's
// publish_layers applied to the sender, the sizes of the videos shown in subscribe_prefs, and the
// layer received in words on the tile (video_layers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cameraEncodings, sendEncodingsFor, validLayers, ridExtensions, withRidExtensions, Publisher } from "../src/media.js";
import { SubscribePrefs, videoSizes, sizesChanged } from "../src/subscribe_prefs.js";
import { describeLayer } from "../src/video_layers.js";
import { initI18n, t } from "../src/i18n.js";

const rids = (encodings) => (encodings ? encodings.map((e) => e.rid) : null);

test("a camera of 640x360 or more sends three layers, lowest first; 2 Mbit/s on top from 1280x720", () => {
  const hd = cameraEncodings({ width: 1280, height: 720 });
  assert.deepEqual(rids(hd), ["q", "h", "f"]);
  assert.deepEqual(hd.map((e) => e.scaleResolutionDownBy), [4, 2, 1]);
  assert.deepEqual(hd.map((e) => e.maxBitrate), [150_000, 500_000, 2_000_000]);
  for (const [width, height] of [[960, 540], [640, 360], [640, 480], [360, 640]]) {
    const layers = cameraEncodings({ width, height });
    assert.deepEqual(rids(layers), ["q", "h", "f"], `${width}x${height}`);
    assert.equal(layers[2].maxBitrate, 1_500_000, `${width}x${height}`);
  }
  assert.equal(cameraEncodings({ width: 720, height: 1280 })[2].maxBitrate, 2_000_000); // upright phone
});

test("a smaller camera sends two layers (h, f), a tiny or unknown one a single encoding", () => {
  for (const [width, height] of [[480, 270], [320, 180], [320, 240], [180, 320], [639, 360]]) {
    assert.deepEqual(rids(cameraEncodings({ width, height })), ["h", "f"], `${width}x${height}`);
  }
  for (const settings of [{ width: 160, height: 120 }, { width: 320, height: 179 }, {}, null, undefined]) {
    assert.equal(cameraEncodings(settings), null, JSON.stringify(settings));
  }
});

test("only a camera is layered (in VP8 or H.264): a screen share and audio send one encoding", () => {
  const track = (kind, width = 1280, height = 720) => ({ kind, getSettings: () => ({ width, height }) });
  assert.deepEqual(rids(sendEncodingsFor(track("video"), "camera")), ["q", "h", "f"]);
  assert.equal(sendEncodingsFor(track("video", 1920, 1080), "screen"), null);
  assert.equal(sendEncodingsFor(track("audio"), "microphone"), null);
  assert.equal(sendEncodingsFor(null, "camera"), null);
});

test("publish_layers: well-formed payloads only, never every layer off", () => {
  assert.ok(validLayers({ mid: "1", source: "camera", active: [true, false, false] }));
  assert.ok(validLayers({ mid: "1", source: "camera", active: [true, true, true] }));
  for (const bad of [
    null,
    "x",
    { mid: 1, source: "camera", active: [true] },
    { mid: "1", source: "microphone", active: [true] },
    { mid: "1", source: "camera", active: [] },
    { mid: "1", source: "camera", active: [false, false, false] },
    { mid: "1", source: "camera", active: [true, "no"] },
    { mid: "1", source: "camera" },
  ]) {
    assert.equal(validLayers(bad), false, JSON.stringify(bad));
  }
});

const RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
const RRID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
const sdp = (...lines) => [...lines, ""].join("\r\n");
const SESSION = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0"];
const AUDIO = ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "a=extmap:4 " + RID, "a=rtpmap:111 opus/48000/2"];

test("an offer keeps the RID extensions of its simulcast sections after an answer refused them", () => {
  const first = sdp(...SESSION, ...AUDIO,
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=extmap:4 " + RID, "a=extmap:10 " + RRID, "a=extmap:3 urn:x",
    "a=rtpmap:96 VP8/90000", "a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f");
  const known = ridExtensions(first);
  assert.deepEqual([...known], [["1", ["a=extmap:4 " + RID, "a=extmap:10 " + RRID]]]); // audio offers no simulcast
  // the browser's next offer, after an answer without simulcast: the layers, not their extension
  const next = sdp(...SESSION, ...AUDIO,
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=extmap:3 urn:x", "a=rtpmap:96 VP8/90000",
    "a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:2", "a=rtpmap:96 VP8/90000");
  assert.equal(withRidExtensions(next, known), sdp(...SESSION, ...AUDIO,
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=extmap:3 urn:x", "a=extmap:4 " + RID, "a=extmap:10 " + RRID,
    "a=rtpmap:96 VP8/90000", "a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:2", "a=rtpmap:96 VP8/90000"));
  // an offer that has them (the answer accepted them) is left as it is
  assert.equal(withRidExtensions(first, known), first);
  assert.equal(withRidExtensions(next, new Map()), next);
});

/** A Publisher on a stand-in RTCPeerConnection with one camera sender of `layers` encodings. */
function publisherWithCamera(layers, mid = "1") {
  const saved = globalThis.RTCPeerConnection;
  globalThis.RTCPeerConnection = class {
    addEventListener() {}
    close() {}
  };
  try {
    const publisher = new Publisher({ request: async () => ({}) });
    const sender = {
      track: { kind: "video" },
      params: { encodings: Array.from({ length: layers }, (_, i) => ({ rid: "qhf"[3 - layers + i], active: true })) },
      applied: [],
      getParameters() {
        return structuredClone(this.params);
      },
      async setParameters(params) {
        this.applied.push(params.encodings.map((e) => e.active));
        this.params = params;
      },
    };
    publisher.sources.set({ mid, sender }, "camera");
    return { publisher, sender };
  } finally {
    globalThis.RTCPeerConnection = saved;
  }
}

test("publish_layers sets each encoding's active flag on that mid's sender, and ignores the rest", async () => {
  const { publisher, sender } = publisherWithCamera(3);
  assert.equal(await publisher.setLayers({ mid: "1", source: "camera", active: [true, true, false] }), true);
  assert.deepEqual(sender.applied, [[true, true, false]]);
  assert.equal(await publisher.setLayers({ mid: "1", source: "camera", active: [true, true, false] }), true);
  assert.equal(sender.applied.length, 1, "the same flags again: nothing to set");
  for (const ignored of [
    { mid: "1", source: "camera", active: [false, false, false] }, // never all off
    { mid: "2", source: "camera", active: [true, true, true] }, // not our mid
    { mid: "1", source: "screen", active: [true, true, true] }, // another source
    { mid: "1", source: "camera", active: [true, true] }, // not this sender's layers
  ]) {
    assert.equal(await publisher.setLayers(ignored), false, JSON.stringify(ignored));
  }
  assert.deepEqual(sender.applied, [[true, true, false]]);
  assert.equal(await publisher.setLayers({ mid: "1", source: "camera", active: [true, false, true] }), true);
  assert.deepEqual(sender.params.encodings.map((e) => e.active), [true, false, true]);
  // a single-encoding sender has no layers to switch
  const single = publisherWithCamera(1);
  assert.equal(await single.publisher.setLayers({ mid: "1", source: "camera", active: [true] }), false);
});

test("sizes: each video once at its largest, rounded, in a stable order; unusable entries left out", () => {
  const sizes = videoSizes([
    { participant_id: "p_b", source: "camera", width: 260, height: 146 },
    { participant_id: "p_a", source: "screen", width: 1000.4, height: 562.6 },
    { participant_id: "p_b", source: "camera", width: 1010, height: 568 }, // also pinned
    { participant_id: "p_c", source: "camera", width: 0, height: 0 },
    { participant_id: "p_d", source: "microphone", width: 10, height: 10 },
    null,
  ]);
  assert.deepEqual(sizes, [
    { participant_id: "p_a", source: "screen", width: 1000, height: 563 },
    { participant_id: "p_b", source: "camera", width: 1010, height: 568 },
  ]);
});

test("a size is sent again when it changed by more than 15 % or crossed a layer's size", () => {
  const one = (width, height) => [{ participant_id: "p_a", source: "camera", width, height }];
  assert.equal(sizesChanged(one(400, 225), one(420, 236)), false);
  assert.equal(sizesChanged(one(400, 225), one(480, 270)), true);
  assert.equal(sizesChanged(one(330, 186), one(316, 178)), true); // below 320x180 now
  assert.equal(sizesChanged(one(400, 225), []), true);
  assert.equal(sizesChanged([], one(400, 225)), true);
  assert.equal(sizesChanged(one(400, 225), [{ participant_id: "p_b", source: "camera", width: 400, height: 225 }]), true);
  assert.equal(sizesChanged([], []), false);
});

test("subscribe_prefs carries the sizes, the complete lists each time, resent only when it matters", async () => {
  const sent = [];
  const view = {
    tracks: new Map([
      ["p_a", { camera: {} }],
      ["p_b", { camera: {} }],
    ]),
    shown: new Set(["p_a\ncamera"]),
    sizes: [{ participant_id: "p_a", source: "camera", width: 260, height: 146 }],
  };
  const accepted = [];
  const prefs = new SubscribePrefs({
    request: async (event, payload) => sent.push([event, structuredClone(payload)]),
    ready: () => true,
    remoteTracks: () => view.tracks,
    shown: () => view.shown,
    sizes: () => view.sizes,
    session: () => 1,
    accepted: (paused, sizes) => accepted.push({ paused, sizes }),
  });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  prefs.sync();
  await settle();
  assert.deepEqual(sent, [
    ["subscribe_prefs", { paused: [{ participant_id: "p_b", source: "camera" }], sizes: view.sizes }],
  ]);
  assert.deepEqual(accepted.at(-1).sizes, view.sizes);

  view.sizes = [{ participant_id: "p_a", source: "camera", width: 270, height: 152 }]; // a few pixels
  prefs.sync();
  await settle();
  assert.equal(sent.length, 1);

  view.sizes = [{ participant_id: "p_a", source: "camera", width: 1010, height: 568 }]; // pinned
  prefs.sync();
  await settle();
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1][1], { paused: [{ participant_id: "p_b", source: "camera" }], sizes: view.sizes });

  view.shown = new Set(["p_a\ncamera", "p_b\ncamera"]); // paused changes, sizes do not
  prefs.sync();
  await settle();
  assert.equal(sent.length, 3);
  assert.deepEqual(sent[2][1].paused, []);
  assert.deepEqual(sent[2][1].sizes, view.sizes);

  prefs.reset(); // a new connection knows nothing: both lists again
  prefs.sync();
  await settle();
  assert.equal(sent.length, 4);
});

test("video_layers in words on the tile: the layer's lines, else Low / Medium / High", () => {
  initI18n("en");
  const v = (fields) => ({ mid: "1", participant_id: "p_a", source: "camera", layers: 3, width: null, height: null, paused: null, ...fields });
  assert.deepEqual(describeLayer(v({ layer: 2, width: 1280, height: 720 }), t), { layer: 2, height: 720, text: "HD 720p", paused: false });
  assert.equal(describeLayer(v({ layer: 1, width: 640, height: 360 }), t).text, "360p");
  assert.equal(describeLayer(v({ layer: 0, width: 320, height: 180 }), t).text, "180p");
  assert.equal(describeLayer(v({ layer: 2, width: 720, height: 1280 }), t).text, "HD 720p"); // upright phone
  assert.equal(describeLayer(v({ layer: 0 }), t).text, "Low");
  assert.equal(describeLayer(v({ layer: 1 }), t).text, "Medium");
  assert.equal(describeLayer(v({ layer: 2 }), t).text, "High");
  assert.equal(describeLayer(v({ layer: 1, layers: 2 }), t).text, "High");
  assert.deepEqual(describeLayer(v({ layer: 0, layers: 1 }), t), { layer: 0, height: null, text: "", paused: false });
  assert.deepEqual(describeLayer(v({ layer: null }), t), { layer: null, height: null, text: "", paused: false });
  assert.deepEqual(describeLayer(v({ layer: null, paused: "bandwidth" }), t), { layer: null, height: null, text: "", paused: true });
  assert.deepEqual(describeLayer(null, t), { layer: null, height: null, text: "", paused: false });
  assert.equal(t("tile.pausedBandwidth"), "Video paused: poor connection");
});
