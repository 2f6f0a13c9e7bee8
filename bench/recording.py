"""Recording benchmark: the SFU's CPU with and without recording in a P-participant meeting, the
cost per recorded track, and whether forwarding is unaffected (the same share of frames delivered).

The SFU is the real server (``sitroom serve --test-mode`` with one media worker, as bench/sfu.py
runs it; the CPU is the server's and its worker's together, the writer thread included). The load
is bench/sfu.py's: P participants in generator processes (bench/_load.py), each publishing a
pre-encoded 640x480@30 VP8 stream and 20 ms Opus packets and receiving everyone else. A host
connection (Socket.IO, this process; it publishes nothing and answers no offers) starts and stops
the recording. The meeting alternates windows without and with recording (``--rounds`` of each,
in the same meeting, so the load is the same); frames delivered to the subscribers, complete, are
counted from the generators' own counters.

Prints a table, then one line:

    recording: tracks=<> cpu_pct_per_track=<> forwarded_frames_ratio=<>

``cpu_pct_per_track``: (CPU with recording - CPU without) / tracks recorded, % of one core;
``forwarded_frames_ratio``: the share of sent frames delivered while recording over the share
delivered without (1.0: forwarding unaffected).

Usage: .venv/bin/python bench/recording.py [--participants 8] [--window 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import _media  # noqa: E402
import sfu as sfu_bench  # noqa: E402
from tests.sio_helpers import ProtocolClient  # noqa: E402

CONTROL_TIMEOUT = 60.0


class Control:
    """The host's Socket.IO connection, on an event loop of its own (this benchmark is synchronous)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="control", daemon=True)
        self.thread.start()
        self.client = ProtocolClient(base_url)
        self.call(self.client.connect())
        self.call(self.client.join(token, "Bench host"))

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CONTROL_TIMEOUT)

    def request(self, event: str) -> dict:
        ack = self.call(self.client.request(event, {}))
        if not ack.get("ok"):
            raise RuntimeError(f"{event} refused: {ack}")
        return ack

    def close(self) -> None:
        try:
            self.call(self.client.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def delivered(marks0: list, marks1: list) -> tuple[int, int]:
    """Video frames sent by all publishers, and complete video frames received by all
    subscribers, between two marks of the generators."""
    before = {p["id"]: p for m in marks0 for p in m["participants"]}
    after = {p["id"]: p for m in marks1 for p in m["participants"]}
    sent = {pid: after[pid]["k"] - before[pid]["k"] for pid in after}
    total_sent = 0
    received = 0
    for sub, snap in after.items():
        prev = before[sub]["streams"]
        for key, (_packets, frames) in snap["streams"].items():
            pub, kind = key.split("/")
            if pub == sub or pub not in sent or kind != "video":
                continue
            received += frames - prev.get(key, (0, 0))[1]
            total_sent += sent[pub]
    return total_sent, received


def published(marks0: list, marks1: list) -> int:
    """Video frames sent by all publishers between two marks."""
    before = {p["id"]: p for m in marks0 for p in m["participants"]}
    return sum(p["k"] - before[pid]["k"] for m in marks1 for p in m["participants"] for pid in [p["id"]])


def measure(target, workers, window: float) -> dict:
    pids = target.pids
    t0, c0 = time.monotonic(), sfu_bench.cpu_readings(pids)
    busy0 = sfu_bench.machine_busy()
    counters0 = target.counters()
    marks0 = workers.ask("mark", "mark")
    time.sleep(window)
    t1, c1 = time.monotonic(), sfu_bench.cpu_readings(pids)
    busy1 = sfu_bench.machine_busy()
    counters1 = target.counters()
    marks1 = workers.ask("mark", "mark")
    elapsed = t1 - t0
    cpu = sum(sfu_bench.cpu_deltas(c0, c1).values()) / elapsed * 100
    sent, received = delivered(marks0, marks1)
    return {"elapsed": elapsed, "cpu": cpu, "in_pps": (counters1[0] - counters0[0]) / elapsed,
            "out_pps": (counters1[1] - counters0[1]) / elapsed, "sent": sent, "received": received,
            "ratio": received / max(1, sent), "machine": (busy1 - busy0) / elapsed * 100}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=8)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per measured window")
    parser.add_argument("--rounds", type=int, default=2, help="windows without, then with, recording, this many times")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    args = parser.parse_args()

    clip = _media.encode_vp8_clip()
    opus = _media.encode_opus_clip()
    size = args.participants
    with tempfile.TemporaryDirectory(prefix="sitroom-bench-rec-") as tmp:
        target = sfu_bench.SfuTarget(Path(tmp), 1)
        target.start()
        control = workers = None
        rows = []
        recordings = []
        try:
            room = target.server.create_room(f"Recording bench P={size}")
            room_id = room["room"]["id"]
            control = Control(target.server.base_url, room["links"]["host"].split("?t=")[1])
            spec = dict(backend="sio", base_url=target.server.base_url,
                        token=room["links"]["participant"].split("?t=")[1], publishers=size, clip=clip,
                        opus=opus, subscribe=True, rate_div=1, poll=True, nice=sfu_bench.GENERATOR_NICE["value"])
            groups = [[] for _ in range(max(1, min(args.generators, size)))]
            for i in range(size):
                groups[i % len(groups)].append(f"P{i + 1}")
            workers = sfu_bench.Workers(spec, groups)
            workers.wait_joined(timeout=30 + 5 * size)
            deadline = time.monotonic() + args.warmup
            while time.monotonic() < deadline and sum(workers.ask("status", "status")) < size:
                time.sleep(0.25)
            time.sleep(2.0)
            for _ in range(args.rounds):
                rows.append(dict(measure(target, workers, args.window), recording=False))
                marks0 = workers.ask("mark", "mark")
                control.request("recording_start")
                time.sleep(1.0)  # the first keyframes, the clocks settled
                rows.append(dict(measure(target, workers, args.window), recording=True))
                ack = control.request("recording_stop")
                marks1 = workers.ask("mark", "mark")
                recordings.append(dict(ack["recording"], sent=published(marks0, marks1)))
                time.sleep(1.0)
        finally:
            if workers is not None:
                workers.stop()
            if control is not None:
                control.close()
            target.stop()
        data_dir = Path(tmp) / f"server{target.count}" / "data" / "recordings" / room_id
        tracks = frames = dropped = 0
        sent_while_recording = sum(r["sent"] for r in recordings)
        for recording in recordings:
            manifest = json.loads((data_dir / recording["id"] / "manifest.json").read_text())
            tracks = max(tracks, len(manifest["tracks"]))
            frames += sum(t["frames"] for t in manifest["tracks"] if t["kind"] == "video")
            dropped += sum(t["dropped_packets"] for t in manifest["tracks"])

    print(f"\nP = {size}, {args.rounds} x ({args.window:.0f} s without + {args.window:.0f} s with recording), "
          f"SFU: server + 1 media worker")
    print(f"{'recording':>9} {'cpu %':>7} {'in pps':>8} {'out pps':>8} {'frames sent':>11} {'delivered':>9} "
          f"{'ratio':>6} {'machine %':>9}")
    for row in rows:
        print(f"{'on' if row['recording'] else 'off':>9} {row['cpu']:7.1f} {row['in_pps']:8.0f} {row['out_pps']:8.0f} "
              f"{row['sent']:11d} {row['received']:9d} {row['ratio']:6.3f} {row['machine']:9.1f}")
    off = [r for r in rows if not r["recording"]]
    on = [r for r in rows if r["recording"]]
    cpu_off = sum(r["cpu"] for r in off) / len(off)
    cpu_on = sum(r["cpu"] for r in on) / len(on)
    ratio_off = sum(r["received"] for r in off) / max(1, sum(r["sent"] for r in off))
    ratio_on = sum(r["received"] for r in on) / max(1, sum(r["sent"] for r in on))
    per_track = (cpu_on - cpu_off) / max(1, tracks)
    print(f"CPU without recording {cpu_off:.1f} %, with {cpu_on:.1f} % of a core; {tracks} tracks recorded, "
          f"{frames} video frames written of {sent_while_recording} sent while recording "
          f"({frames / max(1, sent_while_recording):.3f}: the first keyframe is awaited), "
          f"{dropped} packets dropped by a full recording queue")
    print(f"recording: tracks={tracks} cpu_pct_per_track={per_track:.2f} "
          f"forwarded_frames_ratio={ratio_on / max(1e-9, ratio_off):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
