// Unit tests for the gallery's paging (node --test; no browser).
import { test } from "node:test";
import assert from "node:assert/strict";
import { paginate, tilesThatFit, MAX_PAGE } from "../src/gallery.js";

const ids = (n) => Array.from({ length: n }, (_, i) => `p${i}`);

test("one page while everyone fits", () => {
  const { pages } = paginate(ids(10), { selfId: "me", pageSize: 49 });
  assert.equal(pages.length, 1);
  assert.equal(pages[0][0], "me");
  assert.equal(pages[0].length, 11); // self first, then the ten others
});

test("more than 49 tiles are split into pages that keep self on every page", () => {
  const all = ["me", ...ids(50)];
  const { pages } = paginate(all, { selfId: "me", pageSize: MAX_PAGE });
  assert.equal(pages.length, 2);
  for (const page of pages) {
    assert.equal(page[0], "me");
    assert.ok(page.length <= MAX_PAGE);
  }
  const seen = new Set(pages.flat().filter((id) => id !== "me"));
  assert.equal(seen.size, 50);
});

test("the active speaker is kept visible on every page", () => {
  const all = ["me", ...ids(60)];
  const { pages } = paginate(all, { selfId: "me", speakerId: "p59", pageSize: 49 });
  for (const page of pages) {
    assert.ok(page.includes("p59"));
    assert.ok(page.length <= 49);
    assert.equal(new Set(page).size, page.length);
  }
});

test("page size follows the space, capped at 49", () => {
  assert.equal(tilesThatFit(1264, 600), 49);
  assert.ok(tilesThatFit(374, 600) < 49);
  assert.equal(tilesThatFit(50, 30), 1);
});
