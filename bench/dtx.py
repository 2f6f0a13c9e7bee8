"""Opus DTX: the audio packets a meeting of 10 sends when one talks and nine are silent, with DTX
(the default: the SFU's publish answer carries ``usedtx=1``) and without (``--no-opus-dtx``).

The real server (``sitroom serve --test-mode``, a subprocess on 127.0.0.1) and 10 Chromium pages,
cameras off: one talker from a Chromium whose fake microphone plays Chromium's own beeping tone
(sound all the time as Opus sees it), nine from a Chromium whose fake microphone is a file of
silence. Over a window, the audio packets each page sent (``outbound-rtp`` ``packetsSent``) and
the packets the SFU received and forwarded (``/api/metrics``). The pages have no camera (their
getUserMedia finds none), so every packet is audio.
The baseline is the same meeting on a server with ``--no-opus-dtx``, in the same run.

Prints a table, the ratio, and last one line:

    dtx: quiet_pps_dtx=<> quiet_pps_plain=<> talker_pps=<> sfu_out_pps_dtx=<> sfu_out_pps_plain=<> saved_pct=<>

Usage: flock /tmp/sitroom-browser.lock .venv/bin/python bench/dtx.py [--window 20] [--participants 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "browser"))

from chromium import launch_chromium, silence_wav  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402

_SENT_JS = """
async () => {
  const pc = window.sitroom.pcs.publish;
  let sent = 0;
  if (pc) (await pc.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "audio") sent += s.packetsSent || 0;
  });
  return sent;
}
"""


# Audio only (the measure is the microphones, and ten pages encoding and decoding cameras would
# starve two cores): the page finds no camera.
_NO_CAMERA_JS = """
(() => {
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return;
  const getUserMedia = media.getUserMedia.bind(media);
  media.getUserMedia = (constraints) => {
    if (constraints && constraints.video) {
      if (!constraints.audio) return Promise.reject(new DOMException("no camera here", "NotFoundError"));
      constraints = {...constraints, video: false};
    }
    return getUserMedia(constraints);
  };
})()
"""


def join(browser, link: str, name: str):
    context = browser.new_context(bypass_csp=True, permissions=["camera", "microphone"], viewport={"width": 640, "height": 480})
    context.set_default_timeout(30_000)
    context.add_init_script(_NO_CAMERA_JS)
    page = context.new_page()
    page.goto(link)
    page.fill("#prejoin-name", name)
    page.wait_for_selector("#join-button:enabled")
    page.click("#join-button")
    page.wait_for_selector('.tile[data-self="true"]')
    return page


def one_meeting(pw, tmp: Path, dtx: bool, size: int, window: float) -> dict:
    server = start_server(tmp / ("dtx" if dtx else "plain"), "--log-level", "warning",
                          "--media-workers", "1", *([] if dtx else ["--no-opus-dtx"]))
    talker_browser = launch_chromium(pw.chromium)
    quiet_browser = launch_chromium(pw.chromium,
                                    args=[f"--use-file-for-fake-audio-capture={silence_wav(tmp / 'silence.wav')}"])
    try:
        links = server.create_room("DTX bench")["links"]
        talker = join(talker_browser, links["host"], "Talker")
        quiet = [join(quiet_browser, links["participant"], f"Quiet {i + 1}") for i in range(size - 1)]
        time.sleep(5)  # everyone connected and settled
        pages = [talker, *quiet]
        s0 = [p.evaluate(_SENT_JS) for p in pages]
        m0, t0 = server.metrics()["sfu"], time.monotonic()
        time.sleep(window)
        s1 = [p.evaluate(_SENT_JS) for p in pages]
        m1, t1 = server.metrics()["sfu"], time.monotonic()
        elapsed = t1 - t0
        rates = [(b - a) / elapsed for a, b in zip(s0, s1)]
        return {
            "talker_pps": rates[0], "quiet_pps": sum(rates[1:]) / len(rates[1:]),
            "sent_pps": sum(rates),
            "sfu_in_pps": (m1["rtp_packets_in"] - m0["rtp_packets_in"]) / elapsed,
            "sfu_out_pps": (m1["rtp_packets_out"] - m0["rtp_packets_out"]) / elapsed,
        }
    finally:
        talker_browser.close()
        quiet_browser.close()
        stop_server(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--participants", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sitroom-dtx-") as tmp, sync_playwright() as pw:
        tmp = Path(tmp)
        plain = one_meeting(pw, tmp, False, args.participants, args.window)
        dtx = one_meeting(pw, tmp, True, args.participants, args.window)
    print(f"a meeting of {args.participants} (cameras off): one talker, {args.participants - 1} silent; "
          f"{args.window:.0f} s window; audio packets per second")
    print(f"{'':>14} {'talker':>8} {'a quiet one':>12} {'all sent':>9} {'SFU in':>8} {'SFU out':>8}")
    for label, r in (("without DTX", plain), ("with DTX", dtx)):
        print(f"{label:>14} {r['talker_pps']:>8.1f} {r['quiet_pps']:>12.1f} {r['sent_pps']:>9.1f} "
              f"{r['sfu_in_pps']:>8.1f} {r['sfu_out_pps']:>8.1f}")
    saved = 100 * (1 - dtx["sfu_out_pps"] / plain["sfu_out_pps"]) if plain["sfu_out_pps"] else float("nan")
    ratio = plain["quiet_pps"] / dtx["quiet_pps"] if dtx["quiet_pps"] else float("inf")
    print(f"a silent microphone: {ratio:.1f}x fewer packets with DTX; packets the SFU forwards: {saved:.0f}% fewer")
    print(f"dtx: quiet_pps_dtx={dtx['quiet_pps']:.1f} quiet_pps_plain={plain['quiet_pps']:.1f} "
          f"talker_pps={dtx['talker_pps']:.1f} sfu_out_pps_dtx={dtx['sfu_out_pps']:.0f} "
          f"sfu_out_pps_plain={plain['sfu_out_pps']:.0f} saved_pct={saved:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
