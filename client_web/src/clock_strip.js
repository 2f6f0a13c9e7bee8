// The city clock strip under the meeting header (issue "records"): the viewer's own local time
// first ("You · 09:30"), then each city of the meeting (the join answer's `clocks`: the room's city
// and each delegation's) with its local time, and "+1" / "−1" when that city is already on the
// next day or still on the previous one. Hidden when the meeting has no clocks. A delegate's tile
// shows the local time of their city with the same functions (tile.js).
import { h } from "./dom.js";
import { t, formatTime, timeZone as viewerTimeZone } from "./i18n.js";

const ymdFormats = new Map(); // time zone -> Intl.DateTimeFormat giving its calendar date

function ymd(date, zone) {
  let format = ymdFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
    ymdFormats.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
  return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day));
}

/** Whether `zone` is an IANA time zone this browser knows. */
export function knownZone(zone) {
  if (typeof zone !== "string" || !zone) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * How many calendar days `zone` is ahead of `viewerZone` at `now` (a Date or ms): 1 when it is
 * already tomorrow there, -1 when it is still yesterday, 0 on the same date.
 */
export function dayOffset(now, zone, viewerZone) {
  const date = now instanceof Date ? now : new Date(now);
  return Math.round((ymd(date, zone) - ymd(date, viewerZone)) / 86_400_000);
}

/** "+1", "−1" (a minus sign, U+2212), or "" for the same day. */
export function dayMarker(offset) {
  if (!offset) return "";
  return offset > 0 ? `+${offset}` : `\u2212${-offset}`;
}

/** "09:30": the wall-clock time in `zone`, 24-hour, for machines (a <time>'s datetime, tests). */
export function wallClock(now, zone) {
  const date = now instanceof Date ? now : new Date(now);
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.hour}:${parts.minute}`;
}

/** The time in `zone` as people read it in the UI language (hour and minute: "3:15 PM", "15:15", "오후 3:15"). */
export function localTime(now, zone) {
  return formatTime(now instanceof Date ? now : new Date(now), { hour: "numeric", minute: "2-digit", timeZone: zone });
}

/**
 * What the strip shows at `now`: the viewer first, then each clock with a known zone, as
 * {key, label, title, zone, time, datetime, marker, self}. `clocks`: [{name, city, time_zone}].
 */
export function stripEntries(clocks, now, viewerZone = viewerTimeZone()) {
  const you = t("clocks.you");
  const entries = [{
    key: "self", label: you, title: t("clocks.yourTime", { zone: viewerZone }), zone: viewerZone,
    time: localTime(now, viewerZone), datetime: wallClock(now, viewerZone), marker: "", self: true,
  }];
  for (const clock of Array.isArray(clocks) ? clocks : []) {
    if (!clock || !knownZone(clock.time_zone)) continue;
    const label = clock.city || clock.name || clock.time_zone;
    const marker = dayMarker(dayOffset(now, clock.time_zone, viewerZone));
    const title = clock.name && clock.name !== label ? `${label}: ${clock.name} (${clock.time_zone})` : `${label} (${clock.time_zone})`;
    entries.push({
      key: `${clock.time_zone}|${label}`, label, title, zone: clock.time_zone, time: localTime(now, clock.time_zone),
      datetime: wallClock(now, clock.time_zone), marker, self: false,
    });
  }
  return entries;
}

/** The words a screen reader says for one entry: "Lisbon, 09:30, next day". */
function spoken(entry) {
  const parts = [entry.label, entry.time];
  if (entry.marker) parts.push(t(entry.marker.startsWith("+") ? "clocks.nextDay" : "clocks.previousDay"));
  return parts.join(", ");
}

/**
 * The strip's element and its methods: setClocks(clocks) after each join answer, tick() to redraw
 * the times (the meeting calls it when the minute changes). Hidden while there are no clocks.
 */
export function createClockStrip() {
  const el = h("div", {
    class: "clock-strip",
    hidden: true,
    dataset: { testid: "clock-strip" },
    attrs: { role: "list", "aria-label": t("clocks.label") },
  });
  let clocks = [];

  function render() {
    const usable = clocks.filter((c) => c && knownZone(c.time_zone));
    el.hidden = usable.length === 0;
    if (el.hidden) {
      el.replaceChildren();
      return;
    }
    const items = stripEntries(usable, new Date()).map((entry) => h(
      "span",
      {
        class: entry.self ? "clock-item clock-self" : "clock-item",
        title: entry.title,
        dataset: { testid: "clock-item", timeZone: entry.zone, dayOffset: entry.marker },
        attrs: { role: "listitem", "aria-label": spoken(entry) },
      },
      h("span", { class: "clock-city", text: entry.label, attrs: { translate: entry.self ? "yes" : "no", "aria-hidden": "true" } }),
      h("time", { class: "clock-time", text: entry.time, attrs: { datetime: entry.datetime, "aria-hidden": "true" } }),
      entry.marker ? h("span", { class: "clock-day", text: entry.marker, attrs: { "aria-hidden": "true" } }) : null,
    ));
    el.replaceChildren(...items);
  }

  return {
    el,
    setClocks(next) {
      clocks = Array.isArray(next) ? next : [];
      render();
    },
    tick: render,
  };
}
