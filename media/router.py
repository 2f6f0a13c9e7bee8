"""Router: one room. Every peer consumes every producer of every other peer.

The router also observes its audio producers' activity (RFC 6464 levels, counted once per inbound
packet by each Producer) on a timer, and reports the dominant speaker and the levels through
``on_event``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Optional

from .config import MediaConfig
from .peer import Peer
from .pipe import PipeTransport, describe_for_pipe, pipe_streams, producer_from_description
from .recorder import Recording
from .speaker import AudioActivity, SpeakerDetector, dbov_to_linear
from .stats import Counters
from .subscriber import OfferCallback

logger = logging.getLogger(__name__)

EventHook = Callable[[str, dict], None]

SPEAKER_INTERVAL = 0.25  # seconds between speaker evaluations (and audio_levels events at most)


class Router:
    def __init__(self, room_id: str, config: MediaConfig, counters: Counters,
                 on_event: Optional[EventHook] = None, on_empty: Optional[Callable[["Router"], None]] = None) -> None:
        self.id = room_id
        self.config = config
        self.counters = counters
        self.on_event = on_event
        self._on_empty = on_empty
        self.peers: dict[str, Peer] = {}
        # producers of another router, fed by a pipe (pipe.py), by id; and the pipe transports
        self.pipe_producers: dict = {}
        self.pipe_transports: list[PipeTransport] = []
        self.speaker = SpeakerDetector()
        self._speaker_timer: Optional[asyncio.TimerHandle] = None
        self._levels_sent: Optional[dict] = None
        self._closed = False
        self.recording: Optional[Recording] = None

    def set_on_event(self, on_event: Optional[EventHook]) -> None:
        """Set (or replace, or clear with None) the event hook: ``on_event(kind, data)``."""
        self.on_event = on_event

    @property
    def active_speaker(self) -> Optional[str]:
        return self.speaker.speaker

    @property
    def producers(self) -> list:
        return [p for peer in self.peers.values() for p in peer.producers] + list(self.pipe_producers.values())

    async def add_peer(self, peer_id: str, on_subscribe_offer: OfferCallback) -> Peer:
        """Add a peer (replacing one with the same id) and subscribe it to everyone else.

        The first subscribe offer goes out as soon as there is something to consume."""
        if peer_id in self.peers:
            await self.remove_peer(peer_id, keep_router=True)
        peer = Peer(self, peer_id, on_subscribe_offer)
        self.peers[peer_id] = peer
        for other in list(self.peers.values()):
            if other is not peer:
                for producer in other.producers:
                    peer.subscriber.add_consumer(producer)
        for producer in list(self.pipe_producers.values()):
            if producer.peer_id != peer_id:
                peer.subscriber.add_consumer(producer)
        self._emit("peer_added", {"peer_id": peer_id})
        return peer

    def get_peer(self, peer_id: str) -> Optional[Peer]:
        return self.peers.get(peer_id)

    async def remove_peer(self, peer_id: str, keep_router: bool = False) -> None:
        """Close the peer's connections, end its producers and renegotiate the others."""
        peer = self.peers.pop(peer_id, None)
        if peer is None:
            return
        producers = await peer.close()
        self._producers_changed(peer, [], producers)
        self._emit("peer_removed", {"peer_id": peer_id})
        if self.speaker.remove(peer_id):
            self._emit("active_speaker", {"peer_id": None, "level": 0.0})
        if not self.peers and not self.pipe_producers:
            self._stop_speaker_timer()
        if (not self.peers and not self.pipe_producers and not keep_router and self._on_empty is not None
                and self.recording is None):  # a recording keeps its router until it stops
            for transport in self.pipe_transports:  # dropped from the SFU: nothing left to pipe
                transport.close()
            self.pipe_transports.clear()
            self._on_empty(self)

    def _producers_changed(self, owner: Optional[Peer], added: list, removed: list) -> None:
        """``owner``: the publishing peer, or None for piped producers (whose publisher is the
        peer of their ``peer_id`` in another router: not given them if it is here too)."""
        for other in self.peers.values():
            if other is owner or other.closed:
                continue
            for producer in removed:
                other.subscriber.remove_consumer(producer.id)
            for producer in added:
                if owner is None and producer.peer_id == other.id:
                    continue
                other.subscriber.add_consumer(producer)
        recording = self.recording
        if recording is not None and owner is not None:  # a piped producer is recorded where it is published
            for producer in removed:
                recording.detach(producer)
            for producer in added:
                recording.add(producer)
        for producer in added:
            self._emit("producer_added", producer.describe())
        for producer in removed:
            self._emit("producer_removed", producer.describe())
        if any(p.kind == "audio" for p in added):
            self._start_speaker_timer()

    # pipes to and from other routers (pipe.py; mediasoup's pipeToRouter)

    async def create_pipe_transport(self, host: str = "127.0.0.1", port: int = 0) -> PipeTransport:
        """A plain RTP UDP socket for a pipe; hand its ``describe()`` to the other side and
        ``connect(host, port)`` it to theirs. Closed with the router."""
        transport = await PipeTransport.create(host, port)
        self.pipe_transports.append(transport)
        return transport

    def close_pipe_transport(self, transport: PipeTransport) -> None:
        """Close a pipe transport: its outputs stop, the producers it fed here are closed."""
        for producer in [p for p in self.pipe_producers.values() if p.pipe_transport is transport]:
            self.close_pipe_producer(producer.id)
        transport.close()
        if transport in self.pipe_transports:
            self.pipe_transports.remove(transport)

    def _find_producer(self, producer_id: str):
        for producer in self.producers:
            if producer.id == producer_id:
                return producer
        return None

    def pipe_producer(self, producer_id: str, transport: PipeTransport, partial: bool = True) -> dict:
        """Source side: send producer ``producer_id``'s packets over ``transport`` (connected),
        and answer the feedback that comes back. Returns its description for
        ``add_pipe_producer`` on the other side. Raises KeyError (unknown producer), ValueError
        (its SSRC is not known yet; without ``partial``, that of every simulcast layer: a layer
        learnt later is not piped)."""
        producer = self._find_producer(producer_id)
        if producer is None or producer.closed:
            raise KeyError(producer_id)
        if not transport.connected:
            raise ValueError("pipe transport not connected")
        for stream in pipe_streams(producer, partial):
            transport.add_output(stream)
        return describe_for_pipe(producer)

    def unpipe_producer(self, producer_id: str, transport: Optional[PipeTransport] = None) -> bool:
        """Source side: stop sending ``producer_id`` over ``transport`` (every pipe: None)."""
        producer = self._find_producer(producer_id)
        if producer is None:
            return False
        outputs = [o for o in producer.pipes if transport is None or o.transport is transport]
        for output in outputs:
            output.close()
        return bool(outputs)

    def add_pipe_producer(self, description: dict, transport: PipeTransport):
        """Destination side: a producer of another router, fed by ``transport``; every peer here
        consumes it (subscribe offers, ``producer_added``), its audio levels count here. Raises
        ValueError for a bad description or a duplicate id."""
        if self._closed:
            raise ValueError("router closed")
        producer_id = str(description.get("id"))
        if producer_id in self.pipe_producers or self._find_producer(producer_id) is not None:
            raise ValueError(f"producer {producer_id} exists here already")
        try:
            producer = producer_from_description(description, transport.send_rtcp)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad pipe producer description: {exc}") from None
        transport.add_inbound(producer)
        producer.pipe_transport = transport
        self.pipe_producers[producer.id] = producer
        self._producers_changed(None, [producer], [])
        return producer

    def close_pipe_producer(self, producer_id: str) -> bool:
        """Destination side: the piped producer ended (or is no longer wanted here): its
        consumers are removed (``producer_removed``). The source stops sending when told
        (``unpipe_producer``)."""
        producer = self.pipe_producers.pop(producer_id, None)
        if producer is None:
            return False
        producer.pipe_transport.remove_inbound(producer)
        self.counters.retire_producer(producer)
        producer.close()
        self._producers_changed(None, [], [producer])
        peer_id = producer.peer_id
        if peer_id not in self.peers and not any(p.peer_id == peer_id for p in self.pipe_producers.values()):
            if self.speaker.remove(peer_id):  # a speaker of another router is gone from here
                self._emit("active_speaker", {"peer_id": None, "level": 0.0})
        if not self.peers and not self.pipe_producers:
            self._stop_speaker_timer()
        return True

    def set_pipe_producer_paused(self, producer_id: str, paused: bool) -> bool:
        """Destination side: the source's server-enforced mute (the source sends nothing while
        paused; this makes the consumers here restart at a keyframe on resume)."""
        producer = self.pipe_producers.get(producer_id)
        if producer is None:
            return False
        producer.set_paused(bool(paused))
        return True

    # recording (recorder.py): this router's own publishers' tracks, without transcoding

    def start_recording(self, recording_id: str, directory: str) -> dict:
        """Record every producer of this router's peers (and those published later) into
        ``directory``. Raises ValueError if a recording is running."""
        if self._closed:
            raise ValueError("router closed")
        if self.recording is not None:
            raise ValueError(f"recording {self.recording.id} is running")
        recording = self.recording = Recording(recording_id, directory)
        for peer in self.peers.values():
            for producer in peer.producers:
                recording.add(producer)
        return {"id": recording_id, "started": recording.started_wall}

    async def stop_recording(self) -> Optional[dict]:
        """Finish the recording's files; its id, start, stop and tracks (None: none running)."""
        recording, self.recording = self.recording, None
        if recording is None:
            return None
        tracks = await recording.stop()
        if not self.peers and not self.pipe_producers and not self._closed and self._on_empty is not None:
            self._on_empty(self)  # emptied while recording
        return {"id": recording.id, "started": recording.started_wall, "stopped": recording.stopped_wall,
                "tracks": tracks}

    # active speaker

    def _audio_producers(self):
        for peer in self.peers.values():
            if not peer.closed:
                for producer in peer.producers:
                    if producer.kind == "audio" and producer.source == "microphone":
                        yield peer.id, producer
        for producer in self.pipe_producers.values():
            if producer.kind == "audio" and producer.source == "microphone":
                yield producer.peer_id, producer

    def _start_speaker_timer(self) -> None:
        if self._speaker_timer is None and not self._closed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._speaker_timer = loop.call_later(SPEAKER_INTERVAL, self._speaker_tick)

    def _stop_speaker_timer(self) -> None:
        if self._speaker_timer is not None:
            self._speaker_timer.cancel()
            self._speaker_timer = None

    def _speaker_tick(self) -> None:
        self._speaker_timer = None
        try:
            self.observe_speakers(time.monotonic())
        except Exception:
            logger.exception("speaker detection failed")
        if any(True for _ in self._audio_producers()):
            self._start_speaker_timer()

    def observe_speakers(self, now: float) -> None:
        """One evaluation (the timer's): feed each peer's audio activity since the last one, emit
        ``active_speaker`` when the dominant speaker changes and ``audio_levels`` when the
        (rounded) levels changed."""
        activities: dict[str, Optional[AudioActivity]] = {}
        for peer_id, producer in self._audio_producers():
            interval = producer.take_audio_activity()
            known = activities.get(peer_id)
            if interval is not None and known is not None:  # two microphones: the louder, the busier
                interval = AudioActivity(max(interval.peak, known.peak), max(interval.voiced, known.voiced))
            activities[peer_id] = interval if interval is not None else known
        before = self.speaker.speaker
        self.speaker.update(now, activities)
        current = self.speaker.speaker
        if current != before:
            level = round(dbov_to_linear(self.speaker.speaker_level), 3) if current is not None else 0.0
            self._emit("active_speaker", {"peer_id": current, "level": level})
        linear = {p: round(dbov_to_linear(self.speaker.levels[p]), 3) for p in activities}
        if linear != self._levels_sent:
            self._levels_sent = linear
            self._emit("audio_levels", dict(linear))

    def _emit(self, kind: str, data: dict) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, data)
            except Exception:
                logger.exception("router event hook failed")

    async def close(self) -> None:
        self._closed = True
        self._stop_speaker_timer()
        if self.recording is not None:
            try:
                await self.stop_recording()
            except Exception:
                logger.exception("finishing the recording failed")
        for peer_id in list(self.peers):
            await self.remove_peer(peer_id, keep_router=True)
        for producer_id in list(self.pipe_producers):
            self.close_pipe_producer(producer_id)
        for transport in list(self.pipe_transports):
            transport.close()
        self.pipe_transports.clear()
