"""Meetings over bad links (issue "links": Seoul-Bogota, 150-300 ms round trips, a few % loss,
1 Mbit hotel Wi-Fi): what two Chromium pages in a Sitroom meeting get, against a direct
browser-to-browser call on the same network, measured in the same run.

Everything runs inside a network lab (tests/netlab.py: a private network namespace, loopback only,
a userspace impairer on NFQUEUE): the real server (``python -m server.cli serve --test-mode``), one
headless Chromium (tests/browser/chromium.py's flags) and a tiny page for the direct call, served
by this script, whose signalling this script carries (offer and answer through Playwright,
non-trickle). A condition is what one **leg** suffers: a packet from a browser to the SFU crosses
it once and the SFU's copy to the other browser once more; the direct call gets
``two_legs(condition)`` for its single leg (twice the delay, jitter of two legs, 1 - (1 - p)^2
loss, the same rate), so both paths face the same end-to-end delay and loss. The rate is one
bottleneck shared by everything in the lab: the SFU's four legs (up and down for both
participants) cross it, the direct call's two; as in the issue's control, the direct call is not
given a narrower one (it then ran at ~340 kbit/s each way). Only UDP is impaired: page loads
and Socket.IO signalling are not.

Per condition: ``--joins`` joins (a new room and two fresh browser contexts each; join time =
from the second participant's Join click, or the direct call's offer, until both pages decoded a
frame of the other; a join whose pages have not both decoded within ``--join-timeout`` "never got
media"), then on the last join, after ``--settle`` seconds, ``--seconds`` of getStats per
direction: fps (framesDecoded), freezes and time frozen (inbound-rtp freezeCount,
totalFreezesDuration), audio concealed % (concealedSamples / totalSamplesReceived), received
bitrate, loss seen by the receiver (packetsLost), resolution. The same for the direct call.

Prints the tables (markdown) and last one line (worst direction for fps, time frozen and audio):

    links: joins_ok=<ok>/<joins> fps_150ms_5pct=<> frozen_s_150ms_5pct=<> p2p_frozen_s_150ms_5pct=<> audio_concealed_pct=<at 150 ms/5 %> fps_1mbit_min=<>

Usage: .venv/bin/python bench/links.py [--seconds 30] [--conditions clean,75ms_2pct,150ms_5pct,1mbit] [--joins 3]
Root only (a network namespace and iptables rules); wrap it in ``flock /tmp/sitroom-browser.lock``
when browser tests may run at the same time.
"""

from __future__ import annotations

import argparse
import http.server
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sfu  # noqa: E402
from sfu import cpu_seconds, fmt, machine_busy  # noqa: E402
from tests.browser.chromium import launch_chromium  # noqa: E402
from tests.browser.conftest import join_timed  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402
from tests.netlab import Impairment, impaired_loopback, lab_unavailable, two_legs  # noqa: E402

CONDITIONS = {  # per leg
    "clean": Impairment(),
    "75ms_2pct": Impairment(delay_ms=75, jitter_ms=15, loss=0.02),
    "150ms_5pct": Impairment(delay_ms=150, loss=0.05),
    "1mbit": Impairment(delay_ms=75, loss=0.02, rate_kbit=1000),
}
LABELS = {
    "clean": "clean",
    "75ms_2pct": "75 +- 15 ms, 2 % loss",
    "150ms_5pct": "150 ms, 5 % loss",
    "1mbit": "75 ms, 2 % loss, 1 Mbit/s shared",
}

# The direct call's page: the same capture constraints and sender preference as Sitroom's client
# (client_web/src/capture.js, media.js), one video and one audio element for what arrives.
P2P_HTML = b"""<!doctype html>
<meta charset="utf-8"><title>direct call</title>
<video id="remote-video" autoplay playsinline muted></video><audio id="remote-audio" autoplay></audio>
<script>
const gathered = (pc) => pc.iceGatheringState === "complete" ? Promise.resolve() : new Promise((resolve) => {
  const check = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", check); resolve(); } };
  pc.addEventListener("icegatheringstatechange", check);
});
window.p2p = {
  pc: null,
  async start() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: {echoCancellation: true, noiseSuppression: true, autoGainControl: true},
      video: {width: {ideal: 960}, height: {ideal: 540}, frameRate: {ideal: 30, max: 30}},
    });
    this.pc = new RTCPeerConnection({iceServers: [], bundlePolicy: "max-bundle"});
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
    this.pc.ontrack = (event) => {
      document.getElementById("remote-video").srcObject = event.streams[0];
      document.getElementById("remote-audio").srcObject = event.streams[0];
    };
  },
  async keepResolution() {
    for (const sender of this.pc.getSenders()) {
      if (!sender.track || sender.track.kind !== "video") continue;
      const params = sender.getParameters();
      params.degradationPreference = "maintain-framerate";
      await sender.setParameters(params);
    }
  },
  async offer() {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc);
    return this.pc.localDescription.sdp;
  },
  async answer(sdp) {
    await this.pc.setRemoteDescription({type: "offer", sdp});
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await gathered(this.pc);
    await this.keepResolution();
    return this.pc.localDescription.sdp;
  },
  async accept(sdp) {
    await this.pc.setRemoteDescription({type: "answer", sdp});
    await this.keepResolution();
  },
};
</script>
"""

# Inbound media of the page's receiving connection, summed by kind (one remote participant).
STATS_JS = """
async (which) => {
  const pc = which === "p2p" ? (window.p2p && window.p2p.pc) : window.sitroom.pcs.subscribe;
  const out = {t: performance.now(), video: {}, audio: {}};
  if (!pc) return out;
  const keys = ["framesDecoded", "freezeCount", "totalFreezesDuration", "bytesReceived", "packetsReceived",
                "packetsLost", "nackCount", "concealedSamples", "totalSamplesReceived"];
  (await pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp" || !(s.kind in out)) return;
    const into = out[s.kind];
    for (const k of keys) if (typeof s[k] === "number") into[k] = (into[k] || 0) + s[k];
    if (s.kind === "video" && s.frameWidth) into.size = `${s.frameWidth}x${s.frameHeight}`;
  });
  return out;
}
"""


NAMES = ("Seoul", "Bogota")
NAN = float("nan")


def snapshot(page, which: str) -> dict:
    return page.evaluate(STATS_JS, which)


def wait_all_decoding(pages, which: str, started: float, timeout_s: float) -> float | None:
    """Seconds from ``started`` until every page has decoded a frame of the other, or None."""
    pending = list(pages)
    while pending and time.monotonic() < started + timeout_s:
        pending = [p for p in pending if not snapshot(p, which)["video"].get("framesDecoded")]
        if pending:
            time.sleep(0.05)
    return None if pending else time.monotonic() - started


def new_pages(browser, count: int = 2):
    contexts = [browser.new_context(bypass_csp=True, viewport={"width": 960, "height": 540}, permissions=["camera", "microphone"])
                for _ in range(count)]
    for context in contexts:
        context.set_default_timeout(30_000)
    return contexts, [context.new_page() for context in contexts]


def sitroom_join(pages, server, number: int, timeout_s: float) -> float | None:
    """A new room; the host joins, then the guest; seconds from the guest's click to both decoding."""
    links = server.create_room(f"Links {number}")["links"]
    join_timed(pages[0], links["host"], NAMES[0], timeout_ms=int(timeout_s * 1000))
    _, clicked = join_timed(pages[1], links["participant"], NAMES[1], timeout_ms=int(timeout_s * 1000))
    return wait_all_decoding(pages, "sitroom", clicked, timeout_s)


def p2p_call(pages, url: str, timeout_s: float) -> float | None:
    """Two pages of the direct call; seconds from the offer to both decoding."""
    for page in pages:
        page.goto(url)
        page.evaluate("window.p2p.start()")
    started = time.monotonic()
    offer = pages[0].evaluate("window.p2p.offer()")
    answer = pages[1].evaluate("(sdp) => window.p2p.answer(sdp)", offer)
    pages[0].evaluate("(sdp) => window.p2p.accept(sdp)", answer)
    return wait_all_decoding(pages, "p2p", started, timeout_s)


def delta(after: dict, before: dict, kind: str, key: str) -> float:
    if key not in after[kind]:
        return NAN
    return after[kind][key] - before[kind].get(key, 0)


def directions(before: list[dict], after: list[dict]) -> list[dict]:
    """Per receiving page: what it got from the other over the window."""
    out = []
    for i, (b, a) in enumerate(zip(before, after)):
        seconds = (a["t"] - b["t"]) / 1000
        received = delta(a, b, "video", "packetsReceived") + delta(a, b, "audio", "packetsReceived")
        lost = delta(a, b, "video", "packetsLost") + delta(a, b, "audio", "packetsLost")
        samples = delta(a, b, "audio", "totalSamplesReceived")
        out.append({
            "direction": f"{NAMES[1 - i]} -> {NAMES[i]}",
            "fps": delta(a, b, "video", "framesDecoded") / seconds,
            "freezes": delta(a, b, "video", "freezeCount"),
            "frozen_s": delta(a, b, "video", "totalFreezesDuration"),
            "concealed_pct": delta(a, b, "audio", "concealedSamples") / samples * 100 if samples else NAN,
            "kbps": (delta(a, b, "video", "bytesReceived") + delta(a, b, "audio", "bytesReceived")) * 8 / seconds / 1000,
            "lost_pct": lost / (received + lost) * 100 if received + lost > 0 else NAN,
            "nacks": delta(a, b, "video", "nackCount"),
            "size": a["video"].get("size", "-"),
        })
    return out


def measure(pages, which: str, seconds: float, lab, pids: list[int]) -> dict:
    before = [snapshot(p, which) for p in pages]
    lab0, busy0, cpu0, t0 = lab.stats(), machine_busy(), [cpu_seconds(pid) for pid in pids], time.monotonic()
    time.sleep(seconds)
    after = [snapshot(p, which) for p in pages]
    lab1, busy1, cpu1, elapsed = lab.stats(), machine_busy(), [cpu_seconds(pid) for pid in pids], time.monotonic() - t0
    seen = lab1["seen"] - lab0["seen"]
    return {
        "directions": directions(before, after),
        "lab_packets": seen,
        "lab_loss_pct": (lab1["dropped_loss"] - lab0["dropped_loss"]) / seen * 100 if seen else NAN,
        "lab_queue_pct": (lab1["dropped_queue"] - lab0["dropped_queue"]) / seen * 100 if seen else NAN,
        "machine_pct": (busy1 - busy0) / elapsed * 100,
        "cpu_pct": [(c1 - c0) / elapsed * 100 for c0, c1 in zip(cpu0, cpu1)],
    }


def close(contexts) -> None:
    for context in contexts:
        try:
            context.close()
        except Exception:  # noqa: BLE001 - a crashed page's context may be gone already
            pass


def run_path(path: str, leg: Impairment, lab, browser, server, p2p_url: str, args) -> dict:
    """``--joins`` joins on one path (the SFU or the direct call), the last one measured."""
    impairment = leg if path == "sitroom" else two_legs(leg)
    lab.set(delay_ms=impairment.delay_ms, jitter_ms=impairment.jitter_ms, loss=impairment.loss,
            rate_kbit=impairment.rate_kbit)
    time.sleep(1.0)  # what the previous phase left in flight drains
    joins: list[float | None] = []
    window = None
    for number in range(1, args.joins + 1):
        contexts, pages = new_pages(browser)
        seconds = None
        try:
            if path == "sitroom":
                seconds = sitroom_join(pages, server, number, args.join_timeout)
            else:
                seconds = p2p_call(pages, p2p_url, args.join_timeout)
        except Exception as exc:  # noqa: BLE001 - a join that failed is a result, not the end of the run
            print(f"    join {number} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
        joins.append(seconds)
        try:
            if number == args.joins:
                time.sleep(args.settle)
                window = measure(pages, path, args.seconds, lab, [server.pid, lab.impairer.pid])
        except Exception as exc:  # noqa: BLE001 - a page that died: no window, the run goes on
            print(f"    window failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
        finally:
            close(contexts)
    return {"joins": joins, "window": window}


def worst(result: dict | None, key: str, pick=min) -> float:
    if not result or not result["window"]:
        return NAN
    values = [d[key] for d in result["window"]["directions"] if d[key] == d[key]]
    return pick(values) if values else NAN


def ratio(a: float, b: float, digits: int = 2) -> str:
    if a != a or b != b:
        return "-"
    if b == 0:
        return "=" if a == 0 else "inf"
    return f"{a / b:.{digits}f}"


def join_text(joins: list[float | None]) -> str:
    ok = [j for j in joins if j is not None]
    if not ok:
        return f"- (0/{len(joins)})"
    return f"{statistics.median(ok):.1f} / {max(ok):.1f} ({len(ok)}/{len(joins)})"


class P2pPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(P2P_HTML)))
        self.end_headers()
        self.wfile.write(P2P_HTML)

    def log_message(self, *args) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="measured window per condition and path")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"some of {', '.join(CONDITIONS)}")
    parser.add_argument("--joins", type=int, default=3, help="joins per condition and path (the last one is measured)")
    parser.add_argument("--settle", type=float, default=5, help="seconds between the last join and the window")
    parser.add_argument("--join-timeout", type=float, default=20, help="a join without media by then never got it")
    parser.add_argument("--quiet-wait", type=float, default=60,
                        help="before each path, wait up to this many seconds for the rest of the machine to go idle")
    args = parser.parse_args()
    sfu.QUIET["limit"] = args.quiet_wait
    names = [n.strip() for n in args.conditions.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown or args.joins < 1:
        parser.error(f"unknown conditions {unknown}; known: {', '.join(CONDITIONS)}" if unknown else "--joins >= 1")
    reason = lab_unavailable()
    if reason:
        print(f"links: cannot make the network lab: {reason}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="sitroom-links-") as tmp, impaired_loopback() as lab:
        server = start_server(Path(tmp) / "server", "--log-level", "warning")
        page_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), P2pPage)  # made here: inside the lab
        threading.Thread(target=page_server.serve_forever, daemon=True).start()
        p2p_url = f"http://127.0.0.1:{page_server.server_address[1]}/"
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw.chromium)
                try:
                    for name in names:
                        results[name] = {}
                        for path in ("sitroom", "p2p"):
                            print(f"  {name} {path}: {args.joins} join(s), then {args.seconds:.0f} s "
                                  f"({time.monotonic() - started:.0f} s)", flush=True)
                            sfu.wait_quiet()
                            results[name][path] = run_path(path, CONDITIONS[name], lab, browser, server, p2p_url, args)
                finally:
                    browser.close()
        finally:
            page_server.shutdown()
            page_server.server_close()
            stop_server(server)

    print()
    print(f"Links: two Chromium pages through Sitroom's SFU (each leg impaired as named) and a direct call "
          f"(one leg: two legs' worth), {args.seconds:.0f} s per window, {args.joins} join(s) per path")
    print()
    print("| condition | path | direction | fps | freezes | frozen s | audio concealed % | kbit/s | lost % "
          "| NACKs | resolution | join s (median / max, ok) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for name, paths in results.items():
        for path, result in paths.items():
            label = "Sitroom" if path == "sitroom" else "direct"
            rows = result["window"]["directions"] if result["window"] else [{"direction": "-"}]
            for i, d in enumerate(rows):
                print(f"| {LABELS[name] if path == 'sitroom' and i == 0 else ''} | {label if i == 0 else ''} "
                      f"| {d['direction']} | {fmt(d.get('fps', NAN))} | {fmt(d.get('freezes', NAN), 0)} "
                      f"| {fmt(d.get('frozen_s', NAN), 2)} | {fmt(d.get('concealed_pct', NAN), 2)} "
                      f"| {fmt(d.get('kbps', NAN), 0)} | {fmt(d.get('lost_pct', NAN), 2)} | {fmt(d.get('nacks', NAN), 0)} "
                      f"| {d.get('size', '-')} | {join_text(result['joins']) if i == 0 else ''} |")
    print()
    print("Sitroom against the direct call (worst direction; ratio = Sitroom / direct):")
    print()
    print("| condition | fps Sitroom | fps direct | ratio | frozen s Sitroom | frozen s direct | ratio "
          "| concealed % Sitroom | concealed % direct | ratio | join s Sitroom | join s direct |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, paths in results.items():
        sit, p2p = paths["sitroom"], paths["p2p"]
        f_s, f_p = worst(sit, "fps"), worst(p2p, "fps")
        z_s, z_p = worst(sit, "frozen_s", max), worst(p2p, "frozen_s", max)
        c_s, c_p = worst(sit, "concealed_pct", max), worst(p2p, "concealed_pct", max)
        j_s = [j for j in sit["joins"] if j is not None]
        j_p = [j for j in p2p["joins"] if j is not None]
        print(f"| {LABELS[name]} | {fmt(f_s)} | {fmt(f_p)} | {ratio(f_s, f_p)} | {fmt(z_s, 2)} | {fmt(z_p, 2)} "
              f"| {ratio(z_s, z_p)} | {fmt(c_s, 2)} | {fmt(c_p, 2)} | {ratio(c_s, c_p)} "
              f"| {fmt(statistics.median(j_s) if j_s else NAN)} | {fmt(statistics.median(j_p) if j_p else NAN)} |")
    print()
    print("The lab and the machine during each window (lab: packets queued, dropped by loss and by the rate's "
          "queue; CPU % of one core; machine: both cores = 200 %):")
    print()
    print("| condition | path | packets | lab loss % | queue drops % | server CPU % | impairer CPU % | machine % |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, paths in results.items():
        for path, result in paths.items():
            w = result["window"]
            if not w:
                continue
            print(f"| {LABELS[name]} | {'Sitroom' if path == 'sitroom' else 'direct'} | {w['lab_packets']} "
                  f"| {fmt(w['lab_loss_pct'], 2)} | {fmt(w['lab_queue_pct'], 2)} | {fmt(w['cpu_pct'][0])} "
                  f"| {fmt(w['cpu_pct'][1])} | {fmt(w['machine_pct'])} |")
    joins = [j for paths in results.values() for j in paths["sitroom"]["joins"]]
    key = results.get("150ms_5pct")
    print(f"({time.monotonic() - started:.0f} s)")
    print(f"links: joins_ok={sum(j is not None for j in joins)}/{len(joins)} "
          f"fps_150ms_5pct={fmt(worst(key and key['sitroom'], 'fps'))} "
          f"frozen_s_150ms_5pct={fmt(worst(key and key['sitroom'], 'frozen_s', max), 2)} "
          f"p2p_frozen_s_150ms_5pct={fmt(worst(key and key['p2p'], 'frozen_s', max), 2)} "
          f"audio_concealed_pct={fmt(worst(key and key['sitroom'], 'concealed_pct', max), 2)} "
          f"fps_1mbit_min={fmt(worst(results.get('1mbit', {}).get('sitroom'), 'fps'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
