"""Simulcast benchmark (issue 14): a gallery meeting with and without simulcast, on the real server.

P participants (16 by default) all publish a camera and a microphone and all subscribe to everyone
else; every subscriber shows the others as 160x120 thumbnails and one of them (the speaker, P1;
P1 itself shows P2) large at 640x480, told to the server as ``subscribe_prefs`` ``sizes``. Two
runs in the same session, on the same server:

- **single**: the baseline, every camera one 640x480 VP8 layer (~1 Mbps), as before simulcast;
- **simulcast**: every camera three layers (160x120 ~100 kbps, 320x240 ~300 kbps, 640x480 ~1 Mbps;
  tests/simulcast_source.py), the publishers obeying ``publish_layers`` as browsers do.

Measured per run over a window once the layout is applied and settled: what each subscriber
receives (kbps, video and audio, SRTP bytes, from the load generator's sockets), the server's CPU
(its process and its media workers, /proc/<pid>/task/*/schedstat as in bench/sfu.py) per packet
forwarded (its /api/metrics counters), and then the step-down: one subscriber (P2) starts reporting
REMB 250 kbps on its subscribe connection, every 0.5 s; the time until the video it receives falls
to <= 1.25 x 250 kbps (the first moment from which the next 0.5 s carry no more, from the load
generator's 50 ms samples; the summary's ``stepdown_s``), and until the
server's ``video_layers`` event tells it of a lower layer (or a video paused for bandwidth). Until
then every subscriber reports REMB 20 Mbps (a good link says so all along, as browsers do).

Prints a table, the ratios simulcast / single, and last one line:

    simulcast: kbps_per_sub=<> kbps_ratio=<> fwd_us=<> stepdown_s=<>

(kbps_per_sub and fwd_us: the simulcast run's; kbps_ratio: simulcast / single.)

Usage: .venv/bin/python bench/simulcast.py [--size 16] [--window 10] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import _media  # noqa: E402
from sfu import (  # noqa: E402
    GENERATOR_NICE, QUIET, SATURATED, SfuTarget, Workers, cpu_deltas, cpu_readings, cpu_seconds, fmt, machine_busy,
    wait_quiet,
)
from tests.simulcast_source import LAYERS, encode_layers  # noqa: E402

REMB_BITRATE = 250_000
GOOD_REMB = 20_000_000  # what every subscriber reports until P2's link shrinks
REMB_INTERVAL = 0.5
STEP_FACTOR = 1.25  # stepped down: the video received <= this x the REMB
RATE_WINDOW = 0.5  # seconds after a moment over which the received rate is taken
SETTLE = 7.0  # seconds after the layout: switches, and unused layers paused after 5 s (publish_layers)


def video_rate(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """kbps of video received between the samples nearest ``start`` and ``end`` (from (time,
    cumulative bytes) samples), NaN where the samples do not cover that."""
    first = [s for s in samples if s[0] <= start]
    last = [s for s in samples if s[0] >= end]
    if not first or not last:
        return float("nan")
    (t0, b0), (t1, b1) = first[-1], last[0]
    return (b1 - b0) * 8 / 1000 / max(1e-6, t1 - t0)


def stepdown(result: dict, bitrate: int) -> dict:
    """From one participant's results: the rate before the REMB, the time until its video rate
    fell to <= STEP_FACTOR x ``bitrate``, and until a ``video_layers`` event showed a step down."""
    raw = array("d", result["rate_samples"])
    samples = [(raw[i], raw[i + 1]) for i in range(0, len(raw) - 1, 2)]
    t0 = result["remb_start"]
    out = {"before_kbps": float("nan"), "after_kbps": float("nan"), "rate_s": float("nan"), "layer_s": float("nan")}
    if t0 is None or len(samples) < 4:
        return out
    out["before_kbps"] = video_rate(samples, t0 - 1.0, t0)
    out["after_kbps"] = video_rate(samples, samples[-1][0] - 1.0, samples[-1][0])
    limit = STEP_FACTOR * bitrate / 1000
    for t, _ in samples:
        # from when on the rate stays low: the window looks ahead (looking back would add its length)
        if t >= t0 and video_rate(samples, t, t + RATE_WINDOW) <= limit:
            out["rate_s"] = t - t0
            break
    previous = None
    for when, data in result["video_layers"]:
        state = {(v.get("participant_id"), v.get("source")): (v.get("layer"), v.get("paused")) for v in data.get("videos", [])}
        if when <= t0:
            previous = state
            continue
        if previous is not None and any(
                (value[1] == "bandwidth" and previous.get(key, (None, None))[1] != "bandwidth")
                or (value[0] is not None and previous.get(key, (None, None))[0] is not None
                    and value[0] < previous[key][0])
                for key, value in state.items()):
            out["layer_s"] = when - t0
            break
        previous = state
    return out


def run_gallery(target, size: int, simulcast: bool, clip, layer_clips, opus, window: float, warmup: float,
                worker_count: int, stepdown_wait: float, remb: int = REMB_BITRATE) -> dict:
    meeting = target.new_meeting(size)
    spec = dict(meeting, publishers=size, clip=clip, opus=opus, subscribe=True, rate_div=1, poll=True,
                nice=GENERATOR_NICE["value"], simulcast_clips=layer_clips if simulcast else None)
    groups = [[] for _ in range(max(1, min(worker_count, size)))]
    for i in range(size):
        groups[i % len(groups)].append(f"P{i + 1}")
    workers = Workers(spec, groups)
    try:
        joined = workers.wait_joined(timeout=30 + 5 * size)
        ids = {name: pid for group, got in zip(groups, joined) for name, pid in zip(group, got)}
        deadline = time.monotonic() + warmup
        ready = 0
        while time.monotonic() < deadline:
            ready = sum(workers.ask("status", "status"))
            if ready >= size:
                break
            time.sleep(0.25)
        acks = [a for batch in workers.ask(("prefs", ids["P1"], list(ids.values())), "ok") for a in batch]
        refused = [a for a in acks if not (a or {}).get("ok")]
        # every subscriber's link is good and says so (browsers send REMB all along)
        workers.ask(("remb", "*", GOOD_REMB, REMB_INTERVAL), "ok")
        time.sleep(SETTLE)

        pids = target.pids
        t0, c0 = time.monotonic(), cpu_readings(pids)
        gen0, busy0 = sum(cpu_seconds(pid) for pid in workers.pids), machine_busy()
        counters0 = target.counters()
        marks0 = workers.ask("mark", "mark")
        time.sleep(window)
        t1, c1 = time.monotonic(), cpu_readings(pids)
        gen1, busy1 = sum(cpu_seconds(pid) for pid in workers.pids), machine_busy()
        counters1 = target.counters()
        marks1 = workers.ask("mark", "mark")

        # the step-down: P2's link shrinks to ``remb``
        workers.ask(("trace", True), "ok")
        time.sleep(1.5)
        workers.ask(("remb", "P2", remb, REMB_INTERVAL), "ok")
        time.sleep(stepdown_wait)
        workers.ask(("trace", False), "ok")
        results = [p for batch in workers.ask("results", "results") for p in batch]
    finally:
        workers.stop()
    elapsed = t1 - t0
    cpu = sum(cpu_deltas(c0, c1).values())
    gen_cpu = (gen1 - gen0) / elapsed * 100
    before = {p["id"]: p for m in marks0 for p in m["participants"]}
    after = {p["id"]: p for m in marks1 for p in m["participants"]}
    video_kbps = [(after[i]["vbytes"] - before[i]["vbytes"]) * 8 / 1000 / elapsed for i in after]
    audio_kbps = [(after[i]["abytes"] - before[i]["abytes"]) * 8 / 1000 / elapsed for i in after]
    total_kbps = [v + a for v, a in zip(video_kbps, audio_kbps)]
    in_pps = (counters1[0] - counters0[0]) / elapsed
    out_pps = (counters1[1] - counters0[1]) / elapsed
    # frames: share of the publishers' frames each subscriber got complete (from the generator's counters)
    sent = {i: after[i]["k"] - before[i]["k"] for i in after}
    shares = []
    for sub, snap in after.items():
        for key, (packets, frames) in snap["streams"].items():
            pub, kind = key.split("/")
            if kind == "video" and pub != sub and pub in sent:
                shares.append((frames - before[sub]["streams"].get(key, (0, 0))[1]) / max(1, sent[pub]))
    p2 = next(r for r in results if r["name"] == "P2")
    layers_sent = [0, 0, 0]
    for r in results:
        for i, layer in enumerate(r["sim"] or []):
            layers_sent[i] += layer["active"]
    run = {
        "mode": "simulcast" if simulcast else "single", "P": size, "ready": ready, "elapsed": elapsed,
        "cpu": cpu / elapsed * 100, "gen_cpu": gen_cpu,
        "other_cpu": max(0.0, (busy1 - busy0) / elapsed * 100 - cpu / elapsed * 100 - gen_cpu),
        "in_pps": in_pps, "out_pps": out_pps,
        "fwd_us": cpu / max(1, counters1[1] - counters0[1]) * 1e6,
        "kbps": statistics.mean(total_kbps), "kbps_min": min(total_kbps), "kbps_max": max(total_kbps),
        "video_kbps": statistics.mean(video_kbps), "audio_kbps": statistics.mean(audio_kbps),
        "min_frames": min(shares) if shares else 0.0,
        "short_pairs": sum(1 for v in shares if v < 0.95), "pairs": len(shares),
        "refused_prefs": len(refused), "prefs_ack": acks[0] if acks else None,
        "publish_layers": sum(r["publish_layers"] for r in results), "layers_active": layers_sent,
        "remb_sent": p2["remb_sent"], "video_layers_events": len(p2["video_layers"]),
        "last_layers": p2["video_layers"][-1][1] if p2["video_layers"] else None,
    }
    run.update(stepdown(p2, remb))
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=16, help="participants (all publish, all subscribe)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--stepdown-wait", type=float, default=6.0, help="seconds watched after the REMB drop")
    parser.add_argument("--warmup", type=float, default=40.0, help="max seconds to wait for every stream")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--media-workers", type=int, default=1,
                        help="media worker processes of the server (1: the room in one process, no spanning)")
    parser.add_argument("--generator-nice", type=int, default=19, help="nice value of the load generator")
    parser.add_argument("--quiet-wait", type=float, default=0.0,
                        help="seconds to wait at most, before each run, for the rest of the machine to be nearly idle")
    parser.add_argument("--remb", type=int, default=REMB_BITRATE,
                        help="bits/s P2's REMB drops to (default 250000: with 15 Opus streams, about 630 kbps, "
                             "counted first, no video fits; 1500000 shows thumbnails stepping down instead)")
    parser.add_argument("--quick", action="store_true", help="P=8, 5 s windows")
    args = parser.parse_args()
    if args.quick:
        args.size, args.window, args.stepdown_wait = 8, 5.0, 5.0
    GENERATOR_NICE["value"] = args.generator_nice
    QUIET["limit"] = args.quiet_wait
    started = time.monotonic()

    t = time.monotonic()
    clip = _media.encode_vp8_clip()
    layer_clips = encode_layers(LAYERS, 4.0)
    opus = _media.encode_opus_clip()
    layer_kbps = [sum(len(c) for chunks, _ in lc for c in chunks) * 8 / 1000 / 4.0 for lc in layer_clips]
    print(f"load: P={args.size} all publish and subscribe; single: VP8 640x480@30 "
          f"{sum(len(f) for f, _ in clip) * 8 / 1000 / 4.0:.0f} kbps; simulcast: "
          + ", ".join(f"{layer.rid} {layer.width}x{layer.height} {k:.0f} kbps" for layer, k in zip(LAYERS, layer_kbps))
          + f"; + Opus; tiles 160x120, the speaker 640x480; encoded in {time.monotonic() - t:.1f} s", flush=True)

    runs = []
    with tempfile.TemporaryDirectory(prefix="sitroom-simulcast-") as tmp:
        target = SfuTarget(Path(tmp), args.media_workers)
        target.start()
        try:
            for simulcast in (False, True):
                label = "simulcast" if simulcast else "single"
                wait_quiet()
                print(f"  running {label} (P={args.size}, {args.window:.0f} s window)...", flush=True)
                try:
                    runs.append(run_gallery(target, args.size, simulcast, clip, layer_clips, opus, args.window,
                                            args.warmup, args.workers, args.stepdown_wait, args.remb))
                except Exception as exc:
                    text = str(exc).strip().splitlines()
                    print(f"  run failed: {type(exc).__name__}: {text[-1] if text else ''}", flush=True)
                time.sleep(2.0)
        finally:
            target.stop()

    print()
    header = (f"{'run':>10} {'P':>3} {'kbps/sub':>9} {'min':>7} {'max':>7} {'video':>7} {'audio':>6} {'in/s':>6} "
              f"{'out/s':>7} {'CPU %':>6} {'us/out':>7} {'frames':>7} {'before':>7} {'after':>7} {'rate s':>7} "
              f"{'layer s':>8} {'gen CPU':>8} {'other':>6}")
    print(header)
    print("-" * len(header))
    for r in runs:
        print(f"{r['mode']:>10} {r['P']:>3} {r['kbps']:>9.0f} {r['kbps_min']:>7.0f} {r['kbps_max']:>7.0f} "
              f"{r['video_kbps']:>7.0f} {r['audio_kbps']:>6.0f} {r['in_pps']:>6.0f} {r['out_pps']:>7.0f} "
              f"{r['cpu']:>6.1f} {r['fwd_us']:>7.1f} {r['min_frames'] * 100:>6.1f}% {fmt(r['before_kbps'], 0):>7} "
              f"{fmt(r['after_kbps'], 0):>7} {fmt(r['rate_s'], 2):>7} {fmt(r['layer_s'], 2):>8} "
              f"{r['gen_cpu']:>7.0f}% {r['other_cpu']:>5.0f}%")
    print(f"(kbps/sub: what one subscriber receives, video + audio, SRTP datagrams, mean (min, max) over the "
          f"subscribers; in/out: packets/s into and out of the SFU (its counters); CPU: the server and its media "
          f"workers, % of one core; us/out: that CPU / forwarded packets (inbound work included); frames: lowest "
          f"share of a publisher's frames a subscriber got complete (a thumbnail's layer has fewer, smaller frames "
          f"but as many); before/after: P2's video kbps before its REMB {args.remb // 1000} kbps and at the end; "
          f"rate s: until its video fell to <= {STEP_FACTOR} x that (over the next {RATE_WINDOW} s); layer s: until a "
          f"video_layers event showed a lower layer or a video paused for bandwidth; gen CPU: the load generator; "
          f"other: the rest of the machine, of 200%)")
    for r in runs:
        notes = []
        if r["ready"] < r["P"]:
            notes.append(f"only {r['ready']} of {r['P']} subscribers had every stream before measuring")
        if r["refused_prefs"]:
            notes.append(f"subscribe_prefs refused {r['refused_prefs']} times: {r['prefs_ack']}")
        if r["cpu"] + r["gen_cpu"] + r["other_cpu"] > SATURATED:
            notes.append(f"the machine was saturated ({r['cpu'] + r['gen_cpu'] + r['other_cpu']:.0f}% of 200%): "
                         f"figures measure the machine; try --size {max(4, r['P'] // 2)}")
        if r["short_pairs"]:
            notes.append(f"{r['short_pairs']} of {r['pairs']} (subscriber, publisher) pairs got under 95% of the frames "
                         "complete (the load generator neither NACKs nor asks for keyframes)")
        if r["mode"] == "simulcast":
            notes.append(f"publish_layers events applied by publishers: {r['publish_layers']}; layers still sent "
                         f"(q, h, f) by the {r['P']} publishers at the end: {r['layers_active']}")
        notes.append(f"P2 sent {r['remb_sent']} REMBs and got {r['video_layers_events']} video_layers events")
        if r["last_layers"]:
            videos = r["last_layers"].get("videos", [])
            layers = [v.get("layer") for v in videos if v.get("source") == "camera"]
            paused = sum(1 for v in videos if v.get("paused") == "bandwidth")
            notes.append(f"its last video_layers: layers {layers}, {paused} paused for bandwidth")
        print(f"  {r['mode']}: " + "; ".join(notes))
    if args.size != 16:
        print(f"note: P={args.size}, not the 16-participant gallery (--size)")

    single = next((r for r in runs if r["mode"] == "single"), None)
    sim = next((r for r in runs if r["mode"] == "simulcast"), None)
    nan = float("nan")
    kbps_ratio = sim["kbps"] / single["kbps"] if sim and single and single["kbps"] else nan
    fwd_ratio = sim["fwd_us"] / single["fwd_us"] if sim and single and single["fwd_us"] else nan
    cpu_ratio = sim["cpu"] / single["cpu"] if sim and single and single["cpu"] else nan
    print()
    print(f"ratios simulcast / single (same session, same server): received kbps per subscriber "
          f"{fmt(kbps_ratio, 3)}, SFU CPU {fmt(cpu_ratio, 3)}, CPU per forwarded packet {fmt(fwd_ratio, 3)}")
    print(f"({time.monotonic() - started:.0f} s)")
    print(f"simulcast: kbps_per_sub={fmt(sim['kbps'] if sim else nan, 0)} kbps_ratio={fmt(kbps_ratio, 3)} "
          f"fwd_us={fmt(sim['fwd_us'] if sim else nan, 1)} stepdown_s={fmt(sim['rate_s'] if sim else nan, 2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
