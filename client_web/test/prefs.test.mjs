// Unit tests for subscribe_prefs' list (media.js pausedVideos): `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pausedVideos, videoKey, MAX_PAUSED } from "../src/media.js";

const consumer = (participant_id, source, kind = source === "microphone" ? "audio" : "video") => ({
  mid: `${participant_id}-${source}`,
  participant_id,
  source,
  kind,
  producer_id: `pr_${participant_id}_${source}`,
});

test("every video not shown is paused, audio never, each pair once and in a stable order", () => {
  const consumers = [
    consumer("p_b", "camera"),
    consumer("p_a", "microphone"),
    consumer("p_a", "camera"),
    consumer("p_a", "screen"),
    consumer("p_c", "camera"),
    consumer("p_b", "camera"), // the same pair twice (a reused transceiver)
  ];
  const shown = new Set([videoKey("p_c", "camera")]);
  assert.deepEqual(pausedVideos(consumers, shown), [
    { participant_id: "p_a", source: "camera" },
    { participant_id: "p_a", source: "screen" },
    { participant_id: "p_b", source: "camera" },
  ]);
  assert.deepEqual(pausedVideos([...consumers].reverse(), shown), pausedVideos(consumers, shown));
});

test("all shown, nothing to receive, or odd consumers: nothing paused", () => {
  const all = new Set([videoKey("p_a", "camera"), videoKey("p_a", "screen")]);
  assert.deepEqual(pausedVideos([consumer("p_a", "camera"), consumer("p_a", "screen")], all), []);
  assert.deepEqual(pausedVideos([], new Set()), []);
  assert.deepEqual(pausedVideos(undefined, new Set()), []);
  assert.deepEqual(pausedVideos([null, { kind: "video" }, { kind: "video", participant_id: "p", source: "other" }], new Set()), []);
});

test("never more than the server accepts", () => {
  const many = Array.from({ length: MAX_PAUSED + 20 }, (_, i) => consumer(`p_${String(i).padStart(4, "0")}`, "camera"));
  assert.equal(pausedVideos(many, new Set()).length, MAX_PAUSED);
});
