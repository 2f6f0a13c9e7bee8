// Joining again on a fresh Socket.IO connection when the meeting cannot go on on this one (the
// media connection failed: aiortc has no ICE restart; the server stopped answering), with
// exponential back-off so that a persistent fault does not turn into a reconnect storm.

export const MEDIA_FAILED_GRACE_MS = 4000; // a failed media connection may still come back
const RECOVER_MAX_DELAY_MS = 30000;
const RECOVER_RESET_MS = 60000; // this long after the last attempt, start again at 1 s

export class Recovery {
  /**
   * ended(): the meeting was left or failed; notify(message): tell the user; rejoin(): disconnect
   * and connect again (the meeting joins again on `connect`).
   */
  constructor({ ended, notify, rejoin }) {
    this.ended = ended;
    this.notify = notify;
    this.rejoin = rejoin;
    this.timer = 0;
    this.attempts = 0;
    this.lastAt = 0;
  }

  /** Join again after 1 s, 2 s, 4 s... (at most RECOVER_MAX_DELAY_MS); one attempt at a time. */
  start(message) {
    if (this.ended() || this.timer) return;
    const now = Date.now();
    if (now - this.lastAt > RECOVER_RESET_MS) this.attempts = 0;
    const delay = Math.min(RECOVER_MAX_DELAY_MS, 1000 * 2 ** this.attempts);
    this.attempts += 1;
    this.lastAt = now;
    this.notify(message);
    this.timer = setTimeout(() => {
      this.timer = 0;
      if (this.ended()) return;
      this.rejoin();
    }, delay);
  }

  stop() {
    clearTimeout(this.timer);
  }
}
