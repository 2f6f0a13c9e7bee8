"""Meetings over long, lossy links (issue "links": Seoul-Bogota, 150-300 ms round trips, a few %
loss). The server and a Chromium run inside a network lab (tests/netlab.py) whose loopback delays
every UDP packet 75 +- 15 ms and loses 2 % of them, per leg: browser -> SFU and SFU -> browser each
suffer it, so media crosses 150 ms and ~4 % loss end to end. Signalling (TCP) is not impaired.

Ten times over: a new room, a host and a guest in fresh browser contexts; both must decode the
other's video (getStats framesDecoded advancing) within a generous timeout. Join times are
printed, not asserted (bench/links.py measures them)."""

from __future__ import annotations

import time

import pytest

from conftest import CHROMIUM, create_room, join_timed, launch_chromium, serving, unavailable  # noqa: I001
from tests.netlab import Impairment, impaired_loopback, lab_unavailable

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

LEG = Impairment(delay_ms=75, jitter_ms=15, loss=0.02, seed=20260)
JOINS = 10
MEDIA_TIMEOUT_S = 30  # per join, for both pages' first frames (a clean join takes 1-2 s)

# Bounded wait in the page until the subscribe connection's video has decoded `frames` frames
# more than when it started looking (after at least one: the first remote frame).
_DECODING_JS = """
async ([frames, timeoutMs]) => {
  const deadline = performance.now() + timeoutMs;
  const decoded = async () => {
    const pc = window.sitroom.pcs.subscribe;
    let n = 0;
    if (pc) (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") n += s.framesDecoded || 0;
    });
    return n;
  };
  let first = 0, now = 0;
  while (performance.now() < deadline) {
    now = await decoded();
    if (!first && now > 0) first = now;
    if (first && now - first >= frames) return {ok: true, first, now};
    await new Promise((r) => setTimeout(r, 100));
  }
  return {ok: false, first, now};
}
"""


def video_decoding(page, frames: int = 10, timeout_s: float = MEDIA_TIMEOUT_S) -> dict:
    return page.evaluate(_DECODING_JS, [frames, int(timeout_s * 1000)])


@pytest.fixture
def lab(browser):  # the session's browser first: it must not start inside the lab
    reason = lab_unavailable()
    if reason:
        unavailable(reason)
    with impaired_loopback(impairment=LEG) as lab:
        yield lab


def test_ten_meetings_over_a_lossy_intercontinental_link_all_get_video(browser, lab, tmp_path):
    with serving(tmp_path) as base_url:
        # The session's Playwright driver is outside the lab; this Chromium starts inside it.
        in_lab = launch_chromium(browser.browser_type, executable=lab.wrapper(CHROMIUM, tmp_path))
        try:
            for attempt in range(JOINS):
                links = create_room(base_url, f"Seoul-Bogota {attempt + 1}")["links"]
                contexts = [in_lab.new_context(bypass_csp=True, viewport={"width": 960, "height": 540},
                                               permissions=["camera", "microphone"]) for _ in range(2)]
                try:
                    host, guest = (context.new_page() for context in contexts)
                    for page in (host, guest):
                        page.set_default_timeout(30_000)
                    join_timed(host, links["host"], "Mayor of Seoul", timeout_ms=30_000)
                    _, clicked = join_timed(guest, links["participant"], "Mayor of Bogota", timeout_ms=30_000)
                    seen = {name: video_decoding(page) for name, page in (("guest", guest), ("host", host))}
                    print(f"join {attempt + 1}: both decoding {time.monotonic() - clicked:.1f} s after the "
                          f"guest's click; {seen}")
                    assert seen["guest"]["ok"], f"join {attempt + 1}: the guest never decoded the host's video: {seen}"
                    assert seen["host"]["ok"], f"join {attempt + 1}: the host never decoded the guest's video: {seen}"
                finally:
                    for context in contexts:
                        context.close()
        finally:
            in_lab.close()
    stats = lab.stats()
    print(f"lab: {stats}")
    assert stats["dropped_loss"] > 0 and stats["delayed"] > 0, "the link was really impaired"
    assert stats["kernel_queue_dropped"] == stats["kernel_user_dropped"] == 0
