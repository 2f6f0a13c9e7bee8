// Unit tests for the client's pure functions: `npm test` (node's built-in runner, no browser).
import { test } from "node:test";
import assert from "node:assert/strict";
import { bestLayout } from "../src/gallery.js";
import { initials, hueFor } from "../src/dom.js";
import { withoutEmptyBundle } from "../src/media.js";

test("one tile fills a landscape stage at most 16:9", () => {
  const l = bestLayout(1, 1280, 640);
  assert.equal(l.cols, 1);
  assert.ok(l.tileWidth / l.tileHeight <= 16 / 9 + 0.01);
  assert.equal(l.tileHeight, 640);
});

test("two tiles sit side by side on a laptop and stack on a phone", () => {
  assert.equal(bestLayout(2, 1264, 680).cols, 2);
  const phone = bestLayout(2, 374, 700);
  assert.equal(phone.cols, 1);
  assert.equal(phone.rows, 2);
});

test("tiles never overflow the stage", () => {
  for (const n of [1, 2, 3, 4, 5, 7, 9, 12, 16, 25]) {
    for (const [w, h] of [[1264, 680], [374, 700], [800, 300]]) {
      const l = bestLayout(n, w, h);
      assert.ok(l.cols * l.tileWidth + (l.cols - 1) * 8 <= w + 1, `${n} in ${w}x${h}`);
      assert.ok(l.rows * l.tileHeight + (l.rows - 1) * 8 <= h + 1, `${n} in ${w}x${h}`);
      assert.ok(l.cols * l.rows >= n);
    }
  }
});

test("initials take the first and last word", () => {
  assert.equal(initials("Ana Maria Silva"), "AS");
  assert.equal(initials("  lisbon "), "L");
  assert.equal(initials(""), "?");
  assert.equal(initials("Élodie Ñúñez"), "ÉÑ");
});

test("avatar hue is stable per id", () => {
  assert.equal(hueFor("p_1"), hueFor("p_1"));
  assert.ok(new Set(["p_1", "p_2", "p_3", "p_4", "p_5"].map(hueFor)).size > 1);
});

test("an empty BUNDLE group is dropped, a real one kept", () => {
  const empty = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE \r\na=msid-semantic:WMS *\r\n";
  assert.ok(!withoutEmptyBundle(empty).includes("BUNDLE"));
  const real = "v=0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
  assert.equal(withoutEmptyBundle(real), real);
});
