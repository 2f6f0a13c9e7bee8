"""SubscribeConnection: the RTCPeerConnection on which the server offers a client its consumers.

One sendonly transceiver per consumer; a transceiver whose consumer ended goes inactive and is
reused by the next consumer of the same kind, so the SDP does not grow without bound. Only one
offer is outstanding at a time: changes made meanwhile are offered after the answer.

The aiortc RTCRtpSender of each transceiver keeps the SDP and the SSRC but never encodes: its
track never yields a frame, and its sender-report loop is replaced by ours, which reports the
DownTrack's true counters. RTCP from the subscriber is read at the DTLS transport, not routed to
the senders (aiortc routes by the header's media SSRC, which is 0 in a FIR): see feedback.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Awaitable, Callable, Optional

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.clock import current_ntp_time
from aiortc.rtcpeerconnection import is_codec_compatible

from . import red, rtp
from .allocation import LayerAllocator, Video, desired_layer, importance
from .compat import release_receiver
from .config import MediaConfig
from .consumer import Consumer
from .downtrack import DownTrack
from .errors import SdpError, StaleRevision
from .fastpath import InboundFastPath
from .feedback import SubscriberFeedback
from .ice import announce_addresses, guard_connection, rtc_configuration
from .producer import SUBSCRIBER_ABS_SEND_TIME_ID
from .sdp import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, add_rtcp_feedback, check_remote, codec_capability, rtx_capability
from .stats import Counters
from .transport import SrtpWire

logger = logging.getLogger(__name__)

RTCP_INTERVAL = 1.0
ALLOCATION_INTERVAL = 0.5  # seconds between two layer allocations (allocation.py)
ALLOCATION_MIN_GAP = 0.1  # a falling estimate reallocates at once, at most this often
ESTIMATE_STALE = 5.0  # a REMB older than this no longer counts
MAX_SIZES = 512
OfferCallback = Callable[[str, int, list], Awaitable[None]]
EventHook = Callable[[str, dict], None]


class SilentTrack(MediaStreamTrack):
    """A track that never yields a frame: the aiortc sender behind a consumer never encodes."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self):
        await asyncio.get_running_loop().create_future()  # never completes


class _Slot:
    __slots__ = ("transceiver", "downtrack", "consumer", "reusable")

    def __init__(self, transceiver, downtrack) -> None:
        self.transceiver = transceiver
        self.downtrack = downtrack
        self.consumer: Optional[Consumer] = None
        self.reusable = False  # inactive, and the client has agreed to it


class SubscribeConnection:
    def __init__(self, peer_id: str, config: MediaConfig, counters: Counters, on_offer: OfferCallback,
                 on_event: Optional[EventHook] = None) -> None:
        self.peer_id = peer_id
        self._on_event = on_event
        self.config = config
        self.counters = counters
        self.pc = RTCPeerConnection(rtc_configuration(config))
        self._on_offer = on_offer
        self.slots: list[_Slot] = []
        self.consumers: dict[str, Consumer] = {}  # by producer id
        self.revision = 0
        self.pending_revision: Optional[int] = None
        self._dirty = False
        self._task: Optional[asyncio.Task] = None
        self._lock = asyncio.Lock()
        self._dtls = None
        self._wire: Optional[SrtpWire] = None
        self._fast: Optional[InboundFastPath] = None
        self.feedback = SubscriberFeedback()
        self._paused_sources: set[tuple[str, str]] = set()  # (publisher peer id, source)
        # RED (red.py): mid -> (red PT, Opus PT) in the outstanding offer, and as last answered
        self._red_offered: dict[str, tuple[int, int]] = {}
        self._red_accepted: dict[str, tuple[int, int]] = {}
        self._rtcp_task: Optional[asyncio.Task] = None
        self._closed = False
        # simulcast layers (allocation.py): the tile size of each (publisher, source), the
        # allocator, bytes sent per DownTrack at the last allocation, what the client was told
        self._sizes: dict[tuple[str, str], tuple[int, int]] = {}
        self.allocator = LayerAllocator()
        self._allocation_task: Optional[asyncio.Task] = None
        self._allocated_at: Optional[float] = None
        self._sent_bytes: dict[int, int] = {}
        self._rates: dict[int, int] = {}  # DownTrack SSRC -> bits/s sent
        self.sent_rate = 0  # bits/s sent on this connection
        self._layers_told: Optional[list] = None
        self.feedback.on_estimate = self._on_estimate

    # consumers

    def add_consumer(self, producer) -> Optional[Consumer]:
        if self._closed or producer.id in self.consumers or producer.closed:
            return None
        slot = next((s for s in self.slots if s.reusable and s.transceiver.kind == producer.kind), None)
        if slot is None:
            slot = self._new_slot(producer.kind)
        transceiver = slot.transceiver
        preferences = [codec_capability(producer.codec)]
        if producer.kind == "video":
            preferences.append(rtx_capability())
        transceiver.setCodecPreferences(preferences)
        transceiver.direction = "sendonly"
        sender = transceiver.sender
        sender._stream_id = f"{producer.peer_id}-{'screen' if producer.source == 'screen' else 'main'}"
        consumer = Consumer(producer, transceiver, slot.downtrack)
        consumer.set_paused((producer.peer_id, producer.source) in self._paused_sources)
        sender._track_id = consumer.id
        slot.consumer = consumer
        slot.reusable = False
        self.consumers[producer.id] = consumer
        self._schedule()
        return consumer

    def remove_consumer(self, producer_id: str) -> None:
        consumer = self.consumers.pop(producer_id, None)
        if consumer is None:
            return
        for slot in self.slots:
            if slot.consumer is consumer:
                slot.downtrack.unbind()
                slot.consumer = None
                slot.transceiver.direction = "inactive"
        self._schedule()

    def set_consumer_paused(self, producer_peer_id: str, source: str, paused: bool) -> int:
        """Pause or resume what this subscriber receives of a publisher's source; remembered
        for later consumers of the same (peer, source). Returns how many consumers changed."""
        key = (producer_peer_id, source)
        if paused:
            self._paused_sources.add(key)
        else:
            self._paused_sources.discard(key)
        changed = 0
        for consumer in self.consumers.values():
            producer = consumer.producer
            if producer.peer_id == producer_peer_id and producer.source == source and consumer.paused != bool(paused):
                consumer.set_paused(paused)
                changed += 1
        return changed

    def set_consumer_paused_by_producer(self, producer_id: str, paused: bool) -> bool:
        """Pause or resume the consumer of one producer (not remembered past it)."""
        consumer = self.consumers.get(producer_id)
        if consumer is None:
            return False
        consumer.set_paused(paused)
        return True

    def set_video_sizes(self, entries: list) -> int:
        """The size (device pixels) of the tile showing each video: ``[{"participant_id",
        "source", "width", "height"}, ...]``, the complete set (others get the top layer their
        link allows). Returns how many were taken."""
        sizes: dict[tuple[str, str], tuple[int, int]] = {}
        for entry in list(entries or [])[:MAX_SIZES]:
            if not isinstance(entry, dict):
                continue
            width, height = entry.get("width"), entry.get("height")
            if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 16384 for v in (width, height)):
                continue
            sizes[(str(entry.get("participant_id")), str(entry.get("source")))] = (width, height)
        changed = sizes != self._sizes
        self._sizes = sizes
        if changed:
            self.allocate(time.monotonic())
        return len(sizes)

    def _new_slot(self, kind: str) -> _Slot:
        transceiver = self.pc.addTransceiver(SilentTrack(kind), direction="sendonly")
        release_receiver(transceiver.receiver)  # sendonly: its receiver never gets a packet
        sender = transceiver.sender
        downtrack = DownTrack(kind, sender._ssrc, sender._rtx_ssrc)
        self._hook_sender(sender, downtrack)
        self.feedback.tracks[downtrack.ssrc] = downtrack
        if self._wire is not None:
            downtrack.attach(self._wire.protect, self._wire.sendto, self._wire.addr)
        slot = _Slot(transceiver, downtrack)
        self.slots.append(slot)
        return slot

    def _hook_sender(self, sender, downtrack: DownTrack) -> None:
        counters = self.counters
        wire_of = lambda: self._wire  # noqa: E731

        async def _handle_rtcp_packet(packet) -> None:
            pass  # RTCP is read at the transport (feedback.py); nothing reaches aiortc's router

        original_next = sender._next_encoded_frame

        async def _next_encoded_frame(codec):
            frame = await original_next(codec)
            if frame is not None:
                counters.encoded_frames += 1  # an encode happened: count it, send nothing
            return None

        started = sender._RTCRtpSender__rtcp_started
        exited = sender._RTCRtpSender__rtcp_exited

        async def _run_rtcp() -> None:
            # Sender reports come from the connection's loop (true DownTrack counters);
            # this only keeps RTCRtpSender.stop() working and says goodbye.
            started.set()
            try:
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                pass
            wire = wire_of()
            if wire is not None and downtrack.packets:
                wire.send_rtcp(rtp.pack_bye(downtrack.ssrc))
            exited.set()

        sender._handle_rtcp_packet = _handle_rtcp_packet
        sender._next_encoded_frame = _next_encoded_frame
        sender._run_rtcp = _run_rtcp

    # negotiation

    def _schedule(self) -> None:
        if self._closed:
            return
        self._dirty = True
        if self.pending_revision is None and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._negotiate())

    async def _negotiate(self) -> None:
        while self._dirty and self.pending_revision is None and not self._closed:
            self._dirty = False
            if not self.slots:
                return
            try:
                async with self._lock:
                    offer = await self.pc.createOffer()
                    await self.pc.setLocalDescription(offer)
                    self._install()
                    self.revision += 1
                    self.pending_revision = self.revision
                    revision = self.revision
                    consumers = [s.consumer.describe() for s in self.slots if s.consumer is not None]
                    sdp = announce_addresses(self.pc.localDescription.sdp, self.config.announce)
                    # aiortc knows no red: offer it ourselves to consumers of RED producers
                    red_mids = [s.transceiver.mid for s in self.slots
                                if s.consumer is not None and s.consumer.producer.red_pt >= 0]
                    sdp, self._red_offered = red.offer_with_red(sdp, red_mids)
                    # receiver reference times from the browser, which we answer (feedback.py):
                    # its round trip to us, for its NACKs and its jitter buffer
                    sdp = add_rtcp_feedback(sdp, "video", "rrtr")
            except Exception:
                if not self._closed:
                    logger.exception("subscribe offer for %s failed", self.peer_id)
                return
            try:
                await self._on_offer(sdp, revision, consumers)
            except Exception:
                logger.exception("on_subscribe_offer callback for %s failed", self.peer_id)

    async def answer(self, sdp: str, revision: int) -> None:
        if isinstance(revision, bool) or not isinstance(revision, int) or revision != self.pending_revision:
            raise StaleRevision(f"revision {revision!r} is not the outstanding offer ({self.pending_revision})")
        allowed = self.config.remote_allowed if self.config.allowed_remote_networks is not None else None
        text, _ = check_remote(sdp, "answer", allowed)
        async with self._lock:
            if revision != self.pending_revision or self._closed:
                raise StaleRevision(f"revision {revision!r} is no longer current")
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
            except Exception as exc:
                logger.info("subscribe answer from %s refused: %s", self.peer_id, exc)
                raise SdpError(f"answer could not be applied: {exc}") from None
            self.pending_revision = None
            self._red_accepted = red.accepted_red(text, self._red_offered)
            self._apply_negotiated()
        if self._dirty:
            self._schedule()

    def _apply_negotiated(self) -> None:
        for slot in self.slots:
            transceiver = slot.transceiver
            consumer = slot.consumer
            if consumer is None:
                slot.reusable = transceiver.direction == "inactive"
                continue
            if transceiver.currentDirection not in ("sendonly", "sendrecv"):
                continue  # the client declined it
            producer = consumer.producer
            pt_map: dict[int, int] = {}
            rtx_pt = None
            negotiated = transceiver._codecs
            for codec in producer.codecs:
                match = next((c for c in negotiated if c.name.lower() != "rtx" and is_codec_compatible(c, codec)), None)
                if match is not None:
                    pt_map[codec.payloadType] = match.payloadType
            primary = pt_map.get(producer.codec.payloadType)
            for c in negotiated:
                if c.name.lower() == "rtx" and c.parameters.get("apt") == primary:
                    rtx_pt = c.payloadType
            # red, if the subscriber kept it (aiortc dropped it from what it negotiated)
            red_block_pt = None
            accepted = self._red_accepted.get(transceiver.mid)
            if accepted is not None and producer.red_pt >= 0 and primary is not None and accepted[1] == primary:
                pt_map[producer.red_pt] = accepted[0]
                red_block_pt = primary
            extensions = transceiver._headerExtensions
            audio_level = any(e.uri == AUDIO_LEVEL_URI for e in extensions)
            abs_send_time = any(e.uri == ABS_SEND_TIME_URI and e.id == SUBSCRIBER_ABS_SEND_TIME_ID
                                for e in extensions)
            slot.downtrack.set_payload_types(pt_map, rtx_pt, audio_level=audio_level,
                                             abs_send_time=abs_send_time, red_block_pt=red_block_pt)
            if slot.downtrack.producer is not producer and not producer.closed:
                slot.downtrack.bind(producer, self._first_layer(consumer))
            consumer.active = True

    def _install(self) -> None:
        transceivers = self.pc.getTransceivers()
        if not transceivers:
            return
        dtls = transceivers[0].sender.transport
        if dtls is self._dtls:
            return
        self._dtls = dtls
        self._wire = SrtpWire(dtls)
        self.feedback.send_rtcp = self._wire.send_rtcp
        dtls._handle_rtcp_data = self._handle_rtcp_data
        dtls._handle_rtp_data = self._handle_rtp_data
        if self._fast is not None:
            self._fast.close()
        self._fast = InboundFastPath(dtls, None, self.feedback.handle)
        dtls.on("statechange", self._dtls_state_changed)
        if self.config.allowed_remote_networks is not None:
            guard_connection(dtls.transport._connection, self.config.remote_allowed)

    def _dtls_state_changed(self) -> None:
        if self._dtls is None:
            return
        if self._dtls.state == "connected":
            self._refresh_wire()
            self._fast.refresh()
            if self._rtcp_task is None and not self._closed:
                self._rtcp_task = asyncio.ensure_future(self._run_rtcp())
            if self._allocation_task is None and not self._closed:
                self._allocation_task = asyncio.ensure_future(self._run_allocation())
        elif self._dtls.state in ("closed", "failed"):
            self._wire.close()
            self._fast.close()
            for slot in self.slots:
                slot.downtrack.attach(None, None, None)

    async def _handle_rtcp_data(self, data: bytes) -> None:
        """RTCP that came aiortc's way (before the fast path, or from another address)."""
        now = time.monotonic()
        self.feedback.handle(data, now)
        if self._fast is not None:
            self._fast.refresh_from_slow_path(now)

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        pass  # subscribers send no media on this connection

    def _refresh_wire(self) -> None:
        wire = self._wire
        if wire is not None and wire.refresh():
            for slot in self.slots:
                slot.downtrack.attach(wire.protect, wire.sendto, wire.addr)

    async def _run_rtcp(self) -> None:
        cname = getattr(self.pc, "_RTCPeerConnection__cname", "sitroom")
        try:
            while not self._closed:
                await asyncio.sleep(RTCP_INTERVAL * (0.5 + random.random()))
                self._refresh_wire()
                if self._fast is not None:
                    self._fast.refresh()
                ntp = current_ntp_time()
                now = time.monotonic()
                reports = []
                for slot in self.slots:
                    report = slot.downtrack.sender_report(ntp, now)
                    if report is not None:
                        reports.append((slot.downtrack.ssrc, report))
                for packet in rtp.pack_report_compounds(reports, cname):
                    self._wire.send_rtcp(packet)
        except asyncio.CancelledError:
            pass

    # simulcast layers

    def _tile(self, producer) -> Optional[tuple[int, int]]:
        return self._sizes.get((producer.peer_id, producer.source))

    def _first_layer(self, consumer: Consumer) -> int:
        """Where a new consumer of a simulcast producer starts: the layer its tile wants, or the
        best one below it that is sending; capped by the link while it is congested."""
        producer = consumer.producer
        if not producer.layers:
            return 0
        producer.measure(time.monotonic())
        wanted = desired_layer([(layer.width, layer.height) for layer in producer.layers], self._tile(producer))
        if self.allocator.limit is not None:
            wanted = 0
        return next((i for i in range(wanted, -1, -1) if producer.live[i]), 0)

    def _on_estimate(self, bitrate: int, now: float) -> None:
        """A REMB: when it falls below what is sent, step down at once (not at the next tick)."""
        if (self._allocated_at is not None and now - self._allocated_at >= ALLOCATION_MIN_GAP
                and bitrate < self.sent_rate * 0.9):
            self.allocate(now)

    async def _run_allocation(self) -> None:
        try:
            while not self._closed:
                await asyncio.sleep(ALLOCATION_INTERVAL)
                self.allocate(time.monotonic())
        except asyncio.CancelledError:
            pass

    def _measure(self, now: float) -> None:
        """Bits/s sent per DownTrack and in all since the last allocation."""
        last = self._allocated_at
        elapsed = now - last if last is not None else 0.0
        total = 0
        for slot in self.slots:
            track = slot.downtrack
            before = self._sent_bytes.get(track.ssrc)
            self._sent_bytes[track.ssrc] = track.bytes
            if before is None or elapsed <= 0.05:
                continue
            rate = int((track.bytes - before) * 8 / elapsed)
            old = self._rates.get(track.ssrc)
            self._rates[track.ssrc] = rate if old is None else (old + rate) // 2
            total += self._rates[track.ssrc]
        if elapsed > 0.05:
            self.sent_rate = total

    def allocate(self, now: float) -> None:
        """Choose every video's layer (allocation.py) and apply it; tell the client what it
        receives when that changed."""
        if self._closed:
            return
        try:
            self._allocate(now)
        except Exception:
            logger.exception("layer allocation for %s failed", self.peer_id)

    def _allocate(self, now: float) -> None:
        self._measure(now)
        self._allocated_at = now
        feedback = self.feedback
        estimate = feedback.estimate if feedback.estimate is not None and now - feedback.estimate_time < ESTIMATE_STALE else None
        videos: list[Video] = []
        consumers: dict[int, Consumer] = {}
        fixed = 0
        losses = []
        for slot in self.slots:
            consumer = slot.consumer
            track = slot.downtrack
            if consumer is None or not consumer.active or consumer.paused:
                continue
            producer = consumer.producer
            if not producer.layers:
                # audio, and single-layer video (whose publisher adapts to the lowest estimate of
                # its subscribers, as before simulcast): counted, never stepped down or paused
                fixed += self._rates.get(track.ssrc, 0)
                continue
            if track.packets:  # (its last receiver report's loss, weighed by what it carries)
                rate = self._rates.get(track.ssrc, 0)
                losses.append((track.fraction_lost * rate, rate))
            tile = self._tile(producer)
            producer.measure(now)
            count = len(producer.layers)
            costs = [producer.layer_bitrate(i) for i in range(count)]
            usable = [producer.usable(i) for i in range(count)]
            desired = desired_layer([(layer.width, layer.height) for layer in producer.layers], tile)
            key = track.ssrc
            consumers[key] = consumer
            videos.append(Video(key, importance(tile, producer.source), desired, costs, usable, track.target_layer,
                                featured=tile is not None and desired > 0))
        carried = sum(rate for _, rate in losses)
        loss = int(sum(lost for lost, _ in losses) / carried) if carried else 0  # of 256, the link's
        limit = self.allocator.link_limit(now, estimate, self.sent_rate, loss)
        targets = self.allocator.decide(now, videos, limit, fixed)
        for key, target in targets.items():
            consumer = consumers[key]
            consumer.bandwidth_paused = target < 0  # resumed at a keyframe of the layer it gets
            consumer.downtrack.set_target_layer(target)
        self._tell_layers()

    def describe_layers(self) -> list[dict]:
        """What this subscriber receives of each video (the ``video_layers`` event's list)."""
        videos = []
        for slot in self.slots:
            consumer = slot.consumer
            if consumer is None or consumer.kind != "video":
                continue
            producer = consumer.producer
            track = slot.downtrack
            source = track.source if track.source is not None else producer
            receiving = track.started and not consumer.bandwidth_paused and not consumer.paused
            layer = (track.layer if producer.layers else 0) if receiving else None
            videos.append({
                "mid": slot.transceiver.mid, "participant_id": producer.peer_id, "source": producer.source,
                "layer": layer, "layers": max(1, len(producer.layers)),
                "width": source.width if receiving else None, "height": source.height if receiving else None,
                "paused": "bandwidth" if consumer.bandwidth_paused else None,
            })
        return videos

    def _tell_layers(self) -> None:
        videos = self.describe_layers()
        if videos == self._layers_told or self._on_event is None:
            return
        self._layers_told = videos
        try:
            self._on_event("consumer_layers", {"peer_id": self.peer_id, "videos": videos})
        except Exception:
            logger.exception("consumer_layers event for %s failed", self.peer_id)

    def describe_consumers(self) -> list[dict]:
        return [s.consumer.describe() for s in self.slots if s.consumer is not None]

    async def close(self) -> None:
        self._closed = True
        for task in (self._task, self._rtcp_task, self._allocation_task):
            if task is not None and not task.done():
                task.cancel()
        for slot in self.slots:
            slot.downtrack.unbind()
            slot.consumer = None
            self.counters.retire_downtrack(slot.downtrack)
        self.consumers.clear()
        try:
            await self.pc.close()
        except Exception:
            logger.warning("closing subscribe connection of %s failed", self.peer_id, exc_info=True)
        if self._wire is not None:
            self._wire.close()
        if self._fast is not None:
            self._fast.close()
        for slot in self.slots:
            slot.downtrack.attach(None, None, None)
