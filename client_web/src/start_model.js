// The start page's pure functions (unit-tested in test/start.test.mjs).

/** Planned durations offered, in minutes. */
export const DURATIONS = [30, 45, 60, 90, 120, 180];

// As rooms.models.INVITE_CODE_ALPHABET: no 0/O, 1/I/L.
const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LENGTH = 9;

/** "k7m 4pd-q2r" -> "K7M-4PD-Q2R"; null when it cannot be a room code. */
export function normalizeCode(text) {
  const raw = String(text || "").replace(/[\s\-.]/g, "").toUpperCase();
  if (raw.length !== CODE_LENGTH || [...raw].some((c) => !CODE_ALPHABET.includes(c))) return null;
  return `${raw.slice(0, 3)}-${raw.slice(3, 6)}-${raw.slice(6)}`;
}

/**
 * What the "Join a meeting" box was given: {kind: "link", url} for a meeting link (ours or another
 * Sitroom server's, http or https only), {kind: "code", code}, {kind: "empty"} or {kind: "invalid"}.
 * A link without its scheme ("sitroom.city.gov/r/x?t=...") is taken as https.
 */
export function parseJoinInput(text, origin) {
  const value = String(text || "").trim();
  if (!value) return { kind: "empty" };
  const code = normalizeCode(value);
  if (code) return { kind: "code", code };
  if (!value.includes("/r/")) return { kind: "invalid" };
  let url;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith("/") ? value : `https://${value}`, origin);
  } catch {
    return { kind: "invalid" };
  }
  if (!["http:", "https:"].includes(url.protocol) || !/^\/r\/[^/]+\/?$/.test(url.pathname) || !url.searchParams.get("t")) {
    return { kind: "invalid" };
  }
  return { kind: "link", url: url.href };
}

/**
 * A datetime-local input's value ("2027-01-15T09:00", the viewer's local time) as an ISO time with
 * the viewer's offset ("2027-01-15T09:00:00+09:00"); "" when empty or invalid.
 */
export function localInputToIso(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(String(value || ""));
  if (!m) return "";
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  if (Number.isNaN(d.getTime())) return "";
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/** The invitation a host pastes into an email: title, time, link, code, in the page's language. */
export function invitationText({ t, title, when, link, code, origin }) {
  return [
    t("start.invitation.intro", { title }),
    "",
    t("start.invitation.when", { when }),
    "",
    t("start.invitation.join"),
    link,
    "",
    t("start.invitation.code", { origin, code }),
  ].join("\n");
}

/** Where this browser keeps the organiser key (localStorage). */
export const ORGANISER_KEY_STORAGE = "sitroom.organiserKey";

/**
 * The organiser key in a start-page fragment ("#organiser=KEY", as `sitroom serve` prints it), and
 * the fragment without it: {key: "" when there is none, hash: what stays in the address bar}.
 */
export function organiserKeyFromHash(hash) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  const key = (params.get("organiser") || "").trim();
  params.delete("organiser");
  const rest = params.toString();
  return { key, hash: rest ? `#${rest}` : "" };
}

/** What was typed in the "Organiser key" field: the key itself or the whole organiser link. */
export function organiserKeyFromInput(text) {
  const value = String(text || "").trim();
  const at = value.indexOf("#");
  if (at >= 0 && /[#&]organiser=/.test(value.slice(at))) return organiserKeyFromHash(value.slice(at)).key;
  return value;
}
