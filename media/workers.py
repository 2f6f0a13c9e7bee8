"""WorkerPool: routers in media worker processes (``python -m media.worker``), behind the
MediaService API (media/service.py).

Each worker is an OS process running its own SFU on the batching event loop; packets never leave
it. The pool talks to each over a Unix socketpair (media/channel.py) carrying control messages
only: requests (add a peer, its SDP, pauses, stats) and the worker's events (router events,
subscribe offers, a load report twice a second).

- **Placement**: a new room goes to the least-loaded live worker: fewest peers (as the pool
  counts them: the peers it added to that worker's rooms), then lowest CPU (the worker's last
  load report, compared in steps of ``CPU_STEP`` percent, so that noise between idle workers does
  not decide), then fewest rooms, then lowest index. A room keeps its worker while it lives.
- **Death**: a worker that exits (channel EOF or its process ending, whichever comes first), or
  that sends nothing for ``hang_timeout`` seconds (then it is killed), is marked dead: its pending
  requests fail with WorkerLost, its routers are forgotten (their handles fail with WorkerLost
  from then on), ``on_worker_lost(index, room_ids)`` is called, and a replacement process for the
  same index starts in the background (after a back-off if workers keep dying young).
  ``open_router`` for those rooms then places them on a live worker; the server re-adds the
  peers and the clients renegotiate.
- **No orphans**: workers set ``PR_SET_PDEATHSIG`` (SIGKILL) and exit on channel EOF, so they die
  with this process even if it is killed with SIGKILL. ``close()`` asks each worker to stop,
  waits briefly, kills what is left, and reaps every child. (The death signal is tied to the
  thread that started the worker: start the pool from the thread that runs the server's loop.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import site
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

from .channel import REQUEST_TIMEOUT, Channel, encode
from .config import MediaConfig
from .service import (
    GAUGES, EventHook, OfferCallback, WorkerError, WorkerLost, WorkerLostHook, config_to_dict, sum_stats,
)

logger = logging.getLogger(__name__)

READY_TIMEOUT = 30.0  # a new worker process has this long to import and say it is ready
STOP_TIMEOUT = 5.0  # close(): how long a worker asked to stop may take before it is killed (it closes
# its SFU within media.worker.STOP_TIMEOUT, 3 s)
HANG_TIMEOUT = 10.0  # a worker that sends nothing (not even its load reports) for this long is killed
CPU_STEP = 5.0  # placement compares CPU in steps of this many percent
RESTART_DELAY_MAX = 30.0
YOUNG = 10.0  # a worker dying within this many seconds of starting doubles the restart delay

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # where `media` is importable from


def _worker_env() -> dict:
    """The environment of a worker: this process's, with the folder this ``media`` package was
    imported from first on PYTHONPATH (a source checkout may not be the installed copy), unless
    that folder is site-packages (already on the path, and it must not outrank the standard library)."""
    env = dict(os.environ)
    if _PACKAGE_ROOT not in site.getsitepackages() + [site.getusersitepackages()]:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


# -P (3.11+): the worker's working directory does not go first on sys.path, so a `media` folder
# there cannot shadow this package
_PYTHON_FLAGS = ["-P"] if sys.version_info >= (3, 11) else []


class _Worker:
    """One worker process (a replacement for the same index is a new _Worker)."""

    def __init__(self, pool: "WorkerPool", index: int) -> None:
        self.pool = pool
        self.index = index
        self.proc: Optional[asyncio.subprocess.Process] = None
        self.channel: Optional[Channel] = None
        self.pid: Optional[int] = None
        self.alive = False  # ready and not lost
        self.lost = False
        self.started = time.monotonic()
        self.last_seen = time.monotonic()
        self.ready: Optional[asyncio.Future] = None
        self.load: dict = {}
        self.cpu_pct = 0.0
        self.monitor: Optional[asyncio.Task] = None

    @property
    def name(self) -> str:
        return f"media-worker[{self.index}] pid {self.pid}"

    async def request(self, method: str, params: dict, timeout: Optional[float] = None) -> Any:
        if self.lost or self.channel is None:
            raise WorkerLost(f"{self.name} is gone")
        return await self.channel.request(method, params, timeout or self.pool.request_timeout)


class PoolPeerHandle:
    def __init__(self, router: "PoolRouterHandle", peer_id: str, on_subscribe_offer: OfferCallback) -> None:
        self.router = router
        self.id = peer_id
        self.on_subscribe_offer = on_subscribe_offer
        self.added: asyncio.Future = asyncio.get_running_loop().create_future()  # add_peer answered
        self._offers: Optional[asyncio.Task] = None  # the latest offer's callback (offers run in order)

    async def _call(self, method: str, **params) -> Any:
        params["room"] = self.router.room_id
        params["peer"] = self.id
        return await self.router._worker.request(method, params)

    async def publish(self, offer_sdp: str, sources: dict) -> str:
        return await self._call("publish", sdp=offer_sdp, sources=sources)

    async def subscribe_answer(self, sdp: str, revision: int) -> None:
        await self._call("subscribe_answer", sdp=sdp, revision=revision)

    async def set_paused(self, source: str, paused: bool) -> None:
        await self._call("set_paused", source=source, paused=paused)

    async def set_consumer_paused(self, producer_peer_id: str, source: str, paused: bool) -> int:
        return await self._call("set_consumer_paused", producer_peer=producer_peer_id, source=source, paused=paused)

    async def set_consumer_paused_by_producer(self, producer_id: str, paused: bool) -> bool:
        return await self._call("set_consumer_paused_by_producer", producer_id=producer_id, paused=paused)

    def _offer(self, sdp: str, revision: int, consumers: list) -> None:
        previous = self._offers

        async def deliver() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await self.added  # the server holds this handle before its first offer arrives
            try:
                await self.on_subscribe_offer(sdp, revision, consumers)
            except Exception:
                logger.exception("on_subscribe_offer callback for %s failed", self.id)

        self._offers = asyncio.ensure_future(deliver())


class PoolRouterHandle:
    def __init__(self, pool: "WorkerPool", room_id: str, worker: _Worker, on_event: Optional[EventHook]) -> None:
        self._pool = pool
        self._worker = worker
        self.room_id = room_id
        self.worker: Optional[int] = worker.index
        self.on_event = on_event
        self.peers: dict[str, PoolPeerHandle] = {}
        self.closed = False

    @property
    def pid(self) -> Optional[int]:
        return self._worker.pid

    async def add_peer(self, peer_id: str, on_subscribe_offer: OfferCallback) -> PoolPeerHandle:
        if self.closed:  # closed, then used again: the room opens again on the same worker, if it can
            self._pool._reopen(self)
        handle = PoolPeerHandle(self, peer_id, on_subscribe_offer)
        self.peers[peer_id] = handle  # before the request: its first offer may come before the reply
        try:
            await self._worker.request("add_peer", {"room": self.room_id, "peer": peer_id})
        except BaseException:
            if self.peers.get(peer_id) is handle:
                del self.peers[peer_id]
            handle.added.cancel()
            raise
        handle.added.set_result(None)
        return handle

    async def remove_peer(self, peer_id: str) -> None:
        handle = self.peers.pop(peer_id, None)
        if handle is not None and not handle.added.done():
            handle.added.cancel()
        if self._worker.lost:
            return  # its router is gone with its worker: nothing left to remove
        await self._worker.request("remove_peer", {"room": self.room_id, "peer": peer_id})

    async def close(self) -> None:
        """The room is over: close its router in the worker and forget it."""
        self.closed = True
        self._pool._forget(self)
        for handle in self.peers.values():
            if not handle.added.done():
                handle.added.cancel()
        self.peers.clear()
        if not self._worker.lost:
            await self._worker.request("close_router", {"room": self.room_id})

    def _event(self, kind: str, data: dict) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, data)
            except Exception:
                logger.exception("router event hook failed")


class WorkerPool:
    """``count`` media worker processes behind the MediaService API."""

    def __init__(self, config: Optional[MediaConfig] = None, count: int = 1, rx_batch_ms: float = 1.0, *,
                 request_timeout: float = REQUEST_TIMEOUT, hang_timeout: float = HANG_TIMEOUT,
                 python: Optional[str] = None, log_level: Optional[int | str] = None) -> None:
        if count < 1:
            raise ValueError(f"a worker pool needs at least one worker, not {count}")
        self.config = config or MediaConfig()
        self.count = count
        self.rx_batch_ms = rx_batch_ms
        self.request_timeout = request_timeout
        self.hang_timeout = hang_timeout
        self.python = python or sys.executable
        self.log_level = log_level if log_level is not None else logging.getLogger("media").getEffectiveLevel()
        self.on_worker_lost: Optional[WorkerLostHook] = None
        self.workers: list[Optional[_Worker]] = [None] * count
        self._routers: dict[str, PoolRouterHandle] = {}
        self._retired: dict = {}  # last known counters of workers that died
        self._tasks: set[asyncio.Task] = set()
        self._procs: set[asyncio.subprocess.Process] = set()  # every child not reaped yet
        self._restart_delay = [0.0] * count
        self._live = asyncio.Event()  # set while some worker is alive
        self._watchdog: Optional[asyncio.Task] = None
        self._started = False
        self._closing = False

    # lifecycle

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._live = asyncio.Event()
        try:
            await asyncio.gather(*(self._spawn(i) for i in range(self.count)))
        except BaseException:
            await self.close()
            raise
        self._watchdog = asyncio.ensure_future(self._watch())

    @property
    def pids(self) -> list[Optional[int]]:
        """The pid of each worker index (None while one is being replaced)."""
        return [w.pid if w is not None and w.alive else None for w in self.workers]

    async def _spawn(self, index: int) -> _Worker:
        """Start the worker process for ``index`` and wait until it is ready."""
        worker = _Worker(self, index)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            env = _worker_env()
            # the start-up parameters wait in the socket for the worker to read them
            ours.sendall(encode({
                "index": index, "config": config_to_dict(self.config), "rx_batch_ms": self.rx_batch_ms,
                "log_level": self.log_level,
            }))
            worker.proc = await asyncio.create_subprocess_exec(
                self.python, *_PYTHON_FLAGS, "-m", "media.worker", "--fd", str(theirs.fileno()), "--index", str(index),
                "--parent", str(os.getpid()),
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=2, env=env,  # a worker's stdout goes to our stderr
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._procs.add(worker.proc)
        worker.pid = worker.proc.pid
        worker.ready = asyncio.get_running_loop().create_future()
        try:
            worker.channel = await Channel.open(
                ours, on_event=lambda message: self._on_event(worker, message),
                on_close=lambda exc: self._lost(worker, f"channel closed ({worker.channel.close_reason})"
                                                if worker.channel else "channel closed"),
                name=f"media-worker[{index}]",
            )
            worker.monitor = asyncio.ensure_future(self._monitor(worker))
            await asyncio.wait_for(asyncio.shield(worker.ready), READY_TIMEOUT)
            if worker.lost:  # it died between saying it was ready and now
                raise WorkerLost(f"{worker.name} died while starting")
        except BaseException as exc:
            logger.error("media worker %d did not start: %r", index, exc)
            worker.lost = True
            if worker.channel is not None:
                worker.channel.close("start-up failed")
            await self._reap(worker.proc, 0)
            raise
        worker.alive = True
        worker.started = worker.last_seen = time.monotonic()
        self.workers[index] = worker
        self._live.set()
        logger.info("media worker %d started (pid %d)", index, worker.pid)
        return worker

    async def _monitor(self, worker: _Worker) -> None:
        code = await worker.proc.wait()
        self._procs.discard(worker.proc)
        self._lost(worker, f"process exited with {code}")

    async def _reap(self, proc: Optional[asyncio.subprocess.Process], grace: float) -> None:
        """Wait up to ``grace`` seconds for ``proc`` to exit, then kill it; reap it either way."""
        if proc is None:
            return
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except asyncio.TimeoutError:
                pass
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except asyncio.TimeoutError:
                logger.error("media worker pid %d did not die after SIGKILL", proc.pid)
                return
        self._procs.discard(proc)

    async def close(self) -> None:
        """Ask every worker to stop, wait briefly, kill what is left and reap every child."""
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

        async def stop(worker: _Worker) -> None:
            started = time.monotonic()
            if not worker.lost:
                try:
                    await worker.request("stop", {}, timeout=1.0)
                except Exception:
                    pass
            await self._reap(worker.proc, max(0.0, STOP_TIMEOUT - (time.monotonic() - started)))
            if worker.channel is not None:
                worker.channel.close("pool closed")
            if worker.monitor is not None:
                worker.monitor.cancel()

        await asyncio.gather(*(stop(w) for w in self.workers if w is not None), return_exceptions=True)
        await asyncio.gather(*(self._reap(p, 0) for p in list(self._procs)), return_exceptions=True)
        for worker in self.workers:
            if worker is not None:
                worker.alive = False
                worker.lost = True
        self._routers.clear()

    # death and replacement

    def _lost(self, worker: _Worker, reason: str) -> None:
        if worker.lost:
            return
        worker.lost = True
        worker.alive = False
        if not self._closing:
            logger.error("media worker %d (pid %s) lost: %s", worker.index, worker.pid, reason)
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_exception(WorkerLost(f"{worker.name} died while starting: {reason}"))
            worker.ready.exception()  # retrieved
        if worker.channel is not None:
            worker.channel.close(reason)  # pending requests fail now
        if worker.proc is not None and worker.proc.returncode is None:
            try:
                worker.proc.kill()  # hung, or it broke the protocol: make sure it is gone
            except ProcessLookupError:
                pass
        stats = worker.load.get("stats")
        if stats:
            counters = {k: v for k, v in stats.items() if k not in GAUGES}
            self._retired = sum_stats([self._retired, counters])
        rooms = [room for room, handle in self._routers.items() if handle._worker is worker]
        for room in rooms:
            del self._routers[room]
        if not any(w is not None and w.alive for w in self.workers):
            self._live.clear()
        if self._closing or self.workers[worker.index] is not worker:
            return
        self._background(self._replace(worker))
        if self.on_worker_lost is not None:
            self._background(self._notify(worker.index, rooms))

    async def _notify(self, index: int, rooms: list[str]) -> None:
        try:
            await self.on_worker_lost(index, rooms)
        except Exception:
            logger.exception("on_worker_lost hook failed")

    async def _replace(self, dead: _Worker) -> None:
        index = dead.index
        young = time.monotonic() - dead.started < YOUNG
        self._restart_delay[index] = min(RESTART_DELAY_MAX, max(1.0, 2 * self._restart_delay[index])) if young else 0.0
        await self._reap(dead.proc, 1.0)
        while not self._closing:
            delay = self._restart_delay[index]
            if delay:
                logger.info("restarting media worker %d in %.0f s", index, delay)
                await asyncio.sleep(delay)
            try:
                await self._spawn(index)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self._restart_delay[index] = min(RESTART_DELAY_MAX, max(1.0, 2 * delay))

    def _background(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self) -> None:
        """Kill a worker that has sent nothing (not even a load report) for ``hang_timeout``."""
        while not self._closing:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for worker in self.workers:
                if worker is not None and worker.alive and now - worker.last_seen > self.hang_timeout:
                    self._lost(worker, f"silent for {now - worker.last_seen:.1f} s")

    # events from workers

    def _on_event(self, worker: _Worker, message: dict) -> None:
        worker.last_seen = time.monotonic()
        event = message.get("event")
        if event == "router":
            handle = self._routers.get(message.get("room"))
            if handle is not None and handle._worker is worker:
                handle._event(message.get("kind"), message.get("data"))
        elif event == "offer":
            handle = self._routers.get(message.get("room"))
            if handle is not None and handle._worker is worker:
                peer = handle.peers.get(message.get("peer"))
                if peer is not None:
                    peer._offer(message.get("sdp"), message.get("revision"), message.get("consumers") or [])
        elif event == "load":
            worker.load = message
            worker.cpu_pct = float(message.get("cpu_pct") or 0.0)
        elif event == "ready":
            if worker.ready is not None and not worker.ready.done():
                worker.ready.set_result(message)
        else:
            logger.warning("%s: unknown event %r", worker.name, event)

    # routers

    def _peers_on(self, worker: _Worker) -> int:
        return sum(len(h.peers) for h in self._routers.values() if h._worker is worker)

    def _rooms_on(self, worker: _Worker) -> int:
        return sum(1 for h in self._routers.values() if h._worker is worker)

    def _place(self) -> Optional[_Worker]:
        live = [w for w in self.workers if w is not None and w.alive]
        if not live:
            return None
        return min(live, key=lambda w: (self._peers_on(w), int(w.cpu_pct // CPU_STEP), self._rooms_on(w), w.index))

    async def open_router(self, room_id: str, on_event: Optional[EventHook] = None) -> PoolRouterHandle:
        """The room's router: where it is, or on the least-loaded live worker (waiting up to the
        request timeout for one if every worker is being replaced). ``on_event`` replaces the
        room's hook."""
        if self._closing:
            raise WorkerLost("the worker pool is closed")
        if not self._started:
            await self.start()
        handle = self._routers.get(room_id)
        if handle is not None and not handle._worker.lost:
            handle.on_event = on_event
            return handle
        while True:
            worker = self._place()
            if worker is None:
                try:
                    await asyncio.wait_for(self._live.wait(), self.request_timeout)
                except asyncio.TimeoutError:
                    raise WorkerLost("no media worker is alive") from None
                continue
            handle = self._routers.get(room_id)  # opened meanwhile by another caller
            if handle is not None and not handle._worker.lost:
                handle.on_event = on_event
                return handle
            handle = PoolRouterHandle(self, room_id, worker, on_event)
            self._routers[room_id] = handle
            try:
                await worker.request("open_router", {"room": room_id})
            except WorkerLost:
                if self._routers.get(room_id) is handle:
                    del self._routers[room_id]
                continue  # that worker died just now: place the room elsewhere
            except BaseException:
                if self._routers.get(room_id) is handle:
                    del self._routers[room_id]
                raise
            return handle

    def _reopen(self, handle: PoolRouterHandle) -> None:
        if handle._worker.lost:
            raise WorkerLost(f"{handle._worker.name} is gone")
        if self._routers.setdefault(handle.room_id, handle) is not handle:
            raise WorkerError(f"room {handle.room_id!r} was closed and opened again: use the new handle")
        handle.closed = False

    def _forget(self, handle: PoolRouterHandle) -> None:
        if self._routers.get(handle.room_id) is handle:
            del self._routers[handle.room_id]

    def router_of(self, room_id: str) -> Optional[PoolRouterHandle]:
        return self._routers.get(room_id)

    # stats

    async def stats(self) -> dict:
        """SFU.stats() summed over the workers (counters of dead workers included, as last
        reported), plus ``workers``: one entry per index."""
        workers = [w for w in self.workers if w is not None]

        async def one(worker: _Worker) -> Optional[dict]:
            if not worker.alive:
                return None
            try:
                return await worker.request("stats", {}, timeout=min(self.request_timeout, 5.0))
            except Exception:
                return worker.load.get("stats")

        fresh = await asyncio.gather(*(one(w) for w in workers))
        parts = [s for s in fresh if s]
        total = sum_stats(parts + [self._retired])
        from .local import _EMPTY_SFU
        from .sfu import SFU

        stats = {key: total.get(key, 0) for key in SFU.stats(_EMPTY_SFU)}
        entries = []
        for index in range(self.count):
            worker = self.workers[index]
            part = next((s for w, s in zip(workers, fresh) if w is worker and s), None) or {}
            entries.append({
                "index": index,
                "pid": worker.pid if worker is not None else None,
                "alive": bool(worker is not None and worker.alive),
                "cpu_pct": worker.cpu_pct if worker is not None and worker.alive else 0.0,
                "rooms": part.get("routers", 0),
                "peers": part.get("peers", 0),
                "rtp_packets_in": part.get("rtp_packets_in", 0),
                "rtp_packets_out": part.get("rtp_packets_out", 0),
            })
        stats["workers"] = entries
        return stats
