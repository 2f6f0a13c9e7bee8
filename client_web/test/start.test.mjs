// The start page's pure functions: the join box's parsing, the planned time, the invitation text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeCode, parseJoinInput, localInputToIso, invitationText, organiserKeyFromHash, organiserKeyFromInput } from "../src/start_model.js";

const ORIGIN = "https://sitroom.seoul.go.kr";

test("room codes are read the way people type them", () => {
  assert.equal(normalizeCode("k7m 4pd q2r"), "K7M-4PD-Q2R");
  assert.equal(normalizeCode("K7M4PDQ2R"), "K7M-4PD-Q2R");
  assert.equal(normalizeCode("k7m.4pd.q2r"), "K7M-4PD-Q2R");
  for (const bad of ["", "K7M-4PD", "O0M-4PD-Q2R", "K7M-4PD-Q2R-XYZ", "K7M-4PD-Q2!"]) assert.equal(normalizeCode(bad), null, bad);
});

test("the join box takes a code, a meeting link, or says what is wrong", () => {
  assert.deepEqual(parseJoinInput("  ", ORIGIN), { kind: "empty" });
  assert.deepEqual(parseJoinInput("k7m-4pd-q2r", ORIGIN), { kind: "code", code: "K7M-4PD-Q2R" });
  assert.deepEqual(parseJoinInput(`${ORIGIN}/r/k3x9pq2m?t=v1.abc.def`, ORIGIN), { kind: "link", url: `${ORIGIN}/r/k3x9pq2m?t=v1.abc.def` });
  assert.deepEqual(parseJoinInput("other.city.gov/r/demo?t=v1.x.y", ORIGIN), { kind: "link", url: "https://other.city.gov/r/demo?t=v1.x.y" });
  assert.deepEqual(parseJoinInput("/r/demo?t=v1.x.y", ORIGIN), { kind: "link", url: `${ORIGIN}/r/demo?t=v1.x.y` });
  for (const bad of ["hello", `${ORIGIN}/r/demo`, "javascript:alert(1)//r/x?t=1", `${ORIGIN}/admin?t=1`, "ftp://x/r/y?t=1"]) {
    assert.deepEqual(parseJoinInput(bad, ORIGIN), { kind: "invalid" }, bad);
  }
});

test("a planned time keeps the viewer's offset", () => {
  const iso = localInputToIso("2027-01-15T09:30");
  assert.match(iso, /^2027-01-15T09:30:00[+-]\d{2}:\d{2}$/);
  assert.equal(new Date(iso).getTime(), new Date(2027, 0, 15, 9, 30).getTime());
  assert.equal(localInputToIso(""), "");
  assert.equal(localInputToIso("tomorrow"), "");
});

test("the invitation names the meeting, the time, the link and the code", () => {
  const t = (key, vars = {}) => `${key}${Object.values(vars).length ? `(${Object.values(vars).join("|")})` : ""}`;
  const text = invitationText({ t, title: "Flood talks", when: "Friday 09:00", link: `${ORIGIN}/r/x?t=1`, code: "K7M-4PD-Q2R", origin: ORIGIN });
  const lines = text.split("\n");
  assert.equal(lines[0], "start.invitation.intro(Flood talks)");
  assert.ok(lines.includes("start.invitation.when(Friday 09:00)"));
  assert.ok(lines.includes(`${ORIGIN}/r/x?t=1`));
  assert.ok(lines.includes(`start.invitation.code(${ORIGIN}|K7M-4PD-Q2R)`));
});

test("the organiser key comes from the start page's fragment, and the fragment keeps the rest", () => {
  assert.deepEqual(organiserKeyFromHash("#organiser=Abc_12-x"), { key: "Abc_12-x", hash: "" });
  assert.deepEqual(organiserKeyFromHash("#organiser=a%20b%2Fc&lang=ko"), { key: "a b/c", hash: "#lang=ko" });
  assert.deepEqual(organiserKeyFromHash("#lang=ko"), { key: "", hash: "#lang=ko" });
  assert.deepEqual(organiserKeyFromHash(""), { key: "", hash: "" });
  assert.deepEqual(organiserKeyFromHash("#organiser="), { key: "", hash: "" });
});

test("the organiser key field takes the key or the whole organiser link", () => {
  assert.equal(organiserKeyFromInput("  k3y-Value_1 "), "k3y-Value_1");
  assert.equal(organiserKeyFromInput(`${ORIGIN}/#organiser=k3y-Value_1`), "k3y-Value_1");
  assert.equal(organiserKeyFromInput("http://127.0.0.1:8080/#organiser=a%2Fb"), "a/b");
  assert.equal(organiserKeyFromInput(""), "");
});
