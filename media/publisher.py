"""PublishConnection: the RTCPeerConnection on which a client offers its tracks.

aiortc negotiates it (ICE, DTLS, SRTP, SDP); the packets are taken away from it: once DTLS is
connected, RTP/RTCP datagrams from the nominated ICE pair are unprotected and dispatched in the
socket callback itself (fastpath.py); the DTLS transport's ``_handle_rtp_data`` and
``_handle_rtcp_data`` are replaced too, for whatever still comes aiortc's way. Decrypted RTP goes
straight to the Producers; RTCP (sender reports) is read by us. aiortc's receivers still exist
(their decoder threads idle); anything that reaches them is counted as a decode and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from typing import Callable, Optional

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.clock import current_ntp_time

from . import red, rtp, simulcast
from .compat import release_receiver
from .config import MediaConfig
from .errors import SdpError
from .fastpath import InboundFastPath
from .ice import announce_addresses, guard_connection, rtc_configuration
from .producer import Producer
from .sdp import AUDIO_LEVEL_URI, MID_URI, accept_offered_extension, check_remote, forwardable_preferences, in_offer_order
from .simulcast import REPAIRED_RID_URI, RID_URI, SimulcastProducer
from .stats import Counters
from .transport import SrtpWire
from .twcc import FEEDBACK_INTERVAL, TWCC_URI, TransportFeedback

logger = logging.getLogger(__name__)

SOURCES = {"microphone": "audio", "camera": "video", "screen": "video"}
_U32 = struct.Struct("!I")
RTCP_INTERVAL = 1.0


class PublishConnection:
    def __init__(
        self,
        peer_id: str,
        config: MediaConfig,
        counters: Counters,
        on_producers_changed: Callable[[list[Producer], list[Producer]], None],
        on_event: Optional[Callable[[str, dict], None]] = None,
    ) -> None:
        self.peer_id = peer_id
        self._on_event = on_event
        self.config = config
        self.counters = counters
        self.pc = RTCPeerConnection(rtc_configuration(config))
        self.producers: dict[str, Producer] = {}  # by mid
        self._by_ssrc: dict[int, Producer] = {}
        self._mid_ext_id: Optional[int] = None
        # simulcast (simulcast.py): rids offered per mid, and the RID / repaired-RID extension ids
        self._layers: dict[str, list[str]] = {}
        self._rid_ext_id: Optional[int] = None
        self._repaired_rid_ext_id: Optional[int] = None
        self._red: dict[str, tuple[int, int]] = {}  # mid -> (red PT, Opus PT) answered (red.py)
        self._on_changed = on_producers_changed
        self._lock = asyncio.Lock()
        self._dtls = None
        self._wire: Optional[SrtpWire] = None
        self._fast: Optional[InboundFastPath] = None
        self._rtcp_ssrc = random.getrandbits(32)
        self._ntp_offset: Optional[int] = None
        self.rtt: Optional[float] = None  # round trip to the publisher (XR DLRR)
        self.twcc: Optional[TransportFeedback] = None
        self._twcc_task: Optional[asyncio.Task] = None
        self._rtcp_task: Optional[asyncio.Task] = None
        self._closed = False

    # negotiation

    async def publish(self, offer_sdp: str, sources: dict) -> str:
        if not isinstance(sources, dict) or not all(isinstance(k, str) and v in SOURCES for k, v in sources.items()):
            raise SdpError("sources must map mids to microphone, camera or screen")
        async with self._lock:
            if self._closed:
                raise SdpError("connection closed")
            prefs = {kind: forwardable_preferences(kind, self.config.video_codecs) for kind in ("audio", "video")}
            allowed = self.config.remote_allowed if self.config.allowed_remote_networks is not None else None
            text, description = check_remote(offer_sdp, "offer", allowed, prefs)
            red_offered = red.red_by_mid(text) if self.config.opus_red else {}
            layers = simulcast.offered_layers(text) if self.config.simulcast else {}
            if self.pc.signalingState != "stable":
                raise SdpError(f"cannot take an offer in state {self.pc.signalingState}")
            for media in description.media:
                source = sources.get(media.rtp.muxId)
                if source is not None and SOURCES[source] != media.kind:
                    raise SdpError(f"source {source!r} does not match the {media.kind} section")

            # Transceivers created before setRemoteDescription get our codec preferences.
            known = {t.mid for t in self.pc.getTransceivers()}
            for media in description.media:
                if media.rtp.muxId not in known:
                    transceiver = self.pc.addTransceiver(media.kind, direction="recvonly")
                    wanted = prefs[media.kind]
                    if self.config.publisher_codec_order:
                        wanted = in_offer_order(wanted, media.rtp.codecs)
                    transceiver.setCodecPreferences(wanted)
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="offer"))
                self._install()
                answer = await self.pc.createAnswer()
                await self.pc.setLocalDescription(answer)
            except SdpError:
                raise
            except Exception as exc:
                logger.info("publish offer from %s refused: %s", self.peer_id, exc)
                raise SdpError(f"offer could not be negotiated: {exc}") from None
            # aiortc knows no red: answer it ourselves (red.py), and ask for Opus in-band FEC and DTX
            answer_sdp, self._red = red.answer_with_red(self.pc.localDescription.sdp, red_offered,
                                                        dtx=self.config.opus_dtx)
            # nor transport-cc: accept it where offered, and send the feedback ourselves (twcc.py)
            answer_sdp, twcc_id = accept_offered_extension(answer_sdp, description, TWCC_URI, "transport-cc")
            self._set_transport_feedback(twcc_id)
            # nor simulcast: answer the layers (recv), and the extensions that name them
            self._layers = layers
            if layers:
                answer_sdp = simulcast.answer_with_simulcast(answer_sdp, layers)
                answer_sdp, _ = accept_offered_extension(answer_sdp, description, MID_URI)
                answer_sdp, self._rid_ext_id = accept_offered_extension(answer_sdp, description, RID_URI)
                answer_sdp, self._repaired_rid_ext_id = accept_offered_extension(
                    answer_sdp, description, REPAIRED_RID_URI)
            self._update_producers(description, sources)
            return announce_addresses(answer_sdp, self.config.announce)

    def _set_transport_feedback(self, ext_id: Optional[int]) -> None:
        """The publisher offered transport-wide sequence numbers: we answered yes, so we owe it
        transport-cc feedback (twcc.py), which drives its own bandwidth estimate."""
        if ext_id is None:
            self.twcc = None
        elif self.twcc is None or self.twcc.ext_id != ext_id:
            self.twcc = TransportFeedback(ext_id, self._rtcp_ssrc)
        for producer in self._streams():
            producer.twcc = self.twcc

    def _streams(self):
        """Every stream received: the producers, and the layers of simulcast ones."""
        for producer in self.producers.values():
            yield producer
            yield from producer.layers

    def _install(self) -> None:
        """Take the packet path away from aiortc (idempotent)."""
        counters = self.counters
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if not getattr(receiver, "_sitroom_hooked", False):
                async def _handle_rtp_packet(packet, arrival_time_ms, _counters=counters):
                    _counters.decoded_frames += 1  # anything reaching aiortc's decoder path
                receiver._handle_rtp_packet = _handle_rtp_packet
                receiver._sitroom_hooked = True
                release_receiver(receiver)
        dtls = self.pc.getTransceivers()[0].receiver.transport
        if dtls is not self._dtls:
            self._dtls = dtls
            dtls._handle_rtp_data = self._handle_rtp_data
            dtls._handle_rtcp_data = self._handle_rtcp_data
            self._wire = SrtpWire(dtls)
            if self._fast is not None:
                self._fast.close()
            self._fast = InboundFastPath(dtls, self.on_rtp, self.on_rtcp)
            dtls.on("statechange", self._dtls_state_changed)
            if self.config.allowed_remote_networks is not None:
                guard_connection(dtls.transport._connection, self.config.remote_allowed)

    def _dtls_state_changed(self) -> None:
        if self._dtls is None:
            return
        if self._dtls.state in ("closed", "failed"):
            self._fast.close()
        if self._dtls.state == "connected":
            self._wire.refresh()
            self._fast.refresh()
            if self._rtcp_task is None and not self._closed:
                self._rtcp_task = asyncio.ensure_future(self._run_rtcp())
            if self._twcc_task is None and not self._closed:
                self._twcc_task = asyncio.ensure_future(self._run_transport_feedback())
            for producer in self.producers.values():
                if producer.downtracks:
                    producer.request_keyframe()

    def _update_producers(self, description, sources: dict) -> None:
        added: list[Producer] = []
        removed: list[Producer] = []
        transceivers = {t.mid: t for t in self.pc.getTransceivers()}
        mid_ext = None
        for media in description.media:
            mid = media.rtp.muxId
            transceiver = transceivers.get(mid)
            sending = media.port != 0 and media.direction in ("sendonly", "sendrecv") and transceiver is not None
            source = sources.get(mid)
            if sending and source is None:
                source = "microphone" if media.kind == "audio" else "camera"
            current = self.producers.get(mid)
            rids = self._layers.get(mid) if media.kind == "video" else None
            if current is not None and (not sending or current.source != source
                                        or [layer.rid for layer in current.layers] != (rids or [])):
                removed.append(self.producers.pop(mid))
                current = None
            if not sending:
                continue
            for ext in media.rtp.headerExtensions:
                if ext.uri == MID_URI:
                    mid_ext = ext.id
            ssrc, rtx_ssrc = _ssrcs(media)
            level_id = next((e.id for e in media.rtp.headerExtensions if e.uri == AUDIO_LEVEL_URI), None)
            codecs = transceiver._codecs + ([red.red_codec(self._red[mid][0])] if mid in self._red else [])
            if current is None:
                options = dict(
                    peer_id=self.peer_id, source=source, kind=media.kind, mid=mid,
                    codecs=codecs, ssrc=ssrc, rtx_ssrc=rtx_ssrc, audio_level_id=level_id,
                    send_rtcp=self._send_rtcp, rtcp_ssrc=transceiver.sender._ssrc,
                    max_bitrate=self.config.max_incoming_bitrate,
                )
                producer = SimulcastProducer(rids=rids, **options) if rids else Producer(**options)
                if rids:
                    producer.on_wanted = lambda: self._update_layers(time.monotonic())
                for stream in (producer, *producer.layers):
                    stream.ntp_offset = self._ntp_offset
                    stream.twcc = self.twcc
                if self.rtt is not None:
                    producer.set_rtt(self.rtt)
                self.producers[mid] = producer
                added.append(producer)
            else:
                current.set_codecs(codecs)
                if not current.layers:  # a simulcast producer's layers keep the SSRCs they learnt
                    current.ssrc, current.rtx_ssrc = ssrc, rtx_ssrc
                else:  # a client sends every layer again after it offers (docs/protocol.md)
                    current.reset_active()
        self._mid_ext_id = mid_ext
        self._by_ssrc = {}
        for producer in self._streams():
            if producer.ssrc is not None:
                self._by_ssrc[producer.ssrc] = producer
            if producer.rtx_ssrc is not None:
                self._by_ssrc[producer.rtx_ssrc] = producer
        for producer in removed:
            self.counters.retire_producer(producer)
            producer.close()
        if added or removed:
            self._on_changed(added, removed)

    # packets in (hot path)

    def on_rtp(self, data: bytes, now: float) -> None:
        """Decrypted RTP, from the fast path or aiortc's."""
        if len(data) < 12:
            return
        ssrc = _U32.unpack_from(data, 8)[0]
        producer = self._by_ssrc.get(ssrc)
        if producer is None:
            producer = self._learn_ssrc(data, ssrc)
            if producer is None:
                return
        producer.receive(data, ssrc, now)

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        now = time.monotonic()
        self.on_rtp(data, now)
        if self._fast is not None:
            self._fast.refresh_from_slow_path(now)

    def _learn_ssrc(self, data: bytes, ssrc: int) -> Optional[Producer]:
        """An SSRC the SDP did not announce: find its producer by MID extension or payload type,
        and a simulcast layer by its RID (or, for its RTX stream, repaired RID) extension."""
        pt = data[1] & 0x7F
        producer = None
        elements = rtp.extension_elements(data) if rtp.header_length(data) > 0 else {}
        if self._mid_ext_id is not None:
            mid = elements.get(self._mid_ext_id)
            if mid is not None:
                producer = self.producers.get(mid.decode("ascii", "replace"))
        rid = None
        for ext_id in (self._rid_ext_id, self._repaired_rid_ext_id):
            if ext_id is not None and ext_id in elements:
                rid = elements[ext_id].decode("ascii", "replace")
        if rid is not None:
            layers = [layer for p in ([producer] if producer is not None else self.producers.values())
                      for layer in p.layers if layer.rid == rid]
            if len(layers) != 1:
                return None
            producer = layers[0]
        if producer is None:
            candidates = [p for p in self.producers.values() if pt in p.payload_types or pt in p._rtx_apt]
            if len(candidates) == 1:
                producer = candidates[0]
        if producer is None or producer.layers:
            return None  # a simulcast producer's streams are known only by their RID
        if pt in producer._rtx_apt:
            producer.rtx_ssrc = ssrc
        else:
            if producer.ssrc is not None:
                self._by_ssrc.pop(producer.ssrc, None)
            producer.ssrc = ssrc
        self._by_ssrc[ssrc] = producer
        return producer

    async def _handle_rtcp_data(self, data: bytes) -> None:
        now = time.monotonic()
        self.on_rtcp(data, now)
        if self._fast is not None:
            self._fast.refresh_from_slow_path(now)

    def on_rtcp(self, data: bytes, now: float) -> None:
        """Decrypted RTCP from the publisher (its sender reports, and the DLRR answers to our
        receiver reference times, which give the round trip), from either path."""
        try:
            for pt, _count, body in rtp.iter_rtcp(data):
                if pt == rtp.RTCP_XR:
                    for ssrc, lrr, dlrr in rtp.parse_xr_dlrr(body):
                        if ssrc == self._rtcp_ssrc and lrr:
                            self._on_dlrr(lrr, dlrr)
                elif pt == rtp.RTCP_SR and len(body) >= 24:
                    ssrc, ntp, rtp_ts, _, _ = rtp.parse_sender_report(body)
                    producer = self._by_ssrc.get(ssrc)
                    if producer is not None and ssrc == producer.ssrc:
                        now = current_ntp_time()
                        if self._ntp_offset is None:
                            self._ntp_offset = now - ntp
                            for p in self._streams():
                                p.ntp_offset = self._ntp_offset
                        producer.on_sender_report(ntp, rtp_ts, now)
        except Exception:  # malformed RTCP from a client must not kill the DTLS loop
            logger.debug("bad RTCP from %s", self.peer_id, exc_info=True)

    def _on_dlrr(self, lrr: int, dlrr: int) -> None:
        """RTT = arrival - our reference time - the publisher's delay, in 1/65536 s (RFC 3611)."""
        middle = (current_ntp_time() >> 16) & 0xFFFFFFFF
        rtt = ((middle - lrr - dlrr) & 0xFFFFFFFF) / 65536.0
        if not 0.0 <= rtt < 10.0:
            return
        self.rtt = rtt if self.rtt is None else 0.75 * self.rtt + 0.25 * rtt
        for producer in self.producers.values():
            producer.set_rtt(self.rtt)

    def _update_layers(self, now: float) -> None:
        """Pause at the publisher the simulcast layers nobody receives, resume the wanted ones
        (``publish_layers``: the client sets its encodings' ``active``)."""
        for producer in self.producers.values():
            if not producer.layers:
                continue
            active = producer.update_active(now)
            if active is not None and self._on_event is not None:
                try:
                    self._on_event("publish_layers", {"peer_id": self.peer_id, "mid": producer.mid,
                                                      "source": producer.source, "active": active})
                except Exception:
                    logger.exception("publish_layers event for %s failed", self.peer_id)

    # RTCP out

    def _send_rtcp(self, data: bytes) -> None:
        wire = self._wire
        if wire is not None:
            wire.send_rtcp(data)

    async def _run_rtcp(self) -> None:
        """Receiver reports and REMB to the publisher (aiortc's receivers see no packets, so
        they have nothing to report)."""
        try:
            while not self._closed:
                await asyncio.sleep(RTCP_INTERVAL * (0.5 + random.random()))
                self._wire.refresh()
                if self._fast is not None:
                    self._fast.refresh()
                now = current_ntp_time()
                self._update_layers(time.monotonic())
                blocks = [b for b in (p.report_block(now) for p in self._streams()) if b]
                if not blocks:
                    continue
                packet = rtp.pack_receiver_report(self._rtcp_ssrc, blocks[:31])
                packet += rtp.pack_xr_rrtr(self._rtcp_ssrc, now)
                monotonic = time.monotonic()
                for producer in self.producers.values():
                    remb = producer.remb_due(monotonic)
                    if remb is not None:
                        packet += remb
                self._send_rtcp(packet)
        except asyncio.CancelledError:
            pass

    async def _run_transport_feedback(self) -> None:
        """Transport-cc feedback every FEEDBACK_INTERVAL while anything arrived (the builder is
        read on each tick, so a renegotiation that turns it on or off takes effect at once)."""
        try:
            while not self._closed:
                await asyncio.sleep(FEEDBACK_INTERVAL)
                twcc = self.twcc
                if twcc is None:
                    continue
                if not twcc.media_ssrc:
                    twcc.media_ssrc = next((p.ssrc for p in self._streams() if p.ssrc), 0)
                for packet in twcc.build():
                    self._send_rtcp(packet)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("transport feedback for %s failed", self.peer_id)

    # life cycle

    def set_paused(self, source: str, paused: bool) -> None:
        for producer in self.producers.values():
            if producer.source == source:
                producer.set_paused(paused)

    async def close(self) -> list[Producer]:
        """Close the connection; returns the producers that ended."""
        self._closed = True
        for task in (self._rtcp_task, self._twcc_task):
            if task is not None:
                task.cancel()
        self._rtcp_task = self._twcc_task = None
        if self.twcc is not None:
            self.counters.twcc_feedbacks += self.twcc.feedbacks
            self.twcc = None
        if self._fast is not None:
            self._fast.close()
        producers = list(self.producers.values())
        self.producers.clear()
        self._by_ssrc = {}
        for producer in producers:
            self.counters.retire_producer(producer)
            producer.close()
        try:
            await self.pc.close()
        except Exception:
            logger.warning("closing publish connection of %s failed", self.peer_id, exc_info=True)
        return producers


def _ssrcs(media) -> tuple[Optional[int], Optional[int]]:
    """Main and RTX SSRC of a media section (a=ssrc-group:FID, else the order of a=ssrc)."""
    for group in media.ssrc_group:
        if group.semantic == "FID" and len(group.items) >= 2:
            return int(group.items[0]), int(group.items[1])
    ssrcs = []
    for s in media.ssrc:
        if s.ssrc not in ssrcs:
            ssrcs.append(s.ssrc)
    if not ssrcs:
        return None, None
    return ssrcs[0], (ssrcs[1] if len(ssrcs) > 1 else None)
