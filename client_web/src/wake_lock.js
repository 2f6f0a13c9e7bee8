// The screen wake lock (where the browser has one): the screen stays on during the meeting.

export class ScreenWakeLock {
  constructor() {
    this.sentinel = null;
  }

  async request() {
    try {
      this.sentinel = await navigator.wakeLock?.request("screen");
    } catch {
      this.sentinel = null;
    }
  }

  release() {
    this.sentinel?.release?.().catch(() => {});
  }
}
