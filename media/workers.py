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
- **Rooms larger than a worker** (mediasoup's ``pipeToRouter``): a room's peers go to its home
  worker, unless it is busy (``MediaConfig.span_peers``, ``span_cpu``, ``span_cpu_publishers``):
  then to the least-loaded other worker, where the room gets a *leg* (a router with the same room
  id). Each pair of legs is joined by a pipe (media/pipe.py, plain RTP on 127.0.0.1) and every
  producer of a leg is piped to every other leg (existing ones when a leg opens, new ones on its
  ``producer_added``); the source's ``producer_removed`` closes the copies, a server-enforced mute
  pauses them. The server sees one router's events (see :class:`PoolRouterHandle`). A leg other
  than home closes when its last peer leaves; a worker holding any leg that dies loses the room.
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
from .recorder import finish_manifests, manifest, merge_legs, new_recording_id
from .sfu import empty_stats
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
        self.cpu_override: Optional[float] = None  # tests: the CPU figure placement sees, whatever the reports say
        self.monitor: Optional[asyncio.Task] = None

    @property
    def name(self) -> str:
        return f"media-worker[{self.index}] pid {self.pid}"

    async def request(self, method: str, params: dict, timeout: Optional[float] = None) -> Any:
        if self.lost or self.channel is None:
            raise WorkerLost(f"{self.name} is gone")
        return await self.channel.request(method, params, timeout or self.pool.request_timeout)


class _Leg:
    """A room's router on one worker (the room's home worker, or another one it extends to)."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.peers: set[str] = set()

    @property
    def index(self) -> int:
        return self.worker.index


class _Pipe:
    """A pair of pipe transports between two legs of a room (media/pipe.py), with the producers
    sent over it (producer id -> the index of the leg it comes from)."""

    def __init__(self, pipe_id: str, a: _Leg, b: _Leg) -> None:
        self.id = pipe_id
        self.legs = {a.index: a, b.index: b}
        self.connected = False
        self.sent: dict[str, int] = {}

    def other(self, index: int) -> _Leg:
        return next(leg for i, leg in self.legs.items() if i != index)


class PoolPeerHandle:
    def __init__(self, router: "PoolRouterHandle", peer_id: str, on_subscribe_offer: OfferCallback,
                 leg: Optional[_Leg] = None) -> None:
        self.router = router
        self.id = peer_id
        self.on_subscribe_offer = on_subscribe_offer
        self.leg = leg if leg is not None else router._home_leg()
        self.added: asyncio.Future = asyncio.get_running_loop().create_future()  # add_peer answered
        self._offers: Optional[asyncio.Task] = None  # the latest offer's callback (offers run in order)

    @property
    def worker(self) -> int:
        """The index of the worker this peer was placed on (its leg of the room)."""
        return self.leg.index

    @property
    def pid(self) -> Optional[int]:
        return self.leg.worker.pid

    async def _call(self, method: str, **params) -> Any:
        if self.router._lost:
            raise WorkerLost(f"room {self.router.room_id!r} lost a worker")
        params["room"] = self.router.room_id
        params["peer"] = self.id
        return await self.leg.worker.request(method, params)

    async def publish(self, offer_sdp: str, sources: dict) -> str:
        return await self._call("publish", sdp=offer_sdp, sources=sources)

    async def subscribe_answer(self, sdp: str, revision: int) -> None:
        await self._call("subscribe_answer", sdp=sdp, revision=revision)

    async def set_paused(self, source: str, paused: bool) -> None:
        """Server-enforced mute, here and on the room's other legs (their piped producers)."""
        await self._call("set_paused", source=source, paused=paused)
        await self.router._pause_piped(self.id, source, paused)

    async def set_consumer_paused(self, producer_peer_id: str, source: str, paused: bool) -> int:
        return await self._call("set_consumer_paused", producer_peer=producer_peer_id, source=source, paused=paused)

    async def set_consumer_paused_by_producer(self, producer_id: str, paused: bool) -> bool:
        return await self._call("set_consumer_paused_by_producer", producer_id=producer_id, paused=paused)

    async def set_video_sizes(self, sizes: list) -> int:
        return await self._call("set_video_sizes", sizes=sizes)

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
    """A room: its router on its home worker (``worker``), extended on demand to other workers
    (legs), each pair of legs joined by a pipe; every producer of a leg is piped to every other leg.

    Events reach ``on_event`` as from one router: ``active_speaker`` and ``audio_levels`` from the
    home leg only (it has every producer, its own or piped), ``producer_added``/``removed`` from
    the publisher's leg only (never for a piped producer), ``peer_added``/``removed`` from the
    peer's leg."""

    def __init__(self, pool: "WorkerPool", room_id: str, worker: _Worker, on_event: Optional[EventHook]) -> None:
        self._pool = pool
        self._worker = worker  # home
        self.room_id = room_id
        self.worker: Optional[int] = worker.index
        self.on_event = on_event
        self.peers: dict[str, PoolPeerHandle] = {}
        self.closed = False
        self.legs: dict[int, _Leg] = {worker.index: _Leg(worker)}
        self._pipes: dict[frozenset, _Pipe] = {}
        self._producers: dict[str, dict] = {}  # real producers: id -> {peer_id, source, kind, leg}
        self._lock = asyncio.Lock()  # legs, pipes and piping, one change at a time, in order
        self._lost = False
        # the running recording: (id, directory); each leg records its own publishers, and a
        # leg closed meanwhile leaves its tracks' descriptions here
        self._recording: Optional[tuple[str, str]] = None
        self._recorded: list[dict] = []

    @property
    def pid(self) -> Optional[int]:
        return self._worker.pid

    @property
    def lost(self) -> bool:
        return self._lost or self._worker.lost

    def _home_leg(self) -> _Leg:
        leg = self.legs.get(self._worker.index)
        if leg is None or leg.worker is not self._worker:
            leg = self.legs[self._worker.index] = _Leg(self._worker)
        return leg

    def _leg_on(self, worker: _Worker) -> Optional[_Leg]:
        leg = self.legs.get(worker.index)
        return leg if leg is not None and leg.worker is worker else None

    def worker_of(self, peer_id: str) -> Optional[int]:
        """The index of the worker a peer of this room is on."""
        handle = self.peers.get(peer_id)
        return handle.worker if handle is not None else None

    async def add_peer(self, peer_id: str, on_subscribe_offer: OfferCallback, *,
                       publisher: bool = True) -> PoolPeerHandle:
        """Add a peer on the room's home worker or, when that is busy (``MediaConfig.span_*``),
        on another worker the room extends to. ``publisher=False``: a viewer (only receives)."""
        if self.closed:  # closed, then used again: the room opens again on the same worker, if it can
            self._pool._reopen(self)
        if self.lost:
            raise WorkerLost(f"room {self.room_id!r} lost a worker")
        previous = self.peers.get(peer_id)
        if previous is not None and self.legs.get(previous.leg.index) is previous.leg:
            leg = previous.leg  # a peer stays on the worker it was placed on
        else:
            leg = await self._ensure_leg(self._pool._place_peer(self, publisher))
        handle = PoolPeerHandle(self, peer_id, on_subscribe_offer, leg)
        if previous is not None and previous.leg is not leg:
            previous.leg.peers.discard(peer_id)
        self.peers[peer_id] = handle  # before the request: its first offer may come before the reply
        leg.peers.add(peer_id)
        try:
            await leg.worker.request("add_peer", {"room": self.room_id, "peer": peer_id})
        except BaseException:
            if self.peers.get(peer_id) is handle:
                del self.peers[peer_id]
                leg.peers.discard(peer_id)
            handle.added.cancel()
            raise
        handle.added.set_result(None)
        return handle

    async def remove_peer(self, peer_id: str) -> None:
        handle = self.peers.pop(peer_id, None)
        if handle is not None and not handle.added.done():
            handle.added.cancel()
        leg = handle.leg if handle is not None else self._home_leg()
        leg.peers.discard(peer_id)
        if self.lost or leg.worker.lost:
            return  # its router is gone with its worker: nothing left to remove
        await leg.worker.request("remove_peer", {"room": self.room_id, "peer": peer_id})
        if len(self.legs) > 1:
            await self._shrink()

    async def close(self) -> None:
        """The room is over: close its routers (every leg) in the workers and forget it."""
        if self._recording is not None and not self.lost:  # the recording ends with its manifest
            try:
                await self.stop_recording()
            except Exception:
                logger.exception("room %s: finishing the recording failed", self.room_id)
        self.closed = True
        self._pool._forget(self)
        for handle in self.peers.values():
            if not handle.added.done():
                handle.added.cancel()
        self.peers.clear()
        legs = [leg for leg in self.legs.values() if leg.worker is not self._worker]
        self.legs = {}
        self._home_leg()
        self._pipes.clear()
        self._producers.clear()
        await asyncio.gather(*(self._quietly(leg.worker, "close_router", {"room": self.room_id}) for leg in legs))
        if not self._worker.lost:
            await self._worker.request("close_router", {"room": self.room_id})

    # legs and pipes

    async def _quietly(self, worker: _Worker, method: str, params: dict) -> Any:
        """A request whose failure (the worker or the object is gone) changes nothing."""
        if worker.lost:
            return None
        try:
            return await worker.request(method, params)
        except WorkerError as exc:
            logger.debug("room %s: %s on %s failed: %s", self.room_id, method, worker.name, exc)
            return None

    async def _ensure_leg(self, worker: _Worker) -> _Leg:
        """The room's leg on ``worker``: opened (and piped to every other leg) if needed."""
        if worker is self._worker:
            return self._home_leg()
        async with self._lock:
            leg = self._leg_on(worker)
            if leg is not None:
                return leg
            if self.lost:
                raise WorkerLost(f"room {self.room_id!r} lost a worker")
            leg = _Leg(worker)
            self.legs[worker.index] = leg  # before the request: its events are this room's
            try:
                await worker.request("open_router", {"room": self.room_id})
                for other in [l for l in self.legs.values() if l is not leg]:
                    await self._connect(other, leg)
            except BaseException:
                await self._close_leg(leg)
                raise
            if self._recording is not None and self.legs.get(worker.index) is leg:
                await self._quietly(worker, "start_recording", self._recording_params())
            if self.legs.get(worker.index) is not leg or self.lost:  # the room closed or was lost meanwhile
                await self._quietly(worker, "close_router", {"room": self.room_id})
                raise WorkerLost(f"room {self.room_id!r} closed or lost while extending to {worker.name}")
            logger.info("room %s extends to media worker %d (home %d)", self.room_id, worker.index,
                        self._worker.index)
            return leg

    async def _connect(self, a: _Leg, b: _Leg) -> None:
        """A pipe between legs a and b (under the lock); then every producer of either goes over."""
        pipe = _Pipe(self._pool._new_pipe_id(), a, b)
        self._pipes[frozenset((a.index, b.index))] = pipe
        params = {"room": self.room_id, "pipe": pipe.id}
        address_a, address_b = await asyncio.gather(
            a.worker.request("create_pipe", params), b.worker.request("create_pipe", params))
        await asyncio.gather(a.worker.request("connect_pipe", dict(params, **address_b)),
                             b.worker.request("connect_pipe", dict(params, **address_a)))
        pipe.connected = True
        for producer_id, info in list(self._producers.items()):
            if info["leg"] in pipe.legs:
                await self._pipe_one(producer_id, info, pipe)

    async def _pipe_one(self, producer_id: str, info: dict, pipe: _Pipe) -> None:
        """Send one producer over one pipe (under the lock); a failure is logged, not raised."""
        if producer_id in pipe.sent or not pipe.connected:
            return
        source = pipe.legs.get(info["leg"])
        if source is None:
            return
        target = pipe.other(source.index)
        try:
            description = await source.worker.request(
                "pipe_producer", {"room": self.room_id, "pipe": pipe.id, "producer_id": producer_id})
            pipe.sent[producer_id] = source.index
            await target.worker.request(
                "add_pipe_producer", {"room": self.room_id, "pipe": pipe.id, "description": description})
        except WorkerError as exc:
            logger.warning("room %s: piping producer %s from worker %d to %d failed: %s", self.room_id,
                           producer_id, source.index, target.index, exc)

    async def _spread(self, producer_id: str) -> None:
        """A new producer: over every pipe of its leg."""
        async with self._lock:
            info = self._producers.get(producer_id)
            if info is None or self.lost:
                return
            for pipe in list(self._pipes.values()):
                if info["leg"] in pipe.legs:
                    await self._pipe_one(producer_id, info, pipe)

    async def _retract(self, producer_id: str) -> None:
        """A producer ended at its source: its piped copies end on the other legs."""
        async with self._lock:
            for pipe in list(self._pipes.values()):
                source = pipe.sent.pop(producer_id, None)
                if source is not None:
                    target = pipe.other(source)
                    await self._quietly(target.worker, "close_pipe_producer",
                                        {"room": self.room_id, "producer_id": producer_id})

    async def _pause_piped(self, peer_id: str, source: str, paused: bool) -> None:
        if len(self.legs) < 2:
            return
        async with self._lock:
            ids = [pid for pid, info in self._producers.items()
                   if info["peer_id"] == peer_id and info["source"] == source]
            requests = []
            for pipe in self._pipes.values():
                for producer_id in ids:
                    if producer_id in pipe.sent:
                        target = pipe.other(pipe.sent[producer_id])
                        requests.append(target.worker.request("set_pipe_producer_paused", {
                            "room": self.room_id, "producer_id": producer_id, "paused": paused}))
            await asyncio.gather(*requests)

    async def _shrink(self) -> None:
        """Close the legs (other than home) that have no peer left: all of them once the room is empty."""
        async with self._lock:
            for leg in list(self.legs.values()):
                if leg.worker is not self._worker and not leg.peers:
                    await self._close_leg(leg)

    async def _close_leg(self, leg: _Leg) -> None:
        """Under the lock: the pipes to ``leg`` close at the other legs, then its router."""
        if self.legs.get(leg.index) is leg:
            del self.legs[leg.index]
        for key, pipe in list(self._pipes.items()):
            if leg.index in pipe.legs and pipe.legs[leg.index] is leg:
                del self._pipes[key]
                other = pipe.other(leg.index)
                await self._quietly(other.worker, "close_pipe", {"room": self.room_id, "pipe": pipe.id})
        for producer_id, info in list(self._producers.items()):
            if info["leg"] == leg.index:
                del self._producers[producer_id]
        if self._recording is not None:
            result = await self._quietly(leg.worker, "stop_recording", {"room": self.room_id})
            if result:
                self._recorded.append(result)
        await self._quietly(leg.worker, "close_router", {"room": self.room_id})
        logger.info("room %s: leg on media worker %d closed", self.room_id, leg.index)

    # recording (recorder.py)

    def _recording_params(self) -> dict:
        recording_id, directory = self._recording
        return {"room": self.room_id, "recording": recording_id, "directory": directory}

    async def start_recording(self, directory: str) -> str:
        """Record the room's tracks into ``directory``/<recording id>/, each in the worker that
        receives it; returns the id. Raises ValueError if a recording is running."""
        if self.lost:
            raise WorkerLost(f"room {self.room_id!r} lost a worker")
        async with self._lock:
            if self._recording is not None:
                raise ValueError(f"recording {self._recording[0]} is running")
            recording_id = new_recording_id()
            self._recording = (recording_id, os.path.join(directory, recording_id))
            self._recorded = []
            try:
                await self._home_leg().worker.request("start_recording", self._recording_params())
            except BaseException:
                self._recording = None
                raise
            for leg in list(self.legs.values()):
                if leg.worker is not self._worker:
                    await self._quietly(leg.worker, "start_recording", self._recording_params())
        return recording_id

    async def stop_recording(self) -> Optional[dict]:
        """Finish every leg's files and write ``manifest.json`` beside them; the manifest (None:
        no recording was running)."""
        async with self._lock:
            if self._recording is None:
                return None
            recording_id, directory = self._recording
            self._recording = None
            results = list(self._recorded)
            self._recorded = []
            for leg in list(self.legs.values()):
                results.append(await self._quietly(leg.worker, "stop_recording", {"room": self.room_id}))
        merged = merge_legs(results)
        if merged is None:
            return None
        data = manifest(recording_id, self.room_id, merged["started"], merged["stopped"], merged["tracks"])
        await asyncio.to_thread(finish_manifests, directory, self.room_id, data)
        return data

    async def pipe_stats(self) -> dict:
        """Per pipe of this room: ``{pipe_id: {"workers": [i, j], i: counters, j: counters}}``
        (media.worker's ``pipe_stats``: rtp_in, rtp_out, retransmitted, keyframe_requests, nacked...)."""
        found: dict = {}
        for pipe in list(self._pipes.values()):
            entry: dict = {"workers": sorted(pipe.legs)}
            for index, leg in pipe.legs.items():
                counters = await self._quietly(leg.worker, "pipe_stats", {"room": self.room_id}) or {}
                entry[index] = counters.get(pipe.id, {})
            found[pipe.id] = entry
        return found

    def _worker_lost(self, worker: _Worker) -> None:
        """A worker holding a leg died: the room is lost; its other legs close (nothing dangles)."""
        self._lost = True
        for leg in self.legs.values():
            if leg.worker is not worker and not leg.worker.lost:
                self._pool._background(self._quietly(leg.worker, "close_router", {"room": self.room_id}))
        self._pipes.clear()
        self._producers.clear()

    # events

    def _event(self, worker: _Worker, kind: str, data: dict, piped: bool = False) -> None:
        leg = self._leg_on(worker)
        if leg is None or self._lost:
            return
        if kind in ("active_speaker", "audio_levels"):
            if worker is not self._worker:
                return  # the home leg sees every producer: it alone speaks for the room
        elif kind in ("producer_added", "producer_removed"):
            if piped:
                return  # a copy of a producer of another leg, which reports it itself
            producer_id = data.get("id") if isinstance(data, dict) else None
            if kind == "producer_added":
                self._producers[producer_id] = {"peer_id": data.get("peer_id"), "source": data.get("source"),
                                                "kind": data.get("kind"), "leg": leg.index}
                if len(self.legs) > 1:
                    self._pool._background(self._spread(producer_id))
            else:
                self._producers.pop(producer_id, None)
                if len(self.legs) > 1:
                    self._pool._background(self._retract(producer_id))
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
        self._pipe_ids = 0

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
        rooms = [room for room, handle in self._routers.items() if handle._leg_on(worker) is not None]
        for room in rooms:
            self._routers.pop(room)._worker_lost(worker)
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
            if handle is not None:
                handle._event(worker, message.get("kind"), message.get("data"), bool(message.get("pipe")))
        elif event == "offer":
            handle = self._routers.get(message.get("room"))
            if handle is not None:
                peer = handle.peers.get(message.get("peer"))
                if peer is not None and peer.leg.worker is worker:
                    peer._offer(message.get("sdp"), message.get("revision"), message.get("consumers") or [])
        elif event == "load":
            worker.load = message
            worker.cpu_pct = (float(message.get("cpu_pct") or 0.0) if worker.cpu_override is None
                              else worker.cpu_override)
        elif event == "ready":
            if worker.ready is not None and not worker.ready.done():
                worker.ready.set_result(message)
        else:
            logger.warning("%s: unknown event %r", worker.name, event)

    # routers

    def _peers_on(self, worker: _Worker) -> int:
        return sum(len(leg.peers) for h in self._routers.values() for leg in h.legs.values() if leg.worker is worker)

    def _rooms_on(self, worker: _Worker) -> int:
        """Rooms with a leg (a router) on ``worker``."""
        return sum(1 for h in self._routers.values() for leg in h.legs.values() if leg.worker is worker)

    def _load_key(self, worker: _Worker) -> tuple:
        return (self._peers_on(worker), int(worker.cpu_pct // CPU_STEP), self._rooms_on(worker), worker.index)

    def _place_peer(self, handle: "PoolRouterHandle", publisher: bool = True) -> _Worker:
        """Where a new peer of the room goes: its home worker, unless that is busy
        (``MediaConfig.span_peers``: its leg has that many peers already; ``span_cpu`` for viewers,
        ``span_cpu_publishers`` for publishers: its CPU is above that), then the least-loaded
        other live worker (for CPU: only if that one's CPU is lower than home's)."""
        home = handle._worker
        others = [w for w in self.workers if w is not None and w.alive and w is not home]
        if not others:
            return home
        config = self.config
        spill = home.cpu_pct > (config.span_cpu_publishers if publisher else config.span_cpu)
        if config.span_peers is not None and len(handle._home_leg().peers) >= config.span_peers:
            return min(others, key=self._load_key)
        if not spill:
            return home
        best = min(others, key=self._load_key)
        return best if best.cpu_pct < home.cpu_pct else home  # busy everywhere: no gain in a pipe

    def _new_pipe_id(self) -> str:
        self._pipe_ids += 1
        return f"pipe-{self._pipe_ids}"

    def _place(self) -> Optional[_Worker]:
        live = [w for w in self.workers if w is not None and w.alive]
        if not live:
            return None
        return min(live, key=self._load_key)

    async def open_router(self, room_id: str, on_event: Optional[EventHook] = None) -> PoolRouterHandle:
        """The room's router: where it is, or on the least-loaded live worker (waiting up to the
        request timeout for one if every worker is being replaced). ``on_event`` replaces the
        room's hook."""
        if self._closing:
            raise WorkerLost("the worker pool is closed")
        if not self._started:
            await self.start()
        handle = self._routers.get(room_id)
        if handle is not None and not handle.lost:
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
            if handle is not None and not handle.lost:
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
        if handle.lost:
            raise WorkerLost(f"{handle._worker.name} is gone")
        if self._routers.setdefault(handle.room_id, handle) is not handle:
            raise WorkerError(f"room {handle.room_id!r} was closed and opened again: use the new handle")
        handle.closed = False
        handle.legs = {}
        handle._home_leg()

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
        stats = {key: total.get(key, 0) for key in empty_stats()}
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
