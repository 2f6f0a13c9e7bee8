// HTTP calls to the Sitroom server (docs/protocol.md, "HTTP API").
import { t } from "./i18n.js";
import { filenameFromDisposition } from "./console_model.js";

export class ApiError extends Error {
  /** code: the server's error code, or "network" when the server could not be reached. */
  constructor(code, message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

async function call(method, path, { body, token, timeoutMs = 15000 } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError("network", t("errors.unreachable"), 0);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      error.code || `http_${response.status}`,
      error.message || t("errors.serverAnswered", { status: response.status }),
      response.status,
    );
  }
  return data;
}

/**
 * POST /api/rooms {title, city?, starts_at?, duration_minutes?} with the organiser key ->
 * {room: Room, links: {host, participant}, code}. Without the key: ApiError "organiser_key_required"
 * (401); a wrong one: "organiser_key_invalid" (403).
 */
export function createRoom(body, organiserKey) {
  return call("POST", "/api/rooms", { body, token: organiserKey });
}

/** GET /api/codes/{code} -> {room: Room, link} (the participant link behind a room code) */
export function resolveCode(code) {
  return call("GET", `/api/codes/${encodeURIComponent(code)}`);
}

/** GET /api/cities -> {cities: [{id, name, time_zone}]} (the built-in cities of simulated panels) */
export function listCities() {
  return call("GET", "/api/cities");
}

/** GET /api/rooms/{id} with the invite token -> {room: {id, title}, role} */
export function getRoom(roomId, token) {
  return call("GET", `/api/rooms/${encodeURIComponent(roomId)}`, { token });
}

/**
 * POST /api/meetings {title, agenda?, city?, start: {date, time, time_zone}, duration_minutes,
 * delegations?: [{name, city?, time_zone, role?, seats}]} with the organiser key -> Meeting
 * ({room, links, delegations}).
 */
export function scheduleMeeting(body, organiserKey) {
  return call("POST", "/api/meetings", { body, token: organiserKey });
}

/** GET /api/meetings with the organiser key -> {upcoming: [Room], past: [Room], unscheduled: [Room]} */
export function listMeetings(organiserKey) {
  return call("GET", "/api/meetings", { token: organiserKey });
}

/** GET /api/meetings/{room_id} with the organiser key -> Meeting ({room, links, delegations}) */
export function getMeeting(roomId, organiserKey) {
  return call("GET", `/api/meetings/${encodeURIComponent(roomId)}`, { token: organiserKey });
}

/** PATCH /api/meetings/{room_id}/retention {record_retention_days: days | null} with the organiser key -> {room} */
export function setRetention(roomId, days, organiserKey) {
  return call("PATCH", `/api/meetings/${encodeURIComponent(roomId)}/retention`, { body: { record_retention_days: days }, token: organiserKey });
}

/** POST /api/meetings/{room_id}/open with the organiser key -> {room, opened_at} */
export function openMeeting(roomId, organiserKey) {
  return call("POST", `/api/meetings/${encodeURIComponent(roomId)}/open`, { token: organiserKey });
}

/**
 * GET a file that needs a bearer header (a delegation's .ics, a meeting record's ZIP) -> {blob,
 * filename} (the name from Content-Disposition, else `fallback`); a refusal is an ApiError as call's.
 */
export async function fetchFile(path, token, fallback, { timeoutMs = 60000 } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    let response;
    try {
      response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, signal: controller.signal, credentials: "same-origin" });
    } catch {
      throw new ApiError("network", t("errors.unreachable"), 0);
    }
    if (!response.ok) {
      let error = {};
      try {
        error = (await response.json()).error || {};
      } catch {
        error = {};
      }
      throw new ApiError(error.code || `http_${response.status}`,
        error.message || t("errors.serverAnswered", { status: response.status }), response.status);
    }
    const blob = await response.blob();
    return { blob, filename: filenameFromDisposition(response.headers.get("Content-Disposition"), fallback) };
  } finally {
    clearTimeout(timer);
  }
}
