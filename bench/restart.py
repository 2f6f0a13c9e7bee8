"""Server restarts: how long a meeting's clients are out when the server is restarted on its data.

The real server (``sitroom serve``, a subprocess on 127.0.0.1, SQLite in a temporary data dir) holds a
meeting of N python-socketio clients. The host puts a panel on the stage and one participant raises a
hand; once the room's state is written, the server is stopped in one of two ways and started again on
the same data dir and port:

- ``SIGKILL`` (the baseline: nothing is done on the way out);
- ``SIGTERM`` (the graceful stop: every client is told ``server_restarting`` and closed at once).

Each client comes back as the browser does (client_web/src/connection.js, socket.io-client's
Manager): on a lost connection it reconnects after a back-off of ``reconnectionDelay * 2^attempt``
with randomization 0.5, at most ``reconnectionDelayMax`` (500 ms / 5000 ms; 250 ms / 1000 ms once the
server said ``server_restarting``), and then sends ``join`` with the resume key of its first join ack.
Timed from the signal:

- exit: until the old process has exited;
- healthz: until the new process (started once the old one has exited) answers /healthz;
- rejoin: until each client's ``join`` is acknowledged again (median and max over the clients);
  "- healthz" is the max less healthz: how long the clients' back-off kept them out of a server that
  was answering.

"state kept" says whether every client came back as the same participant and found the stage (the
panel) and the raised hand as they were. Each way is repeated ``--rounds`` times (the ways
alternate; a new room each round) and the medians over the rounds are reported, with the ratio
SIGTERM / SIGKILL of the time until all clients were joined again.

``--repo PATH`` runs another checkout's server (cwd and PYTHONPATH set to it), e.g. a worktree of an
older commit, to measure its behaviour with the same clients.

Prints a table, the ratio, and last one line:

    restart: clients=<N> rounds=<R> kill_exit_ms=<> kill_healthz_ms=<> kill_all_ms=<> term_exit_ms=<> ...

Usage: .venv/bin/python bench/restart.py [--clients 10] [--rounds 3] [--repo PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import socketio  # noqa: E402

from tests.conftest import ADMIN_TOKEN, ORGANISER_KEY, TEST_RATE_LIMIT_SCALE, free_port  # noqa: E402
from tests.room_harness import token_of  # noqa: E402

CALL_TIMEOUT = 15.0  # one request's ack
CONNECT_TIMEOUT = 20.0  # one connection attempt (socket.io-client's Manager `timeout`)
REJOIN_TIMEOUT = 60.0  # from the signal until every client is joined again
START_TIMEOUT = 30.0  # a server process until /healthz answers
EXIT_TIMEOUT = 30.0  # a signalled process until it has exited
NORMAL = (500, 5000)  # reconnectionDelay, reconnectionDelayMax (client_web/src/connection.js)
BRISK = (250, 1000)  # the same after `server_restarting` (Connection.brisk)
JITTER = 0.5  # socket.io-client's default randomizationFactor
PANEL = {"title": "Traffic now", "kind": "kpi",
         "source": {"type": "simulated", "feed": "traffic", "interval_s": 5}, "options": {}}
WAYS = (("SIGKILL", signal.SIGKILL), ("SIGTERM", signal.SIGTERM))


def backoff_ms(low: int, high: int, attempt: int, rng: random.Random) -> int:
    """socket.io-client's Backoff.duration (contrib/backo2.js) for the ``attempt``-th try (from 0)."""
    ms = low * 2 ** attempt
    rand = rng.random()
    deviation = math.floor(rand * JITTER * ms)
    ms = ms - deviation if (math.floor(rand * 10) & 1) == 0 else ms + deviation
    return int(min(ms, high))


class Server:
    """One ``sitroom serve`` process of ``repo`` on ``data`` and ``port``."""

    def __init__(self, repo: Path, tmp: Path, port: int, index: int):
        cli = (repo / "server" / "cli.py").read_text()
        cmd = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(tmp / "data"), "--secret", "bench-secret", "--ice-address", "127.0.0.1",
               "--test-mode", "--admin-token", ADMIN_TOKEN]
        # what this checkout knows of the flags tests/conftest.py start_server passes
        for flag, value in (("--max-connections-per-address", "1000"), ("--organiser-key", ORGANISER_KEY),
                            ("--rate-limit-scale", str(TEST_RATE_LIMIT_SCALE))):
            if f'"{flag}"' in cli:
                cmd += [flag, value]
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = tmp / f"server-{index}.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
                                         stdout=log, stderr=subprocess.STDOUT)

    async def healthy(self, http: aiohttp.ClientSession) -> float:
        """time.monotonic() when /healthz first answered 200 (polled every 10 ms)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                async with http.get(self.base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        return time.monotonic()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.01)
        raise TimeoutError(f"server did not answer /healthz within {START_TIMEOUT:.0f} s")

    def create_room(self, title: str) -> dict:
        request = urllib.request.Request(
            self.base_url + "/api/rooms", data=json.dumps({"title": title}).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {ORGANISER_KEY}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=EXIT_TIMEOUT)


class Member:
    """A meeting client that comes back after a lost connection by the browser's rule."""

    def __init__(self, base_url: str, token: str, name: str, rng: random.Random):
        self.base_url, self.token, self.name, self.rng = base_url, token, name, rng
        self.device = f"bench-{name}"
        self.sio: socketio.AsyncClient | None = None
        self.generation = 0  # the current connection's; a disconnect of an older one is ignored
        self.closing = False
        self.restarting = False  # `server_restarting` received since the last join
        self.told = False  # received `server_restarting` in this round
        self.first: dict | None = None  # the first join ack
        self.ack: dict | None = None  # the latest
        self.hands: list | None = None  # the raised hands as this client last heard (join ack, `hands`)
        self.back = asyncio.Event()
        self.back_at = 0.0
        self.attempts = 0
        self.task: asyncio.Task | None = None

    async def _open(self) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        self.generation += 1
        generation = self.generation
        sio.on("server_restarting", self._on_restarting)
        sio.on("hands", self._on_hands)
        sio.on("disconnect", lambda *reason: self._on_disconnect(generation))
        self.sio = sio
        await asyncio.wait_for(sio.connect(self.base_url, transports=["websocket"], socketio_path="/socket.io"),
                               CONNECT_TIMEOUT)

    async def call(self, event: str, payload: dict) -> dict:
        return await asyncio.wait_for(self.sio.call(event, payload, timeout=CALL_TIMEOUT), CALL_TIMEOUT + 1)

    async def _join(self) -> dict:
        payload = {"token": self.token, "name": self.name, "device_id": self.device}
        if self.first is not None:
            payload["resume_key"] = self.first["resume_key"]
        return await self.call("join", payload)

    async def start(self) -> None:
        await self._open()
        ack = await self._join()
        if not ack.get("ok"):
            raise RuntimeError(f"{self.name}: join refused: {ack}")
        self.first = self.ack = ack
        self.hands = ack.get("hands")

    def _on_hands(self, data=None) -> None:
        if isinstance(data, dict):
            self.hands = data.get("queue")

    def _on_restarting(self, data=None) -> None:
        self.restarting = True
        self.told = True

    def _on_disconnect(self, generation: int) -> None:
        if self.closing or generation != self.generation or (self.task and not self.task.done()):
            return
        self.task = asyncio.get_running_loop().create_task(self._come_back())

    async def _drop(self) -> None:
        self.generation += 1  # (its disconnect is ours)
        sio, self.sio = self.sio, None
        if sio is not None:
            try:
                await asyncio.wait_for(sio.disconnect(), 5)
            except Exception:  # noqa: BLE001 - already gone
                pass

    async def _come_back(self) -> None:
        """socket.io-client's Manager.reconnect: wait the back-off, try; until it connects. Then
        join (meeting.js establish); a refused or unanswered join starts over on a new connection."""
        attempt = 0
        while not self.closing:
            low, high = BRISK if self.restarting else NORMAL
            await asyncio.sleep(backoff_ms(low, high, attempt, self.rng) / 1000)
            attempt += 1
            self.attempts += 1
            try:
                await self._open()
                ack = await self._join()
            except Exception:  # noqa: BLE001 - refused, reset or timed out: the next attempt
                await self._drop()
                continue
            if ack.get("ok") and ack.get("self"):
                self.ack, self.back_at, self.restarting = ack, time.monotonic(), False
                self.hands = ack.get("hands")
                self.back.set()
                return
            await self._drop()

    async def close(self) -> None:
        self.closing = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        await self._drop()


def state_lost(members: list[Member], panel_id: str, raiser: Member) -> str:
    """What the server did not give back ('' when every client came back as the same participant,
    finds the panel on stage, and the one with the hand finds it raised and in the queue)."""
    for m in members:
        ack, me = m.ack, m.ack.get("self") or {}
        stage = ack.get("stage") or {}
        if not ack.get("resumed") or me.get("id") != m.first["self"]["id"]:
            return f"{m.name} came back as someone else (resumed={ack.get('resumed')})"
        if stage.get("kind") != "panel" or stage.get("panel_id") != panel_id:
            return f"{m.name} finds the stage {stage.get('kind')}"
    raiser_id = raiser.first["self"]["id"]
    if raiser.ack["self"].get("hand_raised") is not True or raiser.ack.get("hands") != [raiser_id]:
        return f"{raiser.name}'s hand is down (queue {raiser.ack.get('hands')})"
    return ""


def stale_hands(members: list[Member], raiser: Member) -> list[Member]:
    """The clients whose view of the raised hands (their join ack, then `hands` events, in the order
    they arrived: what the browser shows) lacks the hand."""
    return [m for m in members if m.hands != [raiser.first["self"]["id"]]]


async def until_kept(db_path: Path, room_id: str) -> None:
    """Until the room's stage and hand are written (room_states); a checkout without the table keeps
    nothing, so there is nothing to wait for but a moment."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with closing(sqlite3.connect(db_path, timeout=5)) as db:
                row = db.execute("SELECT stage, meeting FROM room_states WHERE room_id = ?", (room_id,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                await asyncio.sleep(0.5)
                return
            raise
        if row is not None and (json.loads(row[0]).get("state") or {}).get("kind") == "panel" and json.loads(row[1]).get("hands"):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the room's state was not written")


class Bench:
    def __init__(self, args, tmp: Path):
        self.args, self.tmp = args, tmp
        self.repo = Path(args.repo).resolve() if args.repo else REPO
        self.port = free_port()
        self.starts = 0
        self.server: Server | None = None
        self.rng = random.Random(args.seed)

    def launch(self) -> Server:
        self.starts += 1
        self.server = Server(self.repo, self.tmp, self.port, self.starts)
        return self.server

    async def ensure_up(self, http: aiohttp.ClientSession) -> None:
        if self.server is None or self.server.proc.poll() is not None:
            self.launch()
        await self.server.healthy(http)

    async def one_round(self, http: aiohttp.ClientSession, way: str, sig: int, index: int) -> dict:
        await self.ensure_up(http)
        server = self.server
        room = await asyncio.to_thread(server.create_room, f"Restart {index} {way}")
        links = room["links"]
        members = [Member(server.base_url, token_of(links["host" if i == 0 else "participant"]),
                          f"R{index}{way[3:]}P{i}", self.rng) for i in range(self.args.clients)]
        try:
            await asyncio.gather(*(m.start() for m in members))
            host, raiser = members[0], members[1]
            panel_id = (await host.call("panel_create", PANEL))["panel"]["id"]
            assert (await host.call("stage_set", {"kind": "panel", "panel_id": panel_id}))["ok"]
            assert (await raiser.call("hand", {"raised": True}))["ok"]
            await until_kept(self.tmp / "data" / "sitroom.db", room["room"]["id"])

            signalled = time.monotonic()
            server.proc.send_signal(sig)
            code = await asyncio.to_thread(server.proc.wait, EXIT_TIMEOUT)
            exited = time.monotonic()
            healthy = await self.launch().healthy(http)
            await asyncio.wait_for(asyncio.gather(*(m.back.wait() for m in members)),
                                   max(1.0, signalled + REJOIN_TIMEOUT - time.monotonic()))
            back = [(m.back_at - signalled) * 1000 for m in members]
            # A client back before the one with the hand hears of the hand when that one is back
            # (`hands`): give the last events a moment (bounded) to arrive before looking.
            for _ in range(30):
                if not stale_hands(members, raiser):
                    break
                await asyncio.sleep(0.1)
            return {"exit": (exited - signalled) * 1000, "code": code, "healthz": (healthy - signalled) * 1000,
                    "p50": statistics.median(back), "max": max(back), "after": max(back) - (healthy - signalled) * 1000, "told": sum(m.told for m in members),
                    "lost": state_lost(members, panel_id, raiser),
                    "stale": len(stale_hands(members, raiser)),
                    "attempts": statistics.median(m.attempts for m in members)}
        finally:
            await asyncio.gather(*(m.close() for m in members), return_exceptions=True)

    async def run(self) -> dict[str, list[dict]]:
        results: dict[str, list[dict]] = {way: [] for way, _ in WAYS}
        async with aiohttp.ClientSession() as http:
            try:
                for index in range(1, self.args.rounds + 1):
                    for way, sig in WAYS:
                        try:
                            r = await asyncio.wait_for(self.one_round(http, way, sig, index), 120)
                        except Exception as exc:  # noqa: BLE001 - a failed round is reported, the others go on
                            print(f"round {index} {way}: failed: {type(exc).__name__}: {exc}", flush=True)
                            continue
                        results[way].append(r)
                        print(f"round {index} {way}: exit {r['exit']:.0f} ms (code {r['code']}), healthz "
                              f"{r['healthz']:.0f} ms, rejoined p50 {r['p50']:.0f} / max {r['max']:.0f} ms, "
                              f"told {r['told']}/{self.args.clients}, state kept: {r['lost'] or 'yes'}, "
                              f"views without the hand: {r['stale']}",
                              flush=True)
            finally:
                if self.server is not None:
                    self.server.stop()
        return results


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(args, repo: Path, results: dict[str, list[dict]]) -> int:
    print()
    print(f"server restarted on its data ({repo}), {args.clients} clients in one room, "
          f"medians over the rounds (ms from the signal)")
    print(f"{'way':>8} {'rounds':>7} {'exit':>7} {'healthz':>8} {'rejoin p50':>11} {'all rejoined':>13} "
          f"{'- healthz':>10} {'told':>6} {'state kept':>11} {'hand not shown':>15}")
    summary = []
    for way, _ in WAYS:
        rows, short = results[way], way[3:].lower()
        if not rows:
            print(f"{way:>8} {0:>3}/{args.rounds:<3} {'-':>7} {'-':>8} {'-':>11} {'-':>13} {'-':>10} {'-':>6} {'-':>11} {'-':>15}")
            summary.append(f"{short}_exit_ms=- {short}_healthz_ms=- {short}_p50_ms=- {short}_all_ms=- "
                           f"{short}_after_healthz_ms=- {short}_kept=- {short}_hand_not_shown=-")
            continue
        kept = "no" if any(r["lost"] for r in rows) else "yes"
        told = min(r["told"] for r in rows)
        stale = f"{sum(r['stale'] for r in rows)}/{args.clients * len(rows)}"
        print(f"{way:>8} {len(rows):>3}/{args.rounds:<3} {_median(rows, 'exit'):>7.0f} {_median(rows, 'healthz'):>8.0f} "
              f"{_median(rows, 'p50'):>11.0f} {_median(rows, 'max'):>13.0f} "
              f"{_median(rows, 'after'):>10.0f} {told:>3}/{args.clients:<2} {kept:>11} "
              f"{stale:>15}")
        summary.append(f"{short}_exit_ms={_median(rows, 'exit'):.0f} {short}_healthz_ms={_median(rows, 'healthz'):.0f} "
                       f"{short}_p50_ms={_median(rows, 'p50'):.0f} {short}_all_ms={_median(rows, 'max'):.0f} "
                       f"{short}_after_healthz_ms={_median(rows, 'after'):.0f} {short}_kept={kept} {short}_hand_not_shown={stale}")
    print("(- healthz: all rejoined less healthz, what the clients' back-off adds; told: clients that got server_restarting, fewest in a round; state kept: every client came back as "
          "itself to the panel on stage, the hand raised; hand not shown: client views without the hand at the "
          "end, over all rounds)")
    kill, term = results["SIGKILL"], results["SIGTERM"]
    ratio = f"{_median(term, 'max') / _median(kill, 'max'):.2f}" if kill and term else "-"
    print(f"ratio all rejoined SIGTERM / SIGKILL (baseline, same session): {ratio}")
    print(f"restart: clients={args.clients} rounds={args.rounds} {' '.join(summary)} ratio={ratio}")
    return 0 if kill and term else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10, help="clients in the room (the first is the host)")
    parser.add_argument("--rounds", type=int, default=3, help="restarts of each way")
    parser.add_argument("--repo", help="run this checkout's server (default: this one)")
    parser.add_argument("--seed", type=int, default=1, help="of the clients' back-off randomization")
    args = parser.parse_args()
    if args.clients < 2:
        parser.error("--clients must be at least 2 (a host and a participant who raises a hand)")
    with tempfile.TemporaryDirectory(prefix="sitroom-restart-") as tmp:
        bench = Bench(args, Path(tmp))
        results = asyncio.run(bench.run())
        return report(args, bench.repo, results)


if __name__ == "__main__":
    sys.exit(main())
