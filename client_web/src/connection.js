// The Socket.IO connection to the server, with request/acknowledgement as promises
// (docs/protocol.md, "Conventions"), and what its error codes say to the user.
import { io } from "socket.io-client";

export class RequestError extends Error {
  /** code: the server's error code, or "timeout" / "disconnected" from this side. */
  constructor(code, message, event) {
    super(message || code);
    this.name = "RequestError";
    this.code = code;
    this.event = event;
  }
}

const ERROR_TEXT = {
  bad_request: "The server did not accept that request.",
  invalid_token: "This invite link is not valid any more.",
  room_not_found: "This meeting no longer exists.",
  not_joined: "You are not in the meeting yet.",
  forbidden: "Your role in this meeting does not allow that.",
  bad_sdp: "Your camera or microphone could not be connected.",
  rate_limited: "Too many actions at once; please wait a moment.",
  internal: "The server had a problem; please try again.",
  timeout: "The server did not answer in time.",
};

/** A request's error code in words for the user (fallback: the server's own message). */
export function errorText(code, fallback) {
  return ERROR_TEXT[code] || fallback || "Something went wrong.";
}

export class Connection {
  constructor({ url = undefined, requestTimeoutMs = 15000 } = {}) {
    this.requestTimeoutMs = requestTimeoutMs;
    this.socket = io(url, {
      path: "/socket.io/",
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
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
      return Promise.reject(new RequestError("disconnected", "Not connected to the server.", event));
    }
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit(event, payload, (err, ack) => {
        if (err) {
          reject(new RequestError("timeout", `No answer to ${event} from the server.`, event));
        } else if (!ack || typeof ack !== "object") {
          reject(new RequestError("bad_response", `Malformed answer to ${event}.`, event));
        } else if (ack.ok) {
          resolve(ack);
        } else {
          const error = ack.error || {};
          reject(new RequestError(error.code || "internal", error.message, event));
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
