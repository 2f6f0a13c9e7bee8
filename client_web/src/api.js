// HTTP calls to the Sitroom server (docs/protocol.md, "HTTP API").
import { t } from "./i18n.js";

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
