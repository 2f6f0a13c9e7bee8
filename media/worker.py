"""A media worker process: ``python -m media.worker --fd N --index I --parent PID``.

It runs one :class:`media.SFU` on the batching event loop (``media.loop.new_event_loop``) and is
driven by its parent over the control channel on file descriptor N (media/channel.py), a Unix
stream socket from ``socketpair()``. The first frame on it, read before the loop starts, holds
the start-up parameters: ``{"index", "config": MediaConfig's fields, "rx_batch_ms", "log_level"}``.

Requests (``params`` -> ``result``): ``open_router {room}``, ``close_router {room}``,
``add_peer {room, peer}``, ``remove_peer {room, peer}``, ``publish {room, peer, sdp, sources} ->
answer``, ``subscribe_answer {room, peer, sdp, revision}``, ``set_paused {room, peer, source,
paused}``, ``set_consumer_paused {room, peer, producer_peer, source, paused} -> int``,
``set_consumer_paused_by_producer {room, peer, producer_id, paused} -> bool``, ``set_video_sizes {room,
peer, sizes} -> int``, ``stats -> SFU.stats()``,
``stop``. Pipes between legs of one room on two workers (media/pipe.py; ``pipe`` is an id the pool
chooses): ``create_pipe {room, pipe} -> {host, port}``, ``connect_pipe {room, pipe, host, port}``,
``pipe_producer {room, pipe, producer_id} -> description`` (waits briefly for an unknown SSRC),
``add_pipe_producer {room, pipe, description} -> bool``, ``close_pipe_producer {room, producer_id}
-> bool``, ``unpipe_producer {room, producer_id, pipe} -> bool``, ``set_pipe_producer_paused {room,
producer_id, paused} -> bool``, ``close_pipe {room, pipe}``, ``pipe_stats {room} -> {pipe: counters}``,
``pipe_drop {room, pipe, every, limit}`` (a test hook: loss on the pipe). A router with pipes stays while it has
peers, piped producers or pipes (the pool closes legs); ``producer_added``/``producer_removed`` of a
piped producer carry ``pipe: true``. Events: ``ready {pid, index, rx_batch_ms}`` (the batching interval of its loop); ``router {room, kind, data}`` (the router's events);
``offer {room, peer, sdp, revision, consumers}`` (a subscribe offer for a peer); ``load {cpu_pct,
rooms, peers, rtp_packets_in, rtp_packets_out, stats}`` every ``LOAD_INTERVAL`` seconds.

It never outlives its parent: the kernel kills it when the parent dies (``PR_SET_PDEATHSIG``,
Linux), and it exits by itself when the channel reaches EOF.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
from typing import Optional

from .channel import Channel, FrameDecoder, read_frame_blocking
from .loop import new_event_loop
from .service import CpuMeter, WorkerError, config_from_dict
from .sfu import SFU

logger = logging.getLogger("media.worker")

LOAD_INTERVAL = 1.0  # seconds between load reports (SFU.stats() walks every consumer: not too often)
STOP_TIMEOUT = 3.0  # closing the SFU on stop, at most
PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent (the thread that forked it) dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Worker:
    def __init__(self, index: int, sfu: SFU) -> None:
        self.index = index
        self.sfu = sfu
        self.channel: Optional[Channel] = None
        self.done: Optional[asyncio.Future] = None
        self._cpu = CpuMeter()
        self._load_timer: Optional[asyncio.TimerHandle] = None
        self._hooks: dict[str, object] = {}
        self._pipes: dict[str, dict] = {}  # room -> pipe id -> PipeTransport
        self._piped: dict[str, set] = {}  # room -> ids of producers piped in (ever, while it lives)
        self.methods = {
            "open_router": self.open_router,
            "close_router": self.close_router,
            "add_peer": self.add_peer,
            "remove_peer": self.remove_peer,
            "publish": self.publish,
            "subscribe_answer": self.subscribe_answer,
            "set_paused": self.set_paused,
            "set_consumer_paused": self.set_consumer_paused,
            "set_consumer_paused_by_producer": self.set_consumer_paused_by_producer,
            "set_video_sizes": self.set_video_sizes,
            "create_pipe": self.create_pipe,
            "connect_pipe": self.connect_pipe,
            "pipe_producer": self.pipe_producer,
            "add_pipe_producer": self.add_pipe_producer,
            "close_pipe_producer": self.close_pipe_producer,
            "unpipe_producer": self.unpipe_producer,
            "set_pipe_producer_paused": self.set_pipe_producer_paused,
            "close_pipe": self.close_pipe,
            "pipe_stats": self.pipe_stats,
            "pipe_drop": self.pipe_drop,
            "start_recording": self.start_recording,
            "stop_recording": self.stop_recording,
            "stats": self.stats,
            "stop": self.stop,
        }

    async def run(self, sock: socket.socket, decoder: FrameDecoder) -> int:
        loop = asyncio.get_running_loop()
        self.done = loop.create_future()
        self.channel = await Channel.open(sock, on_request=self.handle, on_close=self._closed,
                                          name=f"media-worker[{self.index}]", decoder=decoder)
        selector = getattr(loop, "_selector", None)
        self.channel.send_event("ready", pid=os.getpid(), index=self.index,
                                rx_batch_ms=round(getattr(selector, "interval", 0.0) * 1000.0, 3))
        # what start-up allocated lives as long as the process: out of the collector's sight
        # (as server/cli.py does), so full collections cost much less during meetings
        gc.collect()
        gc.freeze()
        self._load_timer = loop.call_later(LOAD_INTERVAL, self._report_load)
        code = await self.done
        if self._load_timer is not None:
            self._load_timer.cancel()
        try:
            await asyncio.wait_for(self.sfu.close(), STOP_TIMEOUT)
        except Exception:
            logger.warning("closing the SFU failed", exc_info=True)
        if self.channel is not None:
            self.channel.close("worker exiting")
        return code

    def _closed(self, exc) -> None:
        if self.done is not None and not self.done.done():
            logger.info("control channel closed (%s): exiting", self.channel.close_reason if self.channel else exc)
            self.done.set_result(0)

    def _report_load(self) -> None:
        self._load_timer = None
        try:
            stats = self.sfu.stats()
            self.channel.send_event(
                "load", cpu_pct=self._cpu.read(), rooms=stats["routers"], peers=stats["peers"],
                rtp_packets_in=stats["rtp_packets_in"], rtp_packets_out=stats["rtp_packets_out"], stats=stats)
        except Exception:
            logger.exception("load report failed")
        if self.done is not None and not self.done.done():
            self._load_timer = asyncio.get_running_loop().call_later(LOAD_INTERVAL, self._report_load)

    async def handle(self, method: str, params: dict):
        handler = self.methods.get(method)
        if handler is None:
            raise WorkerError(f"unknown method {method!r}")
        return await handler(**params)

    # routers and peers

    def _hook(self, room: str):
        hook = self._hooks.get(room)
        if hook is None:
            channel = self.channel

            piped = self._piped

            def hook(kind: str, data: dict) -> None:
                if kind in ("producer_added", "producer_removed") and data.get("id") in piped.get(room, ()):
                    channel.send_event("router", room=room, kind=kind, data=data, pipe=True)
                else:
                    channel.send_event("router", room=room, kind=kind, data=data)

            self._hooks[room] = hook
        return hook

    def _router(self, room: str):
        """The room's router, created if the SFU dropped it when it emptied."""
        return self.sfu.router(room, on_event=self._hook(room))

    def _peer(self, room: str, peer: str):
        router = self.sfu.routers.get(room)
        found = router.get_peer(peer) if router is not None else None
        if found is None:
            raise WorkerError(f"no peer {peer!r} in room {room!r}")
        return found

    async def open_router(self, room: str) -> None:
        self._router(room)

    async def close_router(self, room: str) -> None:
        router = self.sfu.routers.pop(room, None)
        if router is not None:
            await router.close()
        self._hooks.pop(room, None)
        self._pipes.pop(room, None)
        self._piped.pop(room, None)

    async def add_peer(self, room: str, peer: str) -> None:
        channel = self.channel

        async def on_subscribe_offer(sdp: str, revision: int, consumers: list) -> None:
            channel.send_event("offer", room=room, peer=peer, sdp=sdp, revision=revision, consumers=consumers)

        await self._router(room).add_peer(peer, on_subscribe_offer=on_subscribe_offer)

    async def remove_peer(self, room: str, peer: str) -> None:
        router = self.sfu.routers.get(room)
        if router is not None:
            await router.remove_peer(peer)
            self._drop_if_empty(room)

    async def publish(self, room: str, peer: str, sdp: str, sources: dict) -> str:
        return await self._peer(room, peer).publish(sdp, sources)

    async def subscribe_answer(self, room: str, peer: str, sdp: str, revision: int) -> None:
        await self._peer(room, peer).subscribe_answer(sdp, revision)

    async def set_paused(self, room: str, peer: str, source: str, paused: bool) -> None:
        self._peer(room, peer).set_paused(source, paused)

    async def set_consumer_paused(self, room: str, peer: str, producer_peer: str, source: str, paused: bool) -> int:
        return self._peer(room, peer).set_consumer_paused(producer_peer, source, paused)

    async def set_consumer_paused_by_producer(self, room: str, peer: str, producer_id: str, paused: bool) -> bool:
        return self._peer(room, peer).set_consumer_paused_by_producer(producer_id, paused)

    async def set_video_sizes(self, room: str, peer: str, sizes: list) -> int:
        return self._peer(room, peer).set_video_sizes(sizes)

    # pipes between this worker's leg of a room and another worker's

    def _pipe(self, room: str, pipe: str):
        router = self.sfu.routers.get(room)
        transport = self._pipes.get(room, {}).get(pipe)
        if router is None or transport is None or transport.closed:
            raise WorkerError(f"no pipe {pipe!r} in room {room!r}")
        return router, transport

    def _drop_if_empty(self, room: str) -> None:
        """A leg with pipes is kept while it has peers, piped producers or pipes (the pool closes
        legs); once it has none, it leaves the SFU as an emptied router does."""
        router = self.sfu.routers.get(room)
        if router is None or room not in self._pipes:
            return
        pipes = self._pipes[room]
        for pipe, transport in list(pipes.items()):
            if transport.closed:
                del pipes[pipe]
        if not router.peers and not router.pipe_producers and not pipes and router.recording is None:
            del self.sfu.routers[room]
            self._pipes.pop(room, None)
            self._piped.pop(room, None)
            asyncio.ensure_future(router.close())

    async def create_pipe(self, room: str, pipe: str) -> dict:
        router = self._router(room)
        router._on_empty = None  # kept until the pool closes this leg (or it empties: _drop_if_empty)
        pipes = self._pipes.setdefault(room, {})
        if pipe in pipes and not pipes[pipe].closed:
            raise WorkerError(f"pipe {pipe!r} exists in room {room!r}")
        transport = await router.create_pipe_transport("127.0.0.1", 0)
        pipes[pipe] = transport
        return transport.describe()

    async def connect_pipe(self, room: str, pipe: str, host: str, port: int) -> None:
        _, transport = self._pipe(room, pipe)
        transport.connect(host, int(port))

    async def pipe_producer(self, room: str, pipe: str, producer_id: str, wait: float = 5.0) -> dict:
        router, transport = self._pipe(room, pipe)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            # every simulcast layer if they all show up within half the wait, else those known
            partial = asyncio.get_running_loop().time() > deadline - wait / 2
            try:
                return router.pipe_producer(producer_id, transport, partial)
            except KeyError:
                raise WorkerError(f"no producer {producer_id!r} in room {room!r}") from None
            except ValueError:  # its SSRC is not known yet (not in the SDP): the first packet tells
                if asyncio.get_running_loop().time() > deadline:
                    raise WorkerError(f"producer {producer_id!r} has no SSRC yet") from None
                await asyncio.sleep(0.05)
                router, transport = self._pipe(room, pipe)

    async def add_pipe_producer(self, room: str, pipe: str, description: dict) -> bool:
        router, transport = self._pipe(room, pipe)
        self._piped.setdefault(room, set()).add(str(description.get("id")))
        try:
            router.add_pipe_producer(description, transport)
        except ValueError as exc:
            raise WorkerError(str(exc)) from None
        return True

    async def close_pipe_producer(self, room: str, producer_id: str) -> bool:
        router = self.sfu.routers.get(room)
        if router is None:
            return False
        closed = router.close_pipe_producer(producer_id)
        self._drop_if_empty(room)
        return closed

    async def unpipe_producer(self, room: str, producer_id: str, pipe: Optional[str] = None) -> bool:
        router = self.sfu.routers.get(room)
        if router is None:
            return False
        transport = self._pipes.get(room, {}).get(pipe) if pipe is not None else None
        if pipe is not None and transport is None:
            return False
        return router.unpipe_producer(producer_id, transport)

    async def set_pipe_producer_paused(self, room: str, producer_id: str, paused: bool) -> bool:
        router = self.sfu.routers.get(room)
        return bool(router is not None and router.set_pipe_producer_paused(producer_id, paused))

    async def close_pipe(self, room: str, pipe: str) -> None:
        router = self.sfu.routers.get(room)
        transport = self._pipes.get(room, {}).pop(pipe, None)
        if router is not None and transport is not None:
            router.close_pipe_transport(transport)
        self._drop_if_empty(room)

    async def pipe_stats(self, room: str) -> dict:
        """Counters of the room's pipes here: pipe id -> its transport's and its outputs' counters."""
        found = {}
        for pipe, transport in self._pipes.get(room, {}).items():
            if transport.closed:
                continue
            outputs = list(transport.outbound.values())
            found[pipe] = {
                "rtp_in": transport.rtp_in, "rtcp_in": transport.rtcp_in, "rtp_unknown": transport.rtp_unknown,
                "foreign": transport.foreign, "inbound": len(transport.inbound), "outbound": len(outputs),
                "rtp_out": sum(o.packets for o in outputs),
                "retransmitted": sum(o.retransmitted for o in outputs),
                "keyframe_requests": sum(o.keyframe_requests for o in outputs),
                "nacked": sum(p.nacked for p in transport.inbound.values()),
            }
        return found

    async def pipe_drop(self, room: str, pipe: str, every: int = 10, limit: int = 5) -> None:
        """Test hook: drop every ``every``-th video RTP packet this end sends on the pipe (``limit``
        of them; their retransmissions pass)."""
        _, transport = self._pipe(room, pipe)
        video = {ssrc for ssrc, o in transport.outbound.items() if o.producer.kind == "video"}
        dropped: set[int] = set()
        count = [0]

        def keep(data: bytes) -> bool:
            if 192 <= data[1] <= 223 or int.from_bytes(data[8:12], "big") not in video:
                return True
            seq = int.from_bytes(data[2:4], "big")
            if seq in dropped:
                return True
            count[0] += 1
            if count[0] % every == 0 and len(dropped) < limit:
                dropped.add(seq)
                return False
            return True

        transport.set_send_filter(keep)

    # recording (recorder.py): this leg's own publishers' tracks

    async def start_recording(self, room: str, recording: str, directory: str) -> dict:
        try:
            return self._router(room).start_recording(recording, directory)
        except ValueError as exc:
            raise WorkerError(str(exc)) from None

    async def stop_recording(self, room: str) -> Optional[dict]:
        router = self.sfu.routers.get(room)
        result = await router.stop_recording() if router is not None else None
        self._drop_if_empty(room)
        return result

    async def stats(self) -> dict:
        stats = self.sfu.stats()
        stats["cpu_pct"] = self._cpu.pct
        return stats

    async def stop(self) -> None:
        """Reply, then close the SFU and exit."""
        logger.info("asked to stop")
        asyncio.get_running_loop().call_soon(lambda: self.done.done() or self.done.set_result(0))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--fd", type=int, required=True, help="the control channel's socket")
    parser.add_argument("--index", type=int, required=True, help="this worker's index in its pool")
    parser.add_argument("--parent", type=int, default=0, help="the parent's pid (exit if it is already gone)")
    args = parser.parse_args(argv)

    set_parent_death_signal()
    if args.parent and os.getppid() != args.parent:
        return 1  # the parent died before the death signal was set up
    # ^C in a terminal reaches the whole process group: the server decides when workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    sock = socket.socket(fileno=args.fd)
    decoder = FrameDecoder()
    try:
        init = read_frame_blocking(sock, decoder, timeout=30.0)
    except (EOFError, OSError, ValueError) as exc:
        print(f"media-worker[{args.index}]: no start-up parameters: {exc}", file=sys.stderr)
        return 1
    index = int(init.get("index", args.index))
    level = init.get("log_level", logging.INFO)
    logging.basicConfig(
        stream=sys.stderr, level=level,
        format=f"%(asctime)s %(levelname)s media-worker[{index}] %(name)s: %(message)s",
    )
    quiet = logging.DEBUG if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else logging.WARNING
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(quiet)

    loop = new_event_loop(float(init.get("rx_batch_ms", 1.0)))
    asyncio.set_event_loop(loop)
    code = 1
    try:
        sfu = SFU(config_from_dict(init.get("config") or {}))
        worker = Worker(index, sfu)
        code = loop.run_until_complete(worker.run(sock, decoder))
    except Exception:
        logger.exception("worker failed")
    finally:
        logging.shutdown()
        sys.stderr.flush()
    # leftover aiortc tasks or threads must not keep a worker alive once it is done
    os._exit(code)


if __name__ == "__main__":
    main()
