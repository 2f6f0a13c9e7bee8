// The archive page's pure functions (src/archive_model.js), on a recording shaped as the server's
// GET /api/rooms/{room_id}/archive answers it.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  archiveParams, hashWithRecording, archivePath, withTicket, pickRecording, recordingDuration, clockText, clampTime,
  stageAt, stageSummary, stageKey, markers, panelUpdate, trackActive, mediaTime, trackPhase, followPlan, tileGroups,
  stageTrack, tilePhase, shouldHold, MAX_DRIFT,
} from "../src/archive_model.js";

const REC = "/api/rooms/r1/recordings/rec_20261203T090000Z_ab12cd";
const stageState = (fields) => ({
  kind: "empty", panel_id: null, document_id: null, page: 0, pointer: null, participant_id: null, source: null,
  locked_follow: false, version: 3, changed_by: null, changed_at: null, ...fields,
});
const SERIES_A = { labels: ["09:00", "09:01"], series: [{ name: "PM2.5", values: [12, 14] }] };
const SERIES_B = { labels: ["09:00", "09:01", "09:02"], series: [{ name: "PM2.5", values: [12, 14, 30] }] };

const STAGE = [
  { t: 0, type: "stage", stage: stageState({}) },
  { t: 0, type: "panels", panels: [{ id: "pan1", title: "Air quality", kind: "timeseries", source: { type: "feed", feed: "air_quality", city: "seoul" }, options: {} }] },
  { t: 0, type: "panel_data", panel_id: "pan1", data: SERIES_A, error: null, updated_at: "2026-12-03T09:00:00+00:00", ok_at: "2026-12-03T09:00:00+00:00" },
  { t: 4.1, type: "stage", stage: stageState({ kind: "panel", panel_id: "pan1", version: 4 }) },
  { t: 6, type: "stage", stage: stageState({ kind: "panel", panel_id: "pan1", version: 5, locked_follow: true }) },
  { t: 9.0, type: "panel_data", panel_id: "pan1", data: SERIES_B, error: null },
  { t: 10.0, type: "panel_data", panel_id: "pan1", data: null, error: "feed timed out" },
  { t: 11.0, type: "whiteboard", strokes: [] },
  { t: 12.0, type: "page", document_id: "d1", page: 0, title: "Budget 2027", page_count: 12, width: 1240, height: 1754, image: `${REC}/stage/d1-page-0001.webp` },
  { t: 12.0, type: "stage", stage: stageState({ kind: "document", document_id: "d1", page: 0, version: 6 }) },
  { t: 13.0, type: "stage", stage: stageState({ kind: "document", document_id: "d1", page: 0, version: 7, pointer: [0.5, 0.5] }) },
  { t: 15.0, type: "stage", stage: stageState({ kind: "document", document_id: "d1", page: 1, version: 8 }) },
  { t: 20.0, type: "stage", stage: stageState({ kind: "participant", participant_id: "p1", source: "screen", version: 9 }) },
  { t: 25.0, type: "panels", panels: [] },
  { t: 26.0, type: "stage", stage: stageState({ kind: "panel", panel_id: "pan1", version: 10 }) },
  { t: 30.0, type: "recording_stop" },
];

const track = (fields) => ({
  participant_id: "p1", name: "Mayor Oh", city: "Seoul", source: "camera", kind: "video",
  url: `${REC}/p1-camera-video.webm`, mime: "video/webm", start_offset: 0.52, end_offset: 61.9, width: 640, height: 480, frames: 1500, ...fields,
});
const TRACKS = [
  track({}),
  track({ source: "microphone", kind: "audio", url: `${REC}/p1-microphone-audio.webm`, mime: "audio/webm", start_offset: 0.4, end_offset: 62.0, width: null, height: null }),
  track({ source: "screen", url: `${REC}/p1-screen-video.webm`, start_offset: 19.5, end_offset: 40 }),
  track({ participant_id: "p2", name: "Ana Costa", city: "Lisbon", source: "microphone", kind: "audio", url: `${REC}/p2-microphone-audio.webm`, start_offset: 3, end_offset: 50 }),
  track({ participant_id: "p3", name: "Kim", city: "Seoul", start_offset: 10, end_offset: 20 }),
  track({ participant_id: "p3", name: "Kim", city: "Seoul", start_offset: 30, end_offset: 55, url: `${REC}/p3-camera-video-2.webm` }),
];

test("the fragment: room, the host's token and the recording; a new recording keeps everything else", () => {
  assert.deepEqual(archiveParams("#room=r1"), { room: "r1", token: "", recording: "" });
  assert.deepEqual(archiveParams("#room=r%201&t=tok.en&recording=rec_2"), { room: "r 1", token: "tok.en", recording: "rec_2" });
  assert.deepEqual(archiveParams(""), { room: "", token: "", recording: "" });
  const hash = hashWithRecording("#room=r1&t=abc&x=1", "rec_9");
  assert.deepEqual(archiveParams(hash), { room: "r1", token: "abc", recording: "rec_9" });
  assert.match(hash, /x=1/);
  assert.deepEqual(archiveParams(hashWithRecording(hash, "rec_1")).recording, "rec_1");
});

test("the request's path carries the host's token, URL-encoded; media URLs carry the ticket", () => {
  assert.equal(archivePath("r1"), "/api/rooms/r1/archive");
  assert.equal(archivePath("r/1", "a+b&c"), "/api/rooms/r%2F1/archive?t=a%2Bb%26c");
  assert.equal(withTicket("/m/a.webm", "x y/z"), "/m/a.webm?ticket=x%20y%2Fz");
  assert.equal(withTicket("/m/a.webm?v=1", "k"), "/m/a.webm?v=1&ticket=k");
  assert.equal(withTicket("/m/a.webm", ""), "/m/a.webm");
  assert.equal(withTicket(null, "k"), "");
});

test("the recording shown: the one asked for, else the newest", () => {
  const recs = [
    { id: "a", started: "2026-12-03T09:00:00.000+00:00" },
    { id: "b", started: "2026-12-03T10:00:00.000+00:00" },
    { id: "c", started: "2026-12-03T08:00:00.000+00:00" },
  ];
  assert.equal(pickRecording(recs).id, "b");
  assert.equal(pickRecording(recs, "c").id, "c");
  assert.equal(pickRecording(recs, "nope").id, "b");
  assert.equal(pickRecording([]), null);
  assert.equal(pickRecording(undefined), null);
});

test("the duration: as given, else from the times, else from the tracks and entries", () => {
  assert.equal(recordingDuration({ duration: 62.5 }), 62.5);
  assert.equal(recordingDuration({ started: "2026-12-03T09:00:00.000+00:00", stopped: "2026-12-03T09:01:02.500+00:00" }), 62.5);
  assert.equal(recordingDuration({ tracks: TRACKS, stage: STAGE }), 62);
  assert.equal(recordingDuration({}), 0);
});

test("clock texts and clamped times", () => {
  assert.equal(clockText(0), "0:00");
  assert.equal(clockText(62.9), "1:02");
  assert.equal(clockText(3725), "1:02:05");
  assert.equal(clockText(NaN), "0:00");
  assert.equal(clockText(-3), "0:00");
  assert.equal(clampTime(70, 62.5), 62.5);
  assert.equal(clampTime(-1, 62.5), 0);
  assert.equal(clampTime("x", 62.5), 0);
  assert.equal(clampTime(12.25, 62.5), 12.25);
});

test("stageAt: empty at the start, the panel with the chart as it was, the document page, the participant", () => {
  let at = stageAt(STAGE, 0);
  assert.equal(at.stage.kind, "empty");
  assert.equal(at.panel, null);

  at = stageAt(STAGE, 4.1);
  assert.equal(at.stage.kind, "panel");
  assert.equal(at.panel.title, "Air quality");
  assert.deepEqual(at.panelData.data, SERIES_A);
  assert.equal(at.panelData.panel_id, "pan1");
  assert.equal(at.panelData.ok_at, "2026-12-03T09:00:00+00:00");

  at = stageAt(STAGE, 9.5);
  assert.deepEqual(at.panelData.data, SERIES_B);
  assert.equal(at.panelData.error, null);

  // A source error keeps the last data, with the error, as the meeting shows it.
  at = stageAt(STAGE, 10.5);
  assert.deepEqual(at.panelData.data, SERIES_B);
  assert.equal(at.panelData.error, "feed timed out");

  at = stageAt(STAGE, 12);
  assert.equal(at.stage.kind, "document");
  assert.equal(at.page.image, `${REC}/stage/d1-page-0001.webp`);
  assert.equal(at.title, "Budget 2027");

  // Page 2 was never copied: no page (a placeholder), the title still known.
  at = stageAt(STAGE, 16);
  assert.equal(at.stage.page, 1);
  assert.equal(at.page, null);
  assert.equal(at.title, "Budget 2027");

  at = stageAt(STAGE, 21);
  assert.deepEqual(stageSummary(at), { kind: "participant", participant_id: "p1", source: "screen" });

  // The panel was deleted before it came back on the stage: the spec is gone, no chart.
  at = stageAt(STAGE, 27);
  assert.equal(at.stage.kind, "panel");
  assert.equal(at.panel, null);

  // Going back in time gives the earlier state again (a seek backwards).
  assert.deepEqual(stageAt(STAGE, 9.5).panelData.data, SERIES_B);
  assert.deepEqual(stageAt(STAGE, 5).panelData.data, SERIES_A);
});

test("stageAt ignores unknown entry types and kinds, and takes no entries as an empty stage", () => {
  assert.deepEqual(stageSummary(stageAt([], 5)), { kind: "empty" });
  assert.deepEqual(stageSummary(stageAt(undefined, 5)), { kind: "empty" });
  const odd = [{ t: 1, type: "stage", stage: { kind: "hologram" } }, { t: 2, type: "mystery" }, { t: 3, type: "stage" }];
  assert.deepEqual(stageSummary(stageAt(odd, 5)), { kind: "empty" });
  const doc = [{ t: 1, type: "stage", stage: stageState({ kind: "document", document_id: "d9", page: 3 }) }];
  const at = stageAt(doc, 2);
  assert.deepEqual([at.page, at.title], [null, null]);
  assert.deepEqual(stageSummary(at), { kind: "document", document_id: "d9", page: 3 });
});

test("a document page copied later than it was shown counts only from then on", () => {
  const entries = [
    { t: 1, type: "stage", stage: stageState({ kind: "document", document_id: "d1", page: 0 }) },
    { t: 2, type: "page", document_id: "d1", page: 0, title: "Late", image: "/p.webp" },
  ];
  assert.equal(stageAt(entries, 1.5).page, null);
  assert.equal(stageAt(entries, 1.5).title, "Late"); // the title is known from the recording
  assert.equal(stageAt(entries, 2).page.image, "/p.webp");
});

test("a panel_data entry becomes the PanelUpdate of a live event", () => {
  assert.deepEqual(panelUpdate({ t: 1, type: "panel_data", panel_id: "p", data: { rows: [] }, error: null }),
    { panel_id: "p", data: { rows: [] }, error: null, updated_at: null, ok_at: null });
  const whole = { panel_id: "p", data: { rows: [1] }, error: null, updated_at: "u", ok_at: "o" };
  assert.deepEqual(panelUpdate({ t: 1, type: "panel_data", panel_id: "p", data: whole }), whole);
});

test("markers: one per change of what the stage shows, none for pointer moves or the opening state", () => {
  const list = markers(STAGE);
  assert.deepEqual(list.map((m) => [m.t, m.kind]), [
    [4.1, "panel"], [12, "document"], [15, "document"], [20, "participant"], [26, "panel"],
  ]);
  assert.equal(list[0].title, "Air quality");
  assert.equal(list[0].panel_id, "pan1");
  assert.deepEqual([list[2].document_id, list[2].page, list[2].title], ["d1", 1, "Budget 2027"]);
  assert.deepEqual([list[3].participant_id, list[3].source], ["p1", "screen"]);
  assert.equal(list[4].title, null); // the panel list at that time no longer has it
  // A recording that starts on a panel: that panel is the start, no marker.
  assert.deepEqual(markers([{ t: 0, type: "stage", stage: stageState({ kind: "panel", panel_id: "x" }) }]), []);
  // A stage state first seen after the start is a change.
  assert.equal(markers([{ t: 2, type: "stage", stage: stageState({ kind: "panel", panel_id: "x" }) }]).length, 1);
  assert.deepEqual(markers(null), []);
  assert.equal(stageKey(stageState({ kind: "participant", participant_id: "p1" })), "participant:p1:camera");
});

test("a track plays within [start_offset, end_offset], at t - start_offset in its file", () => {
  const cam = TRACKS[0];
  assert.equal(trackActive(cam, 0.5), false);
  assert.equal(trackActive(cam, 0.52), true);
  assert.equal(trackActive(cam, 61.9), true);
  assert.equal(trackActive(cam, 62), false);
  assert.equal(trackPhase(cam, 0.1), "before");
  assert.equal(trackPhase(cam, 30), "active");
  assert.equal(trackPhase(cam, 62), "after");
  assert.ok(Math.abs(mediaTime(cam, 10.52) - 10) < 1e-9);
  assert.equal(mediaTime(cam, 0), 0);
  assert.ok(Math.abs(mediaTime(cam, 100) - (61.9 - 0.52)) < 1e-9);
  // No end: open-ended; a bad start: from 0.
  assert.equal(trackActive({ start_offset: 1 }, 1e6), true);
  assert.equal(mediaTime({ start_offset: "x" }, 4), 4);
});

test("followPlan: play while active, seek only past the allowed drift, never past the file's end", () => {
  const cam = TRACKS[0];
  assert.deepEqual(followPlan(cam, 10.52, 10.1), { play: true, seekTo: null, phase: "active" });
  const far = followPlan(cam, 10.52, 10.52 - 0.52 - MAX_DRIFT - 0.1);
  assert.equal(far.play, true);
  assert.ok(Math.abs(far.seekTo - 10) < 1e-9);
  assert.deepEqual(followPlan(cam, 10.52, 10, { playing: false }), { play: false, seekTo: null, phase: "active" });
  assert.equal(followPlan(cam, 0.1, 3).play, false);
  assert.equal(followPlan(cam, 0.1, 3).seekTo, 0);
  assert.equal(followPlan(cam, 80, 0, { length: 50 }).seekTo, 50);
  assert.equal(followPlan(cam, 80, 50, { length: 50 }).seekTo, null);
  assert.equal(followPlan(cam, 5, NaN).seekTo !== null, true);
});

test("tileGroups: a tile per participant and video source, audio with its camera, an audio-only name tile", () => {
  const tiles = tileGroups(TRACKS);
  assert.deepEqual(tiles.map((tile) => [tile.participant_id, tile.source, tile.videos.length, tile.audios.length]), [
    ["p1", "camera", 1, 1],
    ["p2", "microphone", 0, 1],
    ["p3", "camera", 2, 0],
    ["p1", "screen", 1, 0],
  ]);
  assert.equal(tiles[0].name, "Mayor Oh");
  assert.equal(tiles[0].city, "Seoul");
  assert.equal(tiles[0].audios[0].source, "microphone");
  assert.equal(tiles[1].name, "Ana Costa");
  assert.deepEqual(tileGroups([]), []);
  assert.deepEqual(tileGroups(undefined), []);
  // A screen's audio goes to the screen tile; audio without a camera tile to the screen tile.
  const screenOnly = tileGroups([
    track({ participant_id: "q", source: "screen" }),
    track({ participant_id: "q", source: "screen_audio", kind: "audio" }),
    track({ participant_id: "q", source: "microphone", kind: "audio" }),
  ]);
  assert.equal(screenOnly.length, 1);
  assert.deepEqual(screenOnly[0].audios.map((a) => a.source), ["screen_audio", "microphone"]);
});

test("a tile's phase follows its segments; the participant stage's track is the one covering t", () => {
  const kim = tileGroups(TRACKS).find((tile) => tile.participant_id === "p3");
  assert.equal(tilePhase(kim, 5), "before");
  assert.equal(tilePhase(kim, 15), "active");
  assert.equal(tilePhase(kim, 25), "after");
  assert.equal(tilePhase(kim, 40), "active");
  assert.equal(tilePhase(kim, 60), "after");
  const stage = { kind: "participant", participant_id: "p3", source: null };
  assert.equal(stageTrack(TRACKS, stage, 40).start_offset, 30);
  assert.equal(stageTrack(TRACKS, stage, 12).start_offset, 10);
  assert.equal(stageTrack(TRACKS, stage, 27).start_offset, 30); // nearest
  assert.equal(stageTrack(TRACKS, { kind: "participant", participant_id: "p1", source: "screen" }, 21).source, "screen");
  assert.equal(stageTrack(TRACKS, { kind: "participant", participant_id: "p2", source: "camera" }, 21), null);
  assert.equal(stageTrack(TRACKS, { kind: "panel" }, 21), null);
});

test("the clock holds only while every element that should play is buffering", () => {
  assert.equal(shouldHold([]), false);
  assert.equal(shouldHold([{ active: true, buffering: true }]), true);
  assert.equal(shouldHold([{ active: true, buffering: true }, { active: true, buffering: false }]), false);
  assert.equal(shouldHold([{ active: true, buffering: true }, { active: false, buffering: true }]), true);
  assert.equal(shouldHold([{ active: true, buffering: true, failed: true }]), false);
});
