// The organiser console's pure functions (unit-tested in test/console.test.mjs).

/** The roles a delegation may have (the API also takes host: a delegation of hosts is not offered). */
export const DELEGATION_ROLES = ["participant", "staff", "viewer"];

/** The IANA time zones this browser knows, sorted, with `current` (and UTC) in it. */
export function timeZoneList(current = "UTC", supported = () => Intl.supportedValuesOf("timeZone")) {
  let zones = [];
  try {
    zones = supported();
  } catch {
    zones = [];
  }
  return [...new Set([...zones, current, "UTC"].filter(Boolean))].sort();
}

/** The date and time inputs' first values: tomorrow at 10:00 by `now`'s local clock. */
export function defaultStart(now = new Date()) {
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  const pad = (n) => String(n).padStart(2, "0");
  return { date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, time: "10:00" };
}

/**
 * The POST /api/meetings body from the form's values (strings as typed): texts trimmed, empty
 * optional fields left out, numbers as numbers (a number field left empty or not a whole number is
 * sent as it is, for the server to name).
 */
export function meetingBody({ title, agenda, date, time, timeZone, duration, city, retention = "", delegations = [] }) {
  const number = (v) => (/^\s*\d+\s*$/.test(String(v ?? "")) ? Number(v) : String(v ?? "").trim() || null);
  const body = {
    title: String(title || "").trim(),
    start: { date: String(date || ""), time: String(time || ""), time_zone: String(timeZone || "") },
    duration_minutes: number(duration),
    delegations: delegations.map((d) => {
      const item = { name: String(d.name || "").trim(), time_zone: String(d.timeZone || ""), role: d.role || "participant", seats: number(d.seats) };
      const cityName = String(d.city || "").trim();
      if (cityName) item.city = cityName;
      return item;
    }),
  };
  const agendaText = String(agenda || "").trim();
  if (agendaText) body.agenda = agendaText;
  if (city) body.city = city;
  const days = retentionDays(retention);
  if (days !== null) body.record_retention_days = days;
  return body;
}

/** The retention choices of the console (days; null: kept for ever). */
export const RETENTION_CHOICES = [null, 30, 90, 365, 1825];

/** A retention select's value ("" for ever, else whole days) as the API's: null or a number. */
export function retentionDays(value) {
  const text = String(value ?? "").trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

/** How a retention reads: {key, count} for t() ("forever", "years" or "days"). */
export function retentionLabel(days) {
  if (days === null || days === undefined) return { key: "console.retention.forever", count: 0 };
  if (days % 365 === 0) return { key: "console.retention.years", count: days / 365 };
  return { key: "console.retention.days", count: days };
}

/**
 * Which form field a 400's message is about: the API names it in quotes first ("'delegations[1].seats'
 * must be ...", "'start.time_zone': unknown ..."); a time the clocks skip is "start.time". null when
 * it names none.
 */
export function errorField(message) {
  const text = String(message || "");
  const quoted = /^'([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?)'/.exec(text);
  if (quoted) return quoted[1];
  if (/does not exist in .* \(the clocks skip it\)/.test(text)) return "start.time";
  if (/delegations/.test(text)) return "delegations";
  return null;
}

/** The message without the field's name in quotes, first letter capitalised: "'title' is required" -> "Is required". */
export function plainMessage(message) {
  const text = String(message || "").replace(/^'[^']*'\s*:?\s*/, "").trim();
  return text ? text[0].toUpperCase() + text.slice(1) : "";
}

/** {row, name} of a delegation field ("delegations[2].seats" -> {row: 2, name: "seats"}), else null. */
export function delegationField(field) {
  const m = /^delegations\[(\d+)\](?:\.([a-z_]+))?$/.exec(String(field || ""));
  return m ? { row: Number(m[1]), name: m[2] || null } : null;
}

/**
 * What an API refusal asks the organiser to do: "key" (401/403 about the key: ask for it again),
 * "rate" (429: try later), "network", "field" (400: fix the form) or "other".
 */
export function errorKind(err) {
  const code = err?.code || "";
  if (code === "organiser_key_required" || code === "organiser_key_invalid" || err?.status === 401) return "key";
  if (code === "rate_limited" || err?.status === 429) return "rate";
  if (code === "network") return "network";
  if (err?.status === 400) return "field";
  return "other";
}

/** "Wed 10 Mar 2027, 18:00" in `zone` (an IANA name; the viewer's when undefined), "" for a bad time. */
export function formatInZone(iso, zone, lang = "en", options = { dateStyle: "medium", timeStyle: "short" }) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "";
  try {
    return new Intl.DateTimeFormat(lang, { ...options, timeZone: zone || undefined }).format(d);
  } catch {
    return new Intl.DateTimeFormat(lang, options).format(d);
  }
}

/** The file name in a Content-Disposition header (RFC 6266: filename* before filename), else fallback. */
export function filenameFromDisposition(header, fallback = "download") {
  const value = String(header || "");
  const star = /filename\*\s*=\s*UTF-8''([^;\s]+)/i.exec(value);
  if (star) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      /* a bad escape: try the plain name */
    }
  }
  const plain = /filename\s*=\s*"([^"]*)"/i.exec(value) || /filename\s*=\s*([^;\s]+)/i.exec(value);
  return plain && plain[1] ? plain[1] : fallback;
}
