"""Pipes between routers (mediasoup's PipeTransport / ``pipeToRouter``): plain RTP/RTCP over UDP.

A room's router extends to a router in another process (or another SFU) through a pair of
:class:`PipeTransport`s, one per side: a UDP socket each (127.0.0.1, port 0 by default), no ICE,
DTLS or SRTP, each connected to the other's address, which the caller passes across with the
other control messages. Nothing is shared in memory: what crosses is datagrams and the small
JSON-able producer description (:func:`describe_for_pipe`).

- Source side: ``router.pipe_producer(producer_id, transport)`` adds a :class:`PipeOutput` to the
  Producer. The Producer's receive path hands it every packet it accepts (after its sequence
  checks, not while paused), as received: original SSRC, payload type, header extensions (audio
  level included). A packet the publisher repaired by RTX goes as the original packet (the pipe
  carries the main stream only). Per packet: one ring-buffer store (video) and one ``sendto``.
- Destination side: ``router.add_pipe_producer(description, transport)`` creates an ordinary
  :class:`~media.producer.Producer` from the description, fed by the transport (SSRC -> Producer)
  instead of a publish connection: its subscribers consume it through the same Consumer and
  DownTrack path, its audio levels feed the speaker detection. Its RTCP goes back over the pipe.

Feedback over the pipe (RTCP, plain):

- PLI/FIR: a subscriber's request reaches the destination Producer (coalesced and throttled
  there, as for a local one), which sends a PLI over the pipe; the source hands it to the real
  Producer as a subscriber's keyframe request (held while it repairs, throttled, then a PLI to
  the publisher).
- NACK: the destination Producer watches the pipe's sequence numbers exactly as a local one
  watches its publisher's link: a gap is NACKed over the pipe at once (and again per round trip,
  within NackGenerator's limits). The source answers from the PipeOutput's cache of originals
  (re-sent as they were: the late packet fills the gap at the destination and is forwarded to
  its subscribers). Subscribers' NACKs are answered from their DownTracks' caches; numbers
  missing there never reached the destination: those its Producer is not already asking for
  (given up, or not seen as lost) are NACKed over the pipe too (``Producer.repair_upstream``).
- REMB: the destination Producer's aggregate of its subscribers' estimates, at most once a
  second, counts at the source as one more consumer's estimate.
- Sender reports: the source forwards the publisher's SR translated to its own NTP clock; the
  destination takes it with an NTP offset of 0 (same wall clock), so its subscribers get sender
  reports that keep one publisher's audio and video in sync.

Datagrams from any address but the connected remote one are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from typing import Callable, Optional

from aiortc.clock import current_ntp_time
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters

from . import rtp
from .producer import Producer
from .simulcast import MAX_LAYERS, SimulcastProducer
from .retransmit_cache import RetransmitCache

logger = logging.getLogger(__name__)

_U32 = struct.Struct("!I")

PIPE_CACHE = 1024  # original packets kept per piped video producer, for NACKs from the other side
PIPE_RESEND_INTERVAL = 0.02  # seconds between two resends of one packet (loopback round trips)
MAX_NACKED = 128
RTCP_INTERVAL = 1.0  # REMB from the destination's producers, at most this often
RECV_SIZE = 65536
PIPE_DRAIN_LIMIT = 64  # datagrams read per wake-up after the first, at most (then other sockets' turn)
PIPE_SOCKET_BUFFER = 4 * 1024 * 1024  # bytes asked for each pipe socket's send and receive buffers


# descriptions


def codec_to_dict(codec) -> dict:
    return {
        "mimeType": codec.mimeType,
        "clockRate": codec.clockRate,
        "channels": codec.channels,
        "payloadType": codec.payloadType,
        "parameters": dict(codec.parameters),
        "rtcpFeedback": [{"type": f.type, "parameter": f.parameter} for f in codec.rtcpFeedback],
    }


def codec_from_dict(data: dict) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=str(data["mimeType"]), clockRate=int(data["clockRate"]),
        channels=None if data.get("channels") is None else int(data["channels"]),
        payloadType=int(data["payloadType"]),
        parameters=dict(data.get("parameters") or {}),
        rtcpFeedback=[RTCRtcpFeedback(type=str(f["type"]), parameter=f.get("parameter"))
                      for f in data.get("rtcpFeedback") or []],
    )


def describe_for_pipe(producer) -> dict:
    """What the other side needs to re-create ``producer`` (JSON-able)."""
    codecs = list(producer.codecs)
    if producer.red_pt >= 0:
        codecs.append(producer.payload_types[producer.red_pt])
    codecs += [  # the publisher's RTX codecs (informational: the pipe carries originals only)
        RTCRtpCodecParameters(mimeType=f"{producer.kind}/rtx", clockRate=producer.clock_rate,
                              payloadType=pt, parameters={"apt": apt})
        for pt, apt in producer._rtx_apt.items()
    ]
    return {
        "id": producer.id,
        "peer_id": producer.peer_id,
        "kind": producer.kind,
        "source": producer.source,
        "mid": producer.mid,
        "ssrc": producer.ssrc,
        "rtx_ssrc": producer.rtx_ssrc,
        "codecs": [codec_to_dict(c) for c in codecs],
        "audio_level_id": producer._audio_level_id,
        "red_pt": producer.red_pt if producer.red_pt >= 0 else None,
        "paused": producer.paused,
        "max_bitrate": producer.max_bitrate,
        # simulcast: the layers whose SSRC is known (a layer never sent yet is not piped)
        "layers": [{"rid": layer.rid, "ssrc": layer.ssrc} for layer in producer.layers],
    }


def producer_from_description(description: dict, send_rtcp: Callable[[bytes], None]):
    """A Producer (same class as a publisher's) for a piped producer; keeps the source's id."""
    kind = description["kind"]
    if kind not in ("audio", "video"):
        raise ValueError(f"bad kind {kind!r}")
    layers = description.get("layers") or []
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise ValueError("bad simulcast layers")
    ssrcs = [layer.get("ssrc") if isinstance(layer, dict) else None for layer in layers] or [description.get("ssrc")]
    if not all(_valid_ssrc(s) for s in ssrcs):
        raise ValueError("a piped producer needs its SSRC")
    options = dict(
        peer_id=str(description["peer_id"]), source=str(description["source"]), kind=kind,
        mid=str(description.get("mid") or ""),
        codecs=[codec_from_dict(c) for c in description["codecs"]],
        ssrc=ssrcs[0], rtx_ssrc=None,  # the pipe carries the main stream only
        audio_level_id=description.get("audio_level_id"),
        send_rtcp=send_rtcp, rtcp_ssrc=random.getrandbits(32),
        max_bitrate=int(description.get("max_bitrate") or 2_500_000),
    )
    if layers:
        producer = SimulcastProducer(rids=[str(layer.get("rid")) for layer in layers], **options)
        for layer, ssrc in zip(producer.layers, ssrcs):
            layer.ssrc = ssrc
    else:
        producer = Producer(**options)
    producer.id = str(description["id"])
    for stream in (producer, *producer.layers):
        stream.repairs_upstream = True
        stream.ntp_offset = 0  # the source sends sender reports in its NTP clock: the same wall clock
        stream.paused = bool(description.get("paused", False))
    return producer


def _valid_ssrc(ssrc) -> bool:
    return isinstance(ssrc, int) and not isinstance(ssrc, bool) and 0 <= ssrc <= 0xFFFFFFFF


def pipe_streams(producer, partial: bool = True) -> tuple:
    """The streams a pipe carries for a producer: itself, or its simulcast layers whose SSRC is
    known (all of them unless ``partial``). Raises ValueError when there is none (not all) yet."""
    if not producer.layers:
        if producer.ssrc is None:
            raise ValueError("the producer's SSRC is not known yet")
        return (producer,)
    streams = tuple(layer for layer in producer.layers if layer.ssrc is not None)
    if not streams or (not partial and len(streams) < len(producer.layers)):
        raise ValueError("a simulcast layer's SSRC is not known yet")
    return streams


# source side


class PipeOutput:
    """One producer sent over one pipe (source side). ``forward`` is on the Producer's hot path.
    It also looks like a consumer to the Producer's REMB aggregate (``remb``, ``remb_time``,
    ``paused``)."""

    __slots__ = ("producer", "transport", "cache", "_packets", "_mask", "packets", "retransmitted",
                 "retransmit_missing", "keyframe_requests", "remb", "remb_time", "paused", "closed")

    def __init__(self, producer, transport: "PipeTransport") -> None:
        self.producer = producer
        self.transport = transport
        self.cache = RetransmitCache(PIPE_CACHE, min_interval=PIPE_RESEND_INTERVAL) if producer.kind == "video" else None
        self._packets = self.cache._packets if self.cache is not None else None
        self._mask = PIPE_CACHE - 1
        self.packets = 0
        self.retransmitted = 0
        self.retransmit_missing = 0
        self.keyframe_requests = 0
        self.remb: Optional[int] = None
        self.remb_time = 0.0
        self.paused = False
        self.closed = False

    def forward(self, data: bytes, seq: int) -> None:
        packets = self._packets
        if packets is not None:
            packets[seq & self._mask] = data
        transport = self.transport
        sendto = transport.sendto
        if sendto is None:
            return
        try:
            sendto(data, transport.remote)
        except OSError:  # full socket buffer, closed socket: dropped, as on a congested link
            return
        self.packets += 1

    def send_rtcp(self, data: bytes) -> None:
        self.transport.send_rtcp(data)

    def retransmit(self, sequence_numbers: list[int], now: float) -> int:
        cache = self.cache
        sendto = self.transport.sendto
        if cache is None or sendto is None:
            return 0
        sent = 0
        for seq in sequence_numbers[:MAX_NACKED]:
            packet = cache.get(seq)
            if packet is None:
                self.retransmit_missing += 1
                continue
            if not cache.may_resend(seq, now):
                continue
            cache.resent(seq, now)
            try:
                sendto(packet, self.transport.remote)
            except OSError:
                break
            sent += 1
        self.retransmitted += sent
        return sent

    def keyframe_request(self, now: float) -> None:
        self.keyframe_requests += 1
        self.producer.subscriber_keyframe_request(now)

    def on_remb(self, bitrate: int, now: float) -> None:
        changed = self.remb is None or abs(bitrate - self.remb) > self.remb // 10
        self.remb = bitrate
        self.remb_time = now
        if changed:
            self.producer.on_consumer_remb(now)

    def close(self) -> None:
        """Stop sending (idempotent): off the Producer and the transport."""
        if self.closed:
            return
        self.closed = True
        self.producer.remove_pipe(self)
        self.transport._remove_output(self)


# the transport


class PipeTransport(asyncio.DatagramProtocol):
    """A plain RTP/RTCP UDP socket between two routers. Create with :meth:`create`, give the
    other side ``local_address``, then :meth:`connect` to the other side's address. One pair of
    transports carries any number of producers, in both directions."""

    def __init__(self) -> None:
        self._transport: Optional[asyncio.DatagramTransport] = None
        self.local_address: Optional[tuple[str, int]] = None
        self.remote: Optional[tuple[str, int]] = None
        self.sendto: Optional[Callable] = None  # the socket's, once connected
        self.inbound: dict[int, object] = {}  # SSRC -> destination Producer
        self.outbound: dict[int, PipeOutput] = {}  # SSRC -> source PipeOutput
        self._rtcp_task: Optional[asyncio.Task] = None
        self._recvfrom: Optional[Callable] = None  # the socket's own, for draining
        self.closed = False
        # counters
        self.rtp_in = 0
        self.rtcp_in = 0
        self.rtp_unknown = 0  # RTP for an SSRC no piped producer has
        self.foreign = 0  # datagrams from another address, dropped

    @classmethod
    async def create(cls, host: str = "127.0.0.1", port: int = 0) -> "PipeTransport":
        self = cls()
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        return self

    # asyncio protocol

    def connection_made(self, transport) -> None:
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.local_address = (host, port)
        sock = getattr(transport, "_sock", None)
        self._recvfrom = sock.recvfrom if sock is not None else None
        if sock is not None:
            # One pipe carries a room's whole other half (every producer of a leg): room for a
            # burst of keyframes from all of them while the worker's loop is busy elsewhere.
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, PIPE_SOCKET_BUFFER)
                except OSError:
                    pass

    def connection_lost(self, exc) -> None:
        self.sendto = None

    def error_received(self, exc) -> None:  # ICMP port unreachable while the other side is away
        pass

    # control

    def connect(self, host: str, port: int) -> None:
        """Send to, and accept only from, ``(host, port)``: the other side's ``local_address``."""
        if self.closed or self._transport is None:
            raise RuntimeError("pipe transport closed")
        self.remote = (str(host), int(port))
        self.sendto = self._socket_sendto()
        if self._rtcp_task is None:
            self._rtcp_task = asyncio.ensure_future(self._run_rtcp())

    def _socket_sendto(self) -> Callable:
        """The socket's own ``sendto`` (no asyncio buffering: a full buffer drops the datagram)."""
        raw = getattr(self._transport, "_sock", None)
        return raw.sendto if raw is not None else self._transport.sendto

    @property
    def connected(self) -> bool:
        return self.sendto is not None

    def describe(self) -> dict:
        """The address the other side connects to (JSON-able)."""
        host, port = self.local_address
        return {"host": host, "port": port}

    def add_output(self, producer) -> PipeOutput:
        if producer.ssrc is None:
            raise ValueError("the producer's SSRC is not known yet")
        output = self.outbound.get(producer.ssrc)
        if output is not None and output.producer is producer:
            return output
        if output is not None:
            output.close()
        output = PipeOutput(producer, self)
        self.outbound[producer.ssrc] = output
        producer.add_pipe(output)
        return output

    def _remove_output(self, output: PipeOutput) -> None:
        for ssrc, known in list(self.outbound.items()):
            if known is output:
                del self.outbound[ssrc]

    def add_inbound(self, producer) -> None:
        streams = pipe_streams(producer)
        for stream in streams:
            if stream.ssrc in self.inbound and self.inbound[stream.ssrc] is not stream:
                raise ValueError(f"SSRC {stream.ssrc} is already piped in on this transport")
        for stream in streams:
            self.inbound[stream.ssrc] = stream

    def remove_inbound(self, producer) -> None:
        for stream in (producer, *producer.layers):
            if self.inbound.get(stream.ssrc) is stream:
                del self.inbound[stream.ssrc]

    def set_send_filter(self, keep: Optional[Callable[[bytes], bool]]) -> None:
        """Test hook: only datagrams for which ``keep(data)`` is true are sent (None: all)."""
        if self._transport is None or self.remote is None:
            raise RuntimeError("connect first")
        send = self._socket_sendto()
        if keep is None:
            self.sendto = send
            return

        def sendto(data, addr, _send=send):
            if keep(data):
                _send(data, addr)

        self.sendto = sendto

    def send_rtcp(self, data: bytes) -> bool:
        sendto = self.sendto
        if sendto is None:
            return False
        try:
            sendto(data, self.remote)
        except OSError:
            return False
        return True

    # packets in

    def datagram_received(self, data: bytes, addr) -> None:
        self._receive(data, addr)
        # asyncio reads one datagram per wake-up; a pipe carries many streams, so read whatever
        # else has arrived meanwhile here (as media/fastpath.py does for a publisher's socket):
        # otherwise a busy worker's batching loop, which wakes at most once per millisecond, reads
        # at most 1000 pipe datagrams a second, and the rest queue up (latency, then loss).
        recvfrom = self._recvfrom
        if recvfrom is None:
            return
        for _ in range(PIPE_DRAIN_LIMIT):
            try:
                data, addr = recvfrom(RECV_SIZE)
            except OSError:  # BlockingIOError: nothing more; anything else: asyncio's business
                return
            self._receive(data, addr)

    def _receive(self, data: bytes, addr) -> None:
        remote = self.remote
        if remote is None or addr[0] != remote[0] or addr[1] != remote[1]:
            self.foreign += 1
            return
        if len(data) < 12 or not 128 <= data[0] < 192:
            return
        if 192 <= data[1] <= 223:  # RTCP (RFC 5761)
            self.rtcp_in += 1
            try:
                self._on_rtcp(data, time.monotonic())
            except Exception:
                logger.debug("bad RTCP on a pipe", exc_info=True)
            return
        ssrc = _U32.unpack_from(data, 8)[0]
        producer = self.inbound.get(ssrc)
        if producer is None:
            self.rtp_unknown += 1
            return
        self.rtp_in += 1
        producer.receive(data, ssrc, time.monotonic())

    def _on_rtcp(self, data: bytes, now: float) -> None:
        outbound = self.outbound
        for pt, fmt, body in rtp.iter_rtcp(data):
            if len(body) < 8:
                continue
            if pt == rtp.RTCP_PSFB:
                if fmt == rtp.RTCP_PSFB_PLI:
                    output = outbound.get(_U32.unpack_from(body, 4)[0])
                    if output is not None:
                        output.keyframe_request(now)
                elif fmt == rtp.RTCP_PSFB_FIR:
                    for offset in range(8, len(body) - 7, 8):
                        output = outbound.get(_U32.unpack_from(body, offset)[0])
                        if output is not None:
                            output.keyframe_request(now)
                elif fmt == rtp.RTCP_PSFB_APP:
                    remb = rtp.parse_remb(body)
                    if remb is not None:
                        bitrate, ssrcs = remb
                        for ssrc in ssrcs:
                            output = outbound.get(ssrc)
                            if output is not None:
                                output.on_remb(bitrate, now)
            elif pt == rtp.RTCP_RTPFB and fmt == rtp.RTCP_RTPFB_NACK:
                output = outbound.get(_U32.unpack_from(body, 4)[0])
                if output is not None:
                    output.retransmit(rtp.parse_nack(body, MAX_NACKED), now)
            elif pt == rtp.RTCP_SR and len(body) >= 24:
                ssrc, ntp, rtp_ts, _, _ = rtp.parse_sender_report(body)
                producer = self.inbound.get(ssrc)
                if producer is not None:
                    producer.on_sender_report(ntp, rtp_ts, current_ntp_time())

    async def _run_rtcp(self) -> None:
        """REMB for the producers piped in: their subscribers' aggregate, to the source."""
        try:
            while not self.closed:
                await asyncio.sleep(RTCP_INTERVAL * (0.5 + random.random()))
                now = time.monotonic()
                for producer in list(self.inbound.values()):
                    if producer.downtracks:
                        packet = producer.remb_due(now)
                        if packet is not None:
                            self.send_rtcp(packet)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("pipe RTCP loop failed")

    def close(self) -> None:
        """Close the socket and stop every output (inbound producers are the router's to close)."""
        if self.closed:
            return
        self.closed = True
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
            self._rtcp_task = None
        for output in list(self.outbound.values()):
            output.close()
        self.sendto = None
        if self._transport is not None:
            self._transport.close()
