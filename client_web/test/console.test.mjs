// The organiser console's pure functions (src/console_model.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  timeZoneList, defaultStart, meetingBody, errorField, plainMessage, delegationField, errorKind, formatInZone,
  filenameFromDisposition,
} from "../src/console_model.js";

test("the zone list is sorted, has no duplicates, and holds the browser's zone and UTC", () => {
  const zones = timeZoneList("Asia/Seoul", () => ["Europe/Lisbon", "America/Sao_Paulo", "Europe/Lisbon"]);
  assert.deepEqual(zones, ["America/Sao_Paulo", "Asia/Seoul", "Europe/Lisbon", "UTC"]);
  assert.deepEqual(timeZoneList("UTC", () => { throw new Error("no Intl.supportedValuesOf"); }), ["UTC"]);
  assert.ok(timeZoneList("Europe/Lisbon").includes("America/Sao_Paulo")); // this Node's own list
});

test("the form starts tomorrow at 10:00, across a month's and a year's end", () => {
  assert.deepEqual(defaultStart(new Date(2027, 0, 31, 23, 30)), { date: "2027-02-01", time: "10:00" });
  assert.deepEqual(defaultStart(new Date(2026, 11, 31, 8, 0)), { date: "2027-01-01", time: "10:00" });
});

test("the meeting body: trimmed texts, numbers as numbers, empty optional fields left out", () => {
  const body = meetingBody({
    title: "  Atlantic water summit ", agenda: "  ", date: "2027-03-10", time: "18:00", timeZone: "Europe/Lisbon",
    duration: "90", city: "",
    delegations: [
      { name: " Lisbon City Hall ", city: "Lisbon", timeZone: "Europe/Lisbon", role: "participant", seats: "6" },
      { name: "São Paulo", city: " ", timeZone: "America/Sao_Paulo", role: "viewer", seats: " 4 " },
    ],
  });
  assert.deepEqual(body, {
    title: "Atlantic water summit",
    start: { date: "2027-03-10", time: "18:00", time_zone: "Europe/Lisbon" },
    duration_minutes: 90,
    delegations: [
      { name: "Lisbon City Hall", city: "Lisbon", time_zone: "Europe/Lisbon", role: "participant", seats: 6 },
      { name: "São Paulo", time_zone: "America/Sao_Paulo", role: "viewer", seats: 4 },
    ],
  });
  const withAgenda = meetingBody({ title: "x", agenda: "1. Budget", city: "lisbon", duration: "60", delegations: [{ name: "a", seats: "2.5" }] });
  assert.equal(withAgenda.agenda, "1. Budget");
  assert.equal(withAgenda.city, "lisbon");
  assert.equal(withAgenda.delegations[0].seats, "2.5"); // not a whole number: sent for the server to name
  assert.equal(withAgenda.delegations[0].role, "participant");
  assert.equal(meetingBody({ title: "x", delegations: [{ name: "a", seats: "" }] }).delegations[0].seats, null);
});

test("a 400's field, from the API's messages", () => {
  assert.equal(errorField("'title' is required"), "title");
  assert.equal(errorField("'start.time_zone': unknown IANA time zone 'Mars/Base' (a name such as Europe/Lisbon)"), "start.time_zone");
  assert.equal(errorField("'delegations[1].seats' must be a whole number from 1 to 500"), "delegations[1].seats");
  assert.equal(errorField("'duration_minutes' must be a whole number from 5 to 1440"), "duration_minutes");
  assert.equal(errorField("2027-03-28 01:30 does not exist in Europe/Lisbon (the clocks skip it)"), "start.time");
  assert.equal(errorField("two delegations have the same name"), "delegations");
  assert.equal(errorField("something else"), null);
  assert.equal(errorField(undefined), null);
});

test("the message in plain words, without the field's name", () => {
  assert.equal(plainMessage("'delegations[0].seats' must be a whole number from 1 to 500"), "Must be a whole number from 1 to 500");
  assert.equal(plainMessage("'start.time_zone': unknown IANA time zone 'X'"), "Unknown IANA time zone 'X'");
  assert.equal(plainMessage("two delegations have the same name"), "Two delegations have the same name");
  assert.equal(plainMessage(""), "");
});

test("a delegation's field: its row and name", () => {
  assert.deepEqual(delegationField("delegations[2].seats"), { row: 2, name: "seats" });
  assert.deepEqual(delegationField("delegations[0]"), { row: 0, name: null });
  assert.equal(delegationField("title"), null);
  assert.equal(delegationField(null), null);
});

test("what a refusal asks for: the key again, patience, the form, or nothing", () => {
  assert.equal(errorKind({ code: "organiser_key_required", status: 401 }), "key");
  assert.equal(errorKind({ code: "organiser_key_invalid", status: 403 }), "key");
  assert.equal(errorKind({ code: "invalid_token", status: 401 }), "key");
  assert.equal(errorKind({ code: "rate_limited", status: 429 }), "rate");
  assert.equal(errorKind({ code: "network", status: 0 }), "network");
  assert.equal(errorKind({ code: "bad_request", status: 400 }), "field");
  assert.equal(errorKind({ code: "room_not_found", status: 404 }), "other");
  assert.equal(errorKind(undefined), "other");
});

test("a time in a named zone: the same instant, each zone's wall clock", () => {
  const iso = "2027-03-10T18:00:00Z";
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  assert.equal(formatInZone(iso, "Europe/Lisbon", "en", opts), "18:00");
  assert.equal(formatInZone(iso, "America/Sao_Paulo", "en", opts), "15:00");
  assert.equal(formatInZone(iso, "Asia/Seoul", "en", opts), "03:00");
  assert.equal(formatInZone("not a time", "UTC"), "");
  assert.equal(formatInZone(null, "UTC"), "");
  assert.equal(formatInZone(iso, "Not/AZone", "en", opts).length > 0, true); // an unknown zone: the viewer's
});

test("the download's name from Content-Disposition (the UTF-8 name first)", () => {
  assert.equal(filenameFromDisposition(`attachment; filename="sitroom-r1-3.ics"`, "x"), "sitroom-r1-3.ics");
  assert.equal(filenameFromDisposition(`attachment; filename="sao-paulo.zip"; filename*=UTF-8''s%C3%A3o-paulo.zip`), "são-paulo.zip");
  assert.equal(filenameFromDisposition("attachment; filename=plain.zip"), "plain.zip");
  assert.equal(filenameFromDisposition(null, "fallback.ics"), "fallback.ics");
  assert.equal(filenameFromDisposition(`attachment; filename*=UTF-8''%E0%A4`, "f"), "f");
});
