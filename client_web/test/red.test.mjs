// Unit tests for the microphone's codec order (media.js redFirst): `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { redFirst } from "../src/media.js";

const codec = (mimeType, sdpFmtpLine) => (sdpFmtpLine ? { mimeType, clockRate: 48000, sdpFmtpLine } : { mimeType, clockRate: 48000 });

test("red first, then Opus with its fmtp, then the rest in the browser's order (Chromium's list)", () => {
  const opus = codec("audio/opus", "minptime=10;useinbandfec=1");
  const red = codec("audio/red");
  const rest = [codec("audio/G722"), codec("audio/PCMU"), codec("audio/PCMA"), codec("audio/CN"), codec("audio/telephone-event")];
  const ordered = redFirst([opus, red, ...rest]);
  assert.deepEqual(ordered, [red, opus, ...rest]);
  assert.equal(ordered[1].sdpFmtpLine, "minptime=10;useinbandfec=1"); // in-band FEC kept
  assert.deepEqual(redFirst([red, opus]), [red, opus]);
  assert.deepEqual(redFirst([codec("audio/RED"), opus]).map((c) => c.mimeType), ["audio/RED", "audio/opus"]);
});

test("without red (or without Opus) the browser's order stays", () => {
  assert.equal(redFirst([codec("audio/opus"), codec("audio/PCMU")]), null);
  assert.equal(redFirst([codec("audio/red"), codec("audio/PCMU")]), null);
  assert.equal(redFirst([]), null);
  assert.equal(redFirst(undefined), null);
  assert.equal(redFirst([null, {}, codec("audio/opus")]), null);
});
