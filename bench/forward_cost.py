"""Forwarding cost per packet, warm, split into its parts: DownTrack.forward's Python (header
rewrite, retransmission cache, counters), SRTP protect, and the sendto system call.

One 1100-byte VP8 packet with the abs-send-time block the Producer writes is forwarded to 14
DownTracks (a P = 15 meeting's fan-out), each with its own AES-GCM SRTP session, in a tight loop:
caches warm, unlike the server's packets (docs/performance.md). Three runs, each adding a part:
the Python alone (protect is the identity, sendto does nothing), + protect, + a real sendto to a
socket on 127.0.0.1 (drained now and then; on loopback the system call also runs the receiver's
UDP path). Prints a table, each run's ratio to the first (the baseline, same session), and last
a summary line:

    forward: python_us=<> protect_us=<> sendto_us=<> total_us=<>

Usage: .venv/bin/python bench/forward_cost.py [--rounds N] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pylibsrtp  # noqa: E402

from media.downtrack import DownTrack  # noqa: E402
from media.transport import srtp_functions  # noqa: E402

FANOUT = 14
PAYLOAD = b"\xbe\xde\x00\x01" + bytes([0x32, 1, 2, 3]) + os.urandom(1092)  # abs-send-time + payload


def protect_function():
    policy = pylibsrtp.Policy(key=os.urandom(28), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM)
    return srtp_functions(pylibsrtp.Session(policy))[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3000, help="packets per run (each to 14 tracks)")
    parser.add_argument("--repeats", type=int, default=3, help="times each run is repeated (median of medians)")
    args = parser.parse_args()

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    tx.setblocking(False)
    addr = rx.getsockname()

    def drain() -> None:
        try:
            while True:
                rx.recv(2048)
        except BlockingIOError:
            pass

    tracks = []
    for i in range(FANOUT):
        track = DownTrack("video", 1000 + i)
        track.set_payload_types({96: 96}, None, abs_send_time=True)
        track._started = True  # forwarding, past the first keyframe
        tracks.append(track)
    seq = 0  # continues across runs: an SRTP session refuses to protect an index twice

    def run(protect: bool, send: bool) -> float:
        nonlocal seq
        for track in tracks:
            track.attach(protect_function() if protect else (lambda p: p),
                         tx.sendto if send else (lambda data, a: None), addr)
        before = sum(t.packets for t in tracks)
        per_forward = []
        for r in range(args.rounds):
            t0 = time.perf_counter_ns()
            for track in tracks:
                track.forward(PAYLOAD, 0x90, 96, seq & 0xFFFF, seq * 3000, len(PAYLOAD), False, 1.0)
            per_forward.append((time.perf_counter_ns() - t0) / FANOUT / 1000)
            seq += 1
            if r % 16 == 0:
                drain()
        drain()
        sent = sum(t.packets for t in tracks) - before
        if sent != args.rounds * FANOUT:
            raise SystemExit(f"only {sent} of {args.rounds * FANOUT} packets were forwarded")
        return statistics.median(per_forward)

    configs = [("python (identity protect, no send)", False, False), ("+ SRTP protect", True, False),
               ("+ sendto on 127.0.0.1", True, True)]
    results = {label: [] for label, _, _ in configs}
    for _ in range(args.repeats):  # interleaved, so that a busy spell hits every run alike
        for label, protect, send in configs:
            results[label].append(run(protect, send))
    medians = [statistics.median(results[label]) for label, _, _ in configs]

    print(f"DownTrack.forward, warm, {FANOUT} tracks, {len(PAYLOAD) + 12}-byte packets, "
          f"{args.rounds} packets x {args.repeats} repeats")
    print(f"{'run':<38} {'us/forward':>10} {'vs python':>10}")
    print("-" * 60)
    for (label, _, _), value in zip(configs, medians):
        print(f"{label:<38} {value:>10.2f} {value / medians[0]:>9.1f}x")
    python_us, protect_us, sendto_us = medians[0], medians[1] - medians[0], medians[2] - medians[1]
    print(f"forward: python_us={python_us:.2f} protect_us={protect_us:.2f} sendto_us={sendto_us:.2f} "
          f"total_us={medians[2]:.2f}")
    rx.close()
    tx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
