"""Forwarding cost per packet, warm, split into its parts: DownTrack.forward's Python (header
rewrite, retransmission cache, counters), SRTP protect, and the sendto system call.

One 1100-byte VP8 packet with the abs-send-time block the Producer writes is forwarded to 14
DownTracks (a P = 15 meeting's fan-out), each with its own AES-GCM SRTP session, in a tight loop:
caches warm, unlike the server's packets (docs/performance.md). Three runs, each adding a part:
the Python alone (protect is the identity, sendto does nothing), + protect, + a real sendto to a
socket on 127.0.0.1 (drained now and then; on loopback the system call also runs the receiver's
UDP path), and the last once more for a simulcast consumer after a layer switch, whose VP8
PictureID and TL0PICIDX are rewritten in every packet. Prints a table, each run's ratio to the first
(the baseline, same session), and last a summary line:

    forward: python_us=<> protect_us=<> sendto_us=<> total_us=<> vp8_rewrite_us=<>

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
# abs-send-time, then a VP8 payload descriptor (X, I with a 15-bit PictureID, L), then the payload
PAYLOAD = b"\xbe\xde\x00\x01" + bytes([0x32, 1, 2, 3]) + bytes((0x80, 0xC0, 0x92, 0x34, 7)) + os.urandom(1087)


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

    def run(protect: bool, send: bool, rewrite: bool = False) -> float:
        nonlocal seq
        for track in tracks:
            # a simulcast consumer after a layer switch: its VP8 PictureID/TL0PICIDX are moved
            track._vp8 = rewrite
            track._pid_off, track._tl0_off = (5, 3) if rewrite else (0, 0)
            track._start_seq = seq & 0xFFFF  # (a source's packets from half a cycle back are refused)
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
            if r % 8 == 0:
                drain()
        drain()
        sent = sum(t.packets for t in tracks) - before
        if sent != args.rounds * FANOUT:
            raise SystemExit(f"only {sent} of {args.rounds * FANOUT} packets were forwarded (protect={protect}, send={send}, rewrite={rewrite})")
        return statistics.median(per_forward)

    configs = [("python (identity protect, no send)", False, False, False), ("+ SRTP protect", True, False, False),
               ("+ sendto on 127.0.0.1", True, True, False),
               ("the same, VP8 ids rewritten (simulcast)", True, True, True)]
    results = {label: [] for label, *_ in configs}
    for _ in range(args.repeats):  # interleaved, so that a busy spell hits every run alike
        for label, protect, send, rewrite in configs:
            results[label].append(run(protect, send, rewrite))
    medians = [statistics.median(results[label]) for label, *_ in configs]

    print(f"DownTrack.forward, warm, {FANOUT} tracks, {len(PAYLOAD) + 12}-byte packets, "
          f"{args.rounds} packets x {args.repeats} repeats")
    print(f"{'run':<38} {'us/forward':>10} {'vs python':>10}")
    print("-" * 60)
    for (label, *_), value in zip(configs, medians):
        print(f"{label:<38} {value:>10.2f} {value / medians[0]:>9.1f}x")
    python_us, protect_us, sendto_us = medians[0], medians[1] - medians[0], medians[2] - medians[1]
    rewrite_us = medians[3] - medians[2]
    print(f"forward: python_us={python_us:.2f} protect_us={protect_us:.2f} sendto_us={sendto_us:.2f} "
          f"total_us={medians[2]:.2f} vp8_rewrite_us={rewrite_us:.2f}")
    rx.close()
    tx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
