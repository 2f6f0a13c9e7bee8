"""Media worker failover: how long a meeting's media is down when its media worker is killed.

The real server (``sitroom serve --test-mode --media-workers 2``, a subprocess on 127.0.0.1) hosts a
meeting of P aiortc participants (tests/meeting_client.py: audio + 320x240 video each). Once every
participant decodes every other, the media worker holding the room is killed with SIGKILL, and the
benchmark times, from the kill:

- noticed: until each client receives ``media_reset`` (the server noticed the death, placed the
  room on a live worker and told the clients);
- media back: until each client decodes a new video frame from every other participant (new
  connections, published again, renegotiated).

Baseline, in the same run: a fresh join's time from ``join`` to the first decoded frame from every
other participant (what any participant waits for when entering a meeting). Repeated ``--rounds``
times (a new meeting each round; the killed worker is replaced by the pool meanwhile).

Prints a table, the ratio media-back / baseline, and last one line:

    failover: noticed_ms=<p50> noticed_max_ms=<> media_back_ms=<p50> media_back_max_ms=<> join_ms=<p50> ratio=<>

Usage: .venv/bin/python bench/failover.py [--rounds 5] [--participants 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.meeting_client import MeetingClient  # noqa: E402
from tests.room_harness import token_of  # noqa: E402

TIMEOUT = 30.0
TARGET_NOTICED_MS = 2000.0
TARGET_BACK_MS = 5000.0


async def until(predicate, timeout: float = TIMEOUT, step: float = 0.005) -> float:
    """Poll ``predicate`` (bounded); returns time.monotonic() when it first held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(step)
    return time.monotonic()


def everyone_has_frames(members: list[MeetingClient], baseline: dict) -> bool:
    return all(me.peer.received(other.self_id, "video") > baseline.get((me.name, other.name), 0)
               for me in members for other in members if other is not me)


async def one_round(server, size: int, index: int) -> dict:
    room = server.create_room(f"Failover {index}")
    members = []
    try:
        join_ms = []
        for i in range(size):
            client = MeetingClient(server.base_url, f"R{index}P{i + 1}")
            members.append(client)
            await client.join(token_of(room["links"]["host" if i == 0 else "participant"]))
        # baseline: the last joiner, from its join to a frame from everyone else
        last = members[-1]
        t_join = time.monotonic()
        late = MeetingClient(server.base_url, f"R{index}late")
        members.append(late)
        await late.join(token_of(room["links"]["participant"]))
        await until(lambda: all(late.peer.received(o.self_id, "video") > 0 for o in members if o is not late))
        join_ms.append((time.monotonic() - t_join) * 1000)
        await until(lambda: everyone_has_frames(members, {}))
        del last

        worker = next(w for w in server.metrics()["workers"] if w["rooms"] > 0)
        killed_at = time.monotonic()
        os.kill(worker["pid"], signal.SIGKILL)
        noticed = {}
        while len(noticed) < len(members):
            for c in members:
                if c.media_resets and c.name not in noticed:
                    noticed[c.name] = (time.monotonic() - killed_at) * 1000
            if time.monotonic() - killed_at > TIMEOUT:
                raise TimeoutError("not every client got media_reset")
            await asyncio.sleep(0.002)
        # the clients' new peers start from zero: any frame from everyone is new media
        back_at = await until(lambda: everyone_has_frames(members, {}))
        return {"noticed": max(noticed.values()), "back": (back_at - killed_at) * 1000, "join": join_ms[0],
                "worker": worker["index"]}
    finally:
        await asyncio.gather(*(c.close() for c in members), return_exceptions=True)


async def run(args) -> int:
    with tempfile.TemporaryDirectory(prefix="sitroom-failover-") as tmp:
        server = start_server(Path(tmp), "--media-workers", "2", "--log-level", "warning")
        try:
            rounds = []
            for i in range(args.rounds):
                try:
                    r = await asyncio.wait_for(one_round(server, args.participants, i + 1), 120)
                except Exception as exc:  # noqa: BLE001 - a failed round is reported, the others go on
                    print(f"round {i + 1}: failed: {type(exc).__name__}: {exc}", flush=True)
                    continue
                rounds.append(r)
                print(f"round {i + 1}: worker {r['worker']} killed; noticed {r['noticed']:.0f} ms, media back "
                      f"{r['back']:.0f} ms; a fresh join's first frames {r['join']:.0f} ms", flush=True)
                await asyncio.sleep(3)  # the pool replaces the killed worker meanwhile
        finally:
            stop_server(server)
    if not rounds:
        print("failover: noticed_ms=- noticed_max_ms=- media_back_ms=- media_back_max_ms=- join_ms=- ratio=-")
        return 1
    noticed = [r["noticed"] for r in rounds]
    back = [r["back"] for r in rounds]
    join = [r["join"] for r in rounds]
    print()
    print(f"media worker killed (SIGKILL) under a meeting of {args.participants + 1} aiortc participants, "
          f"{len(rounds)} of {args.rounds} rounds (ms from the kill)")
    print(f"{'':>28} {'p50':>8} {'max':>8}")
    print(f"{'noticed (media_reset)':>28} {statistics.median(noticed):>8.0f} {max(noticed):>8.0f}")
    print(f"{'media back (every stream)':>28} {statistics.median(back):>8.0f} {max(back):>8.0f}")
    print(f"{'baseline: a fresh join':>28} {statistics.median(join):>8.0f} {max(join):>8.0f}")
    ratio = statistics.median(back) / statistics.median(join)
    print(f"ratio media back / fresh join: {ratio:.2f}")
    print(f"targets: noticed within {TARGET_NOTICED_MS:.0f} ms: {'met' if max(noticed) <= TARGET_NOTICED_MS else 'NOT met'}; "
          f"media back within {TARGET_BACK_MS:.0f} ms: {'met' if max(back) <= TARGET_BACK_MS else 'NOT met'}")
    print(f"failover: noticed_ms={statistics.median(noticed):.0f} noticed_max_ms={max(noticed):.0f} "
          f"media_back_ms={statistics.median(back):.0f} media_back_max_ms={max(back):.0f} "
          f"join_ms={statistics.median(join):.0f} ratio={ratio:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--participants", type=int, default=3, help="participants before the late joiner")
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
