// A join that gets no media. Some seconds after joining, the publish connection (and the subscribe
// connection, once the server offered one) should be connected; one that is not (stuck in "new" or
// "connecting", e.g. a signalling message lost on a bad link) makes the client join again once, as
// the same participant; if that does not help either, the user is told, with "Try again".
export const MEDIA_JOIN_TIMEOUT_MS = 10_000;
const RETRIES = 1;

export class MediaWatch {
  /**
   * pcs(): {publish, subscribe} RTCPeerConnections (or null); current(session): the session is
   * still the meeting's and joined; retry(): join again; giveUp(): tell the user.
   */
  constructor({ pcs, current, retry, giveUp }) {
    this.pcs = pcs;
    this.current = current;
    this.retry = retry;
    this.giveUp = giveUp;
    this.attempts = 0;
    this.timer = 0;
  }

  /** Check on this session's media after MEDIA_JOIN_TIMEOUT_MS. */
  arm(session) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(session), MEDIA_JOIN_TIMEOUT_MS);
  }

  check(session) {
    if (!this.current(session)) return;
    const { publish, subscribe } = this.pcs();
    const stuck = [publish, subscribe].some((pc) => pc && pc.connectionState !== "connected");
    if (!stuck) {
      this.attempts = 0;
      return;
    }
    if (this.attempts < RETRIES) {
      this.attempts += 1;
      this.retry();
    } else {
      this.giveUp();
    }
  }

  /** The user asked to try again: the retries start over. */
  reset() {
    this.attempts = 0;
  }

  stop() {
    clearTimeout(this.timer);
  }
}
