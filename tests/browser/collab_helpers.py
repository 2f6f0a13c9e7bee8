"""Helpers for the collaboration browser tests: phone contexts, an asyncio loop in a thread for
Socket.IO-only and aiortc participants, tokens from invite links."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[2]
# Pictures the tests take: docs/screenshots/ when SITROOM_SCREENSHOTS names it (see README), else a
# scratch folder, so that running the suite does not rewrite the committed screenshots.
SCREENSHOTS = Path(os.environ.get("SITROOM_SCREENSHOTS") or Path(tempfile.gettempdir()) / "sitroom-screenshots")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def token_of(link: str) -> str:
    return parse_qs(urlparse(link).query)["t"][0]


class LoopThread:
    """An asyncio loop in a background thread, for async test clients used from sync tests."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


FRAMES_IN_JS = """
async ([selector, frames, timeoutMs]) => {
  const deadline = performance.now() + timeoutMs;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let video = null;
  while (performance.now() < deadline) {
    video = document.querySelector(selector);
    if (video && video.srcObject) break;
    video = null;
    await sleep(100);
  }
  if (!video) return {ok: false, why: "no video with a stream", frames: 0};
  let seen = 0, last = -1;
  while (seen < frames && performance.now() < deadline) {
    const meta = await Promise.race([
      new Promise((r) => video.requestVideoFrameCallback((now, m) => r(m))),
      sleep(1000).then(() => null),
    ]);
    if (meta && meta.presentedFrames !== last) { last = meta.presentedFrames; seen++; }
  }
  return {ok: seen >= frames, frames: seen, width: video.videoWidth, height: video.videoHeight};
}
"""


def frames_in(page, selector: str, frames: int = 5, timeout_s: float = 15) -> dict:
    """Wait (bounded) until the <video> at selector presents `frames` new frames."""
    return page.evaluate(FRAMES_IN_JS, [selector, frames, int(timeout_s * 1000)])
