// The Socket.IO connection to the server, with request/acknowledgement as promises
// (docs/protocol.md, "Conventions"), and what its error codes say to the user.
import { io } from "socket.io-client";
import { t } from "./i18n.js";

export class RequestError extends Error {
  /** code: the server's error code, or "timeout" / "disconnected" from this side. */
  constructor(code, message, event, details = {}) {
    super(message || code);
    this.name = "RequestError";
    this.code = code;
    this.event = event;
    this.details = details; // the error object's other fields (the `url` of room_elsewhere)
  }
}

// The codes said in our own words (errors.codes.<code> in the catalogues).
const KNOWN_CODES = new Set(["bad_request", "invalid_token", "room_not_found", "not_joined", "forbidden", "bad_sdp",
  "rate_limited", "internal", "timeout"]);

/** A request's error code in words for the user (fallback: the server's own message). */
export function errorText(code, fallback) {
  if (KNOWN_CODES.has(code)) return t(`errors.codes.${code}`);
  return fallback || t("errors.unknown");
}

export class Connection {
  constructor({ url = undefined, requestTimeoutMs = 15000, roomId = undefined } = {}) {
    this.requestTimeoutMs = requestTimeoutMs;
    this.socket = io(url, {
      path: "/socket.io/",
      // For a reverse proxy in front of several nodes: it sends a room's connections to one node
      // by this parameter, as it does the room's pages by their /r/<room> path (docs/deploy.md).
      ...(roomId ? { query: { room: roomId } } : {}),
      // WebSocket first, long-polling only where a WebSocket cannot be opened (tryAllTransports):
      // on a lossy link, requests sent as long-polling POSTs before the upgrade were the ones that
      // got lost (see server/app.py WholeBody).
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
  }

  /** Reconnect briskly (the server said it is restarting: it will be back in seconds), or as usual. */
  brisk(on) {
    this.socket.io.reconnectionDelay(on ? 250 : 500);
    this.socket.io.reconnectionDelayMax(on ? 1000 : 5000);
  }

  get connected() {
    return this.socket.connected;
  }

  open() {
    this.socket.connect();
  }

  on(event, handler) {
    this.socket.on(event, handler);
    return () => this.socket.off(event, handler);
  }

  /** Listen on the Manager (reconnect_attempt, reconnect_failed, ...). */
  onManager(event, handler) {
    this.socket.io.on(event, handler);
    return () => this.socket.io.off(event, handler);
  }

  /**
   * Send a request and resolve with its ack (`{ok: true, ...}`); reject with a RequestError carrying
   * the server's error code when the ack is `{ok: false}`, or "timeout" when no ack came.
   */
  request(event, payload = {}, { timeoutMs = this.requestTimeoutMs } = {}) {
    // Never buffer a request while disconnected: it would be replayed on a new session that has
    // not joined. The caller joins again after reconnecting instead.
    if (!this.socket.connected) {
      return Promise.reject(new RequestError("disconnected", t("errors.notConnected"), event));
    }
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit(event, payload, (err, ack) => {
        if (err) {
          reject(new RequestError("timeout", t("errors.noAnswer", { event }), event));
        } else if (!ack || typeof ack !== "object") {
          reject(new RequestError("bad_response", t("errors.malformed", { event }), event));
        } else if (ack.ok) {
          resolve(ack);
        } else {
          const error = ack.error || {};
          reject(new RequestError(error.code || "internal", error.message, event, error));
        }
      });
    });
  }

  close() {
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners?.();
    this.socket.disconnect();
  }
}
