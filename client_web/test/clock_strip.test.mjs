// The city clock strip's pure functions (clock_strip.js): the day marker between the viewer's date
// and a city's, the wall-clock time in a zone, and the entries the strip shows (the viewer first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { dayOffset, dayMarker, wallClock, knownZone, stripEntries } from "../src/clock_strip.js";

// 2027-03-10 23:30 in Sao Paulo (UTC-3) = 2027-03-11 02:30 UTC = 11:30 in Seoul, 02:30 in Lisbon
const LATE_IN_SAO_PAULO = Date.UTC(2027, 2, 11, 2, 30);

test("a city already on the next day is +1, one still on the previous day is -1", () => {
  assert.equal(dayOffset(LATE_IN_SAO_PAULO, "Asia/Seoul", "America/Sao_Paulo"), 1);
  assert.equal(dayOffset(LATE_IN_SAO_PAULO, "Europe/Lisbon", "America/Sao_Paulo"), 1);
  assert.equal(dayOffset(LATE_IN_SAO_PAULO, "America/Sao_Paulo", "Asia/Seoul"), -1);
  assert.equal(dayOffset(LATE_IN_SAO_PAULO, "America/Bogota", "America/Sao_Paulo"), 0);
  // across a month's and a year's end
  assert.equal(dayOffset(Date.UTC(2026, 11, 31, 20, 0), "Asia/Seoul", "America/Sao_Paulo"), 1);
  assert.equal(dayOffset(new Date(Date.UTC(2027, 0, 1, 1, 0)), "America/Los_Angeles", "Asia/Seoul"), -1);
  // a 14-hour zone against a -11 one: two days apart on the calendar at some moments
  assert.equal(dayOffset(Date.UTC(2027, 5, 1, 10, 30), "Pacific/Kiritimati", "Pacific/Pago_Pago"), 2);
});

test("the day marker is +N, a real minus sign, or nothing", () => {
  assert.equal(dayMarker(0), "");
  assert.equal(dayMarker(1), "+1");
  assert.equal(dayMarker(-1), "\u22121");
  assert.equal(dayMarker(2), "+2");
});

test("the wall-clock time in a zone is 24-hour hh:mm, with summer time", () => {
  assert.equal(wallClock(LATE_IN_SAO_PAULO, "America/Sao_Paulo"), "23:30");
  assert.equal(wallClock(LATE_IN_SAO_PAULO, "Asia/Seoul"), "11:30");
  assert.equal(wallClock(Date.UTC(2027, 6, 1, 8, 5), "Europe/Lisbon"), "09:05"); // WEST, UTC+1
  assert.equal(wallClock(Date.UTC(2027, 0, 1, 0, 0), "Asia/Kolkata"), "05:30");
});

test("only real IANA zones are shown", () => {
  assert.equal(knownZone("Europe/Lisbon"), true);
  for (const bad of ["", "Mars/Olympus", null, 3, "<script>"]) assert.equal(knownZone(bad), false);
});

test("the strip is the viewer first, then each city with its local time and day marker", () => {
  const clocks = [
    { name: "Air quality", city: "Seoul", time_zone: "Asia/Seoul" },
    { name: "Lisbon City Hall", city: "Lisbon", time_zone: "Europe/Lisbon" },
    { name: "Remote team", city: "", time_zone: "America/Bogota" },
    { name: "Broken", city: "Nowhere", time_zone: "Not/AZone" },
  ];
  const entries = stripEntries(clocks, LATE_IN_SAO_PAULO, "America/Sao_Paulo");
  assert.deepEqual(entries.map((e) => [e.label, e.datetime, e.marker, e.self]), [
    ["You", "23:30", "", true],
    ["Seoul", "11:30", "+1", false],
    ["Lisbon", "02:30", "+1", false],
    ["Remote team", "21:30", "", false], // no city: the delegation's name
  ]);
  // shown in the UI language (English here, before any page): hour and minute
  assert.match(entries[1].time, /11:30/);
  assert.deepEqual(stripEntries(undefined, LATE_IN_SAO_PAULO, "UTC").map((e) => e.label), ["You"]);
});
