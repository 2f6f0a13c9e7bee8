"""How fast a stage change reaches everyone: host emit -> each client's receipt.

Starts the real server (a subprocess, SQLite, loopback only), joins N Socket.IO clients to one room
from worker processes, and has the host change the stage ``--changes`` times. Every client stamps
the arrival of each ``stage`` event with CLOCK_MONOTONIC (one clock for all processes on Linux);
the host stamps each emit. Prints a table for a baseline run with one client and for N clients,
the ratio of the two, and last a one-line summary:

    push: clients=50 p50_ms=<> p95_ms=<> max_ms=<>

Usage: .venv/bin/python bench/push_latency.py [--clients 50] [--changes 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import socketio  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402

JOIN_TIMEOUT = 30
TARGET_P95_MS = 200


def _now_ms() -> float:
    return time.monotonic_ns() / 1e6


async def _client_worker(base_url: str, token: str, count: int, expected: int, ready, out) -> None:
    arrivals: dict[int, list[float]] = {}
    clients = []
    done = asyncio.Event()
    seen = [0]

    def make_handler():
        async def on_stage(data):
            arrivals.setdefault(data["version"], []).append(_now_ms())
            seen[0] += 1
            if seen[0] >= expected * count:
                done.set()
        return on_stage

    for i in range(count):
        client = socketio.AsyncClient(reconnection=False)
        client.on("stage", make_handler())
        await asyncio.wait_for(client.connect(base_url, transports=["websocket"]), JOIN_TIMEOUT)
        ack = await client.call("join", {"token": token, "name": f"Listener {i}"}, timeout=JOIN_TIMEOUT)
        assert ack["ok"], ack
        clients.append(client)
    ready.release()
    try:
        await asyncio.wait_for(done.wait(), timeout=60 + expected * 0.5)
    except asyncio.TimeoutError:
        pass
    out.put(arrivals)
    for client in clients:
        await client.disconnect()


def _run_worker(*args) -> None:
    asyncio.run(_client_worker(*args))


async def _host(base_url: str, token: str, changes: int, interval: float) -> dict[int, float]:
    host = socketio.AsyncClient(reconnection=False)
    await host.connect(base_url, transports=["websocket"])
    ack = await host.call("join", {"token": token, "name": "Host"}, timeout=JOIN_TIMEOUT)
    assert ack["ok"], ack
    panel = await host.call("panel_create", {"title": "Bench", "kind": "kpi",
                                             "source": {"type": "simulated", "feed": "traffic", "interval_s": 60}},
                            timeout=JOIN_TIMEOUT)
    assert panel["ok"], panel
    sent: dict[int, float] = {}
    version = ack["stage"]["version"]
    for i in range(changes):
        payload = {"kind": "panel", "panel_id": panel["panel"]["id"]} if i % 2 == 0 else {"kind": "empty"}
        payload["expected_version"] = version  # as the browser client sends it (no other presenter here)
        stamp = _now_ms()
        reply = await host.call("stage_set", payload, timeout=JOIN_TIMEOUT)
        assert reply["ok"], reply
        version = reply["stage"]["version"]
        sent[version] = stamp
        await asyncio.sleep(interval)
    await host.disconnect()
    return sent


def measure(clients: int, changes: int, interval: float, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        try:
            room = server.create_room("Push latency")
            host_token = room["links"]["host"].split("?t=")[1]
            guest_token = room["links"]["participant"].split("?t=")[1]
            ctx = mp.get_context("spawn")
            ready, out = ctx.Semaphore(0), ctx.Queue()
            per = [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)]
            procs = [ctx.Process(target=_run_worker, args=(server.base_url, guest_token, n, changes, ready, out))
                     for n in per if n]
            for p in procs:
                p.start()
            for _ in procs:
                if not ready.acquire(timeout=JOIN_TIMEOUT * 2):
                    raise RuntimeError("clients did not join in time")
            cpu_before = server.cpu_seconds()
            wall = time.monotonic()
            sent = asyncio.run(_host(server.base_url, host_token, changes, interval))
            arrivals: dict[int, list[float]] = {}
            for _ in procs:
                for version, stamps in out.get(timeout=120).items():
                    arrivals.setdefault(version, []).extend(stamps)
            cpu = (server.cpu_seconds() - cpu_before) / (time.monotonic() - wall) * 100
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()
        finally:
            stop_server(server)
    latencies = sorted(stamp - sent[v] for v, stamps in arrivals.items() if v in sent for stamp in stamps)
    expected = clients * changes
    if not latencies:
        raise RuntimeError("no stage event arrived")

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"clients": clients, "received": len(latencies), "expected": expected,
            "p50": statistics.median(latencies), "p95": pct(0.95), "max": latencies[-1], "cpu": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between stage changes")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--quick", action="store_true", help="20 clients, 50 changes")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.changes = 20, 50

    baseline = measure(1, args.changes, args.interval, 1)
    result = measure(args.clients, args.changes, args.interval, args.workers)

    print(f"{'clients':>8} {'received':>10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'server CPU %':>13}")
    for r in (baseline, result):
        print(f"{r['clients']:>8} {r['received']:>5}/{r['expected']:<5}"
              f"{r['p50']:>8.2f} {r['p95']:>8.2f} {r['max']:>8.2f} {r['cpu']:>13.1f}")
    ratio = result["p95"] / baseline["p95"] if baseline["p95"] else float("inf")
    print(f"ratio p95 {result['clients']} clients / 1 client (baseline, same session): {ratio:.1f}x")
    met = "met" if result["p95"] < TARGET_P95_MS else "NOT met"
    print(f"target p95 < {TARGET_P95_MS} ms: {met}")
    print(f"push: clients={result['clients']} p50_ms={result['p50']:.2f} p95_ms={result['p95']:.2f} "
          f"max_ms={result['max']:.2f}")
    return 0 if result["received"] == result["expected"] else 1


if __name__ == "__main__":
    sys.exit(main())
