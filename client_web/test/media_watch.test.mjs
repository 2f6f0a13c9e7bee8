// The watch on a join's media: a connection still not connected some seconds after joining makes
// the client join again once, then tell the user.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MediaWatch } from "../src/media_watch.js";

function watch(state) {
  const calls = [];
  const w = new MediaWatch({
    pcs: () => state.pcs,
    current: (session) => session === state.session,
    retry: () => calls.push("retry"),
    giveUp: () => calls.push("giveUp"),
  });
  return { w, calls };
}

test("connected media is left alone, and resets the retries", () => {
  const state = { session: 1, pcs: { publish: { connectionState: "connected" }, subscribe: null } };
  const { w, calls } = watch(state);
  w.attempts = 1;
  w.check(1);
  assert.deepEqual(calls, []);
  assert.equal(w.attempts, 0);
});

test("a stuck connection is retried once, then the user is told", () => {
  const state = { session: 1, pcs: { publish: { connectionState: "new" }, subscribe: { connectionState: "connected" } } };
  const { w, calls } = watch(state);
  w.check(1);
  w.check(1);
  assert.deepEqual(calls, ["retry", "giveUp"]);
  w.reset();
  w.check(1);
  assert.deepEqual(calls, ["retry", "giveUp", "retry"]);
});

test("a subscribe connection stuck in connecting counts too; an old session does not", () => {
  const state = { session: 2, pcs: { publish: null, subscribe: { connectionState: "connecting" } } };
  const { w, calls } = watch(state);
  w.check(1);
  assert.deepEqual(calls, []);
  w.check(2);
  assert.deepEqual(calls, ["retry"]);
});
