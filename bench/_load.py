"""Load-generator worker for bench/sfu.py: lean publishers and subscribers in one process.

Each participant has the two aiortc RTCPeerConnections a browser would have (aiortc does ICE,
DTLS-SRTP and SDP), but no aiortc media path once the connections are up:

- **Publishing**: the pre-encoded VP8 clip (RFC 7741 packets, PictureID = the frame's index in
  this stream) and the pre-encoded Opus packets (with an RFC 6464 audio level, when negotiated)
  are sent with the publish sender's SSRC and negotiated payload types: header packed with
  ``struct``, SRTP-protected with the DTLS transport's session, written straight to the nominated
  ICE pair's socket, paced by event-loop timers (30 frames/s, 50 audio packets/s, a random phase
  per publisher; ``rate_div`` n: 1/n of those rates, timestamps to match). A PLI/FIR from the
  SFU makes the next frame the clip's keyframe, as a browser would. The time (CLOCK_REALTIME)
  right before the ``sendto`` of each frame's last packet and of each audio packet is logged by
  frame/packet index.
- **Subscribing**: the subscribe connection's socket is read by us (``recvmsg``, with the
  kernel's receive timestamp of each datagram): each RTP datagram's clear-text header (sequence
  number, timestamp, SSRC, marker) is read without SRTP, packets are counted and complete frames
  (no sequence gap up to the marker) counted per stream. Once per stream one packet is
  SRTP-unprotected to learn its identity (the VP8 PictureID, or which Opus packet it is), which
  maps the SFU's rewritten RTP timestamps back to the publisher's frame index; the kernel's
  arrival time of frames (and audio packets) is then logged against it, with the time this
  process read them. One subscriber per run (``decode=True``) unprotects, reassembles and really
  decodes one VP8 stream with PyAV.

Signaling: ``SioBackend`` speaks docs/protocol.md to the real server (Socket.IO, like
tests/meeting_client.py); ``RelayBackend`` speaks the tiny HTTP API of bench/_relay.py;
``bench/_janus.py``'s ``JanusBackend`` the Janus VideoRoom API (bench/janus.py).

The worker is driven by the controller over a multiprocessing pipe: commands ``status``,
``mark`` (snapshot counters), ``log`` (start/stop logging arrival times), ``results``, ``stop``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import socket
import struct
import sys
import threading
import time
import traceback
from array import array
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import _media  # noqa: E402
from media import rtp as media_rtp  # noqa: E402
from tests.simulcast_source import (  # noqa: E402
    LAYERS, SimulcastSender, hook_rtcp, nominated_pair, read_answer, simulcast_offer, wait_for,
)

SETUP_TIMEOUT = 60.0
_HDR = struct.Struct("!BBHII")
_unpack_seq_ts_ssrc = struct.Struct("!HII").unpack_from
DRAIN_LIMIT = 256  # datagrams read per socket and poll, at most
POLL_INTERVAL = 0.002  # seconds between two reads of the subscribe sockets
RCVBUF = 1 << 20  # bytes of receive buffer per subscribe socket (~2 s of one subscriber's load at P = 15)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux
_TIMESPEC = struct.Struct("@qq")
_CMSG_SPACE = socket.CMSG_SPACE(16)


def _rtc_config():
    from aiortc import RTCBundlePolicy, RTCConfiguration
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


# ---- signaling backends --------------------------------------------------------------------------

class SioBackend:
    """docs/protocol.md over Socket.IO (join, publish, subscribe_offer / subscribe_answer)."""

    def __init__(self, base_url: str, token: str) -> None:
        import socketio
        self.base_url = base_url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.on_offer = None  # async (sdp, revision, consumers) -> answer sdp

        async def on_subscribe_offer(data):
            if self.on_offer is not None:  # publish-only participants never answer
                asyncio.ensure_future(self._answer(data))

        self.sio.on("subscribe_offer", on_subscribe_offer)
        self.video_layers: list[tuple[float, dict]] = []  # (monotonic, event data): simulcast layers received
        self.on_publish_layers = None  # (data) -> None: the SFU pauses/resumes our simulcast layers

        async def on_video_layers(data):
            self.video_layers.append((time.monotonic(), data))

        async def on_publish_layers(data):
            if self.on_publish_layers is not None:
                self.on_publish_layers(data)

        self.sio.on("video_layers", on_video_layers)
        self.sio.on("publish_layers", on_publish_layers)

    async def _answer(self, data: dict) -> None:
        try:
            answer = await self.on_offer(data["sdp"], data["revision"], data["consumers"])
            await self.sio.call("subscribe_answer", {"sdp": answer, "revision": data["revision"]}, timeout=30)
        except Exception as exc:
            if self.sio.connected:  # offers racing our own disconnect at the end are expected
                print(f"subscribe answer failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    async def join(self, name: str) -> str:
        await asyncio.wait_for(self.sio.connect(self.base_url, transports=["websocket"]), 30)
        ack = await self.sio.call("join", {"token": self.token, "name": name}, timeout=30)
        if not ack.get("ok"):
            raise RuntimeError(f"join refused: {ack}")
        return ack["self"]["id"]

    async def publish(self, sdp: str, sources: dict) -> str:
        ack = await self.sio.call("publish", {"sdp": sdp, "sources": sources}, timeout=30)
        if not ack.get("ok"):
            raise RuntimeError(f"publish refused: {ack}")
        return ack["sdp"]

    async def subscribe_prefs(self, prefs: dict) -> dict:
        return await self.sio.call("subscribe_prefs", prefs, timeout=30)

    async def close(self) -> None:
        if self.sio.connected:
            try:
                await asyncio.wait_for(self.sio.disconnect(), 10)
            except Exception:
                pass


class RelayBackend:
    """The HTTP API of bench/_relay.py (the MediaRelay baseline)."""

    def __init__(self, base_url: str, expect: int) -> None:
        self.base_url = base_url
        self.expect = expect
        self.session = None
        self.id: Optional[str] = None
        self.on_offer = None
        self._task: Optional[asyncio.Task] = None

    async def _post(self, path: str, body: dict) -> dict:
        import aiohttp
        async with self.session.post(self.base_url + path, json=body,
                                     timeout=aiohttp.ClientTimeout(total=60)) as response:
            response.raise_for_status()
            return await response.json()

    async def join(self, name: str) -> str:
        import aiohttp
        self.session = aiohttp.ClientSession()
        self.id = (await self._post("/join", {"name": name}))["id"]
        return self.id

    async def publish(self, sdp: str, sources: dict) -> str:
        answer = (await self._post("/publish", {"id": self.id, "sdp": sdp}))["sdp"]
        if self.on_offer is not None:  # publish-only participants never subscribe
            self._task = asyncio.ensure_future(self._subscribe())
        return answer

    async def _subscribe(self) -> None:
        try:
            offer = await self._post("/subscribe", {"id": self.id, "expect": self.expect})
            answer = await self.on_offer(offer["sdp"], offer["revision"], offer["consumers"])
            await self._post("/subscribe_answer", {"id": self.id, "sdp": answer})
        except Exception:
            traceback.print_exc()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.session is not None:
            await self.session.close()


# ---- media ---------------------------------------------------------------------------------------

def _make_silent_track(kind: str):
    from aiortc import MediaStreamTrack

    class SilentTrack(MediaStreamTrack):
        """A track that never yields: aiortc's sender waits on it forever and never encodes."""

        def __init__(self) -> None:
            super().__init__()
            self.kind = kind

        async def recv(self):
            await asyncio.Future()

    return SilentTrack()


class Stream:
    """What one subscriber receives of one publisher's track."""

    __slots__ = ("pub", "kind", "video", "packets", "bytes", "frames", "expect", "ok", "mapped", "id0", "ts0",
                 "attempts", "log", "decoder")

    def __init__(self, pub: str, kind: str) -> None:
        self.pub = pub
        self.kind = kind
        self.video = kind == "video"
        self.packets = 0
        self.bytes = 0  # SRTP datagram bytes
        self.frames = 0  # complete video frames / audio packets
        self.expect = -1
        self.ok = False
        self.mapped = False
        self.id0: Optional[int] = None  # PictureID (video) or Opus clip index (audio) at ts0
        self.ts0 = 0
        self.attempts = 0
        self.log = array("q")  # (timestamp - ts0, kernel arrival ns, read ns) while logging
        self.decoder: Optional["Decoder"] = None


class Decoder:
    """Reassembles one VP8 stream and decodes it with PyAV in a thread (the GIL is released)."""

    def __init__(self) -> None:
        self.depack = _media.Vp8Depacketizer()
        self.queue: queue.Queue = queue.Queue(maxsize=120)
        self.decoded = 0
        self.errors = 0
        self.dropped = 0
        self.size: Optional[tuple[int, int]] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def push(self, seq: int, marker: bool, payload: bytes) -> None:
        frame = self.depack.push(seq, marker, payload)
        if frame is not None:
            try:
                self.queue.put_nowait(frame)
            except queue.Full:
                self.dropped += 1

    def _run(self) -> None:
        import av
        codec = av.CodecContext.create("vp8", "r")
        while True:
            frame = self.queue.get()
            if frame is None:
                return
            try:
                for picture in codec.decode(av.Packet(frame)):
                    self.decoded += 1
                    self.size = (picture.width, picture.height)
            except Exception:
                self.errors += 1

    def close(self) -> None:
        try:
            self.queue.put(None, timeout=1)
        except queue.Full:
            pass
        self.thread.join(timeout=5)


class SocketPoller:
    """Reads the subscribe sockets every POLL_INTERVAL instead of sleeping on them.

    On loopback, a packet sent to a socket some process sleeps on (in epoll) wakes that process
    from within the sender's ``sendto``, and the waking is charged to the sender: the SFU would pay
    for waking its subscribers, which on a real network the receiving machines' kernels do. The
    subscribe sockets are therefore in no epoll set: nothing sleeps on them. Latency is unaffected
    (it is taken from the kernel's receive timestamps, not from when the poller reads)."""

    def __init__(self, loop) -> None:
        self.loop = loop
        self.readers: dict[int, tuple] = {}
        self._timer = None

    def add(self, sock, read_ready) -> None:
        self.readers[sock.fileno()] = (sock, read_ready)
        if self._timer is None:
            self._timer = self.loop.call_later(POLL_INTERVAL, self._poll)

    def _poll(self) -> None:
        for fd, (sock, read_ready) in list(self.readers.items()):
            if sock.fileno() < 0:
                del self.readers[fd]
                continue
            try:
                read_ready()
            except Exception:
                traceback.print_exc()
        self._timer = self.loop.call_later(POLL_INTERVAL, self._poll) if self.readers else None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.readers.clear()


class Participant:
    def __init__(self, name: str, backend, clip: list, opus: list, opus_index: dict, loop,
                 logging_flag: list, decode: bool, subscribe: bool = True, rate_div: int = 1,
                 poller: Optional[SocketPoller] = None, publish: bool = True,
                 simulcast_clips: Optional[tuple] = None) -> None:
        from aiortc import RTCPeerConnection
        self.name = name
        self.publishing = publish  # False: a viewer, who only receives
        self.backend = backend
        self.subscribing = subscribe
        self.backend.on_offer = self._on_offer if subscribe else None
        self.loop = loop
        self.poller = poller  # None: sleep on the subscribe socket like any asyncio reader
        self.clip = clip  # [(chunks, keyframe)]
        self.opus = opus
        self.opus_index = opus_index
        self.logging = logging_flag  # shared [bool]
        self.want_decoder = decode
        # rate_div > 1: every stream at 1/rate_div of its rate (video 30/rate_div frames/s, audio
        # packets of 20 ms x rate_div), timestamps true to that; same packets, same sizes
        self.div = rate_div
        self.decoder: Optional[Decoder] = None
        self.id: Optional[str] = None
        self.publish_pc = RTCPeerConnection(_rtc_config())
        self.subscribe_pc = RTCPeerConnection(_rtc_config())
        # publishing
        self.v_ssrc = self.a_ssrc = 0
        self.v_pt = self.a_pt = None
        self.level_id: Optional[int] = None
        self.v_seq = random.randint(0, 0xFFFF)
        self.a_seq = random.randint(0, 0xFFFF)
        self.v_ts0 = random.getrandbits(32)
        self.a_ts0 = random.getrandbits(32)
        self.k = 0  # video frames sent
        self.n = 0  # audio packets sent
        self.clip_pos = 0
        self.keyframe_wanted = False
        self.keyframes_sent = 0
        self.packets_sent = 0
        self.v_send = array("q")  # send time (ns) of frame k's last packet
        self.a_send = array("q")  # send time (ns) of audio packet n
        self._protect = self._sendto = self._addr = None
        self._timers: list = []
        self.send_errors = 0
        # simulcast (bench/simulcast.py): the camera as three layers (tests/simulcast_source.py)
        self.simulcast_clips = simulcast_clips
        self.sim: Optional[SimulcastSender] = None
        self.publish_layers = 0  # publish_layers events applied
        # subscribing
        self.streams: dict[int, Stream] = {}
        self.unknown = 0
        self._rx_unprotect = None
        self._hooked = None
        self._sub_task: Optional[asyncio.Task] = None
        self.offers = 0
        self._sub_dtls = self._sub_pair = None
        self.remb_start: Optional[float] = None  # monotonic time of the first REMB sent (start_remb)
        self.remb_sent = 0
        self._remb_timer = None
        self._remb_ssrc = random.getrandbits(32)
        self.rate_samples = array("d")  # (monotonic, video bytes received so far) pairs while tracing
        self._trace_timer = None

    # -- publishing --

    async def join_and_publish(self) -> None:
        from aiortc import RTCRtpSender, RTCSessionDescription
        from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket
        from aiortc.sdp import SessionDescription

        self.id = await self.backend.join(self.name)
        if not self.publishing:
            return
        audio = self.publish_pc.addTransceiver(_make_silent_track("audio"), direction="sendonly")
        video = self.publish_pc.addTransceiver(_make_silent_track("video"), direction="sendonly")
        video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                   if c.mimeType.lower() in ("video/vp8", "video/rtx")])
        offer = await self.publish_pc.createOffer()
        await self.publish_pc.setLocalDescription(offer)
        sources = {audio.mid: "microphone", video.mid: "camera"}
        sdp = self.publish_pc.localDescription.sdp
        if self.simulcast_clips is not None:
            sdp = simulcast_offer(sdp, video.mid, tuple(layer.rid for layer in LAYERS))
        answer = await self.backend.publish(sdp, sources)
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        for media in SessionDescription.parse(answer).media:
            names = {c.mimeType.lower(): c.payloadType for c in media.rtp.codecs}
            if media.kind == "video":
                self.v_pt = names.get("video/vp8")
            elif media.kind == "audio":
                self.a_pt = names.get("audio/opus")
                for ext in media.rtp.headerExtensions:
                    if ext.uri == "urn:ietf:params:rtp-hdrext:ssrc-audio-level":
                        self.level_id = ext.id
        if self.v_pt is None or self.a_pt is None:
            raise RuntimeError("VP8/Opus not accepted in the publish answer")
        self.v_ssrc = video.sender._ssrc
        self.a_ssrc = audio.sender._ssrc
        if self.simulcast_clips is not None:
            self.sim = SimulcastSender(self.simulcast_clips, LAYERS, read_answer(answer, video.mid), self.loop)
            self.sim.frame_hook = self._sim_frame
            if hasattr(self.backend, "on_publish_layers"):
                self.backend.on_publish_layers = self._on_publish_layers

        sender = video.sender
        original = sender._handle_rtcp_packet

        async def _handle_rtcp_packet(packet, _original=original):
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                self.keyframe_wanted = True
                return
            await _original(packet)

        sender._handle_rtcp_packet = _handle_rtcp_packet

        def wired() -> bool:
            dtls, pair = nominated_pair(self.publish_pc)
            return pair is not None and dtls.state == "connected" and dtls._tx_srtp is not None

        await wait_for(wired, SETUP_TIMEOUT, f"{self.name}: publish connection")
        dtls, pair = nominated_pair(self.publish_pc)
        self._protect = dtls._tx_srtp.protect
        self._sendto = pair.protocol.transport.sendto
        self._addr = pair.remote_addr
        if self.sim is not None:
            hook_rtcp(dtls, self.sim.handle_rtcp)  # PLI/FIR/NACK for our layers' SSRCs
            self.sim.attach(dtls, pair)

    def _sim_frame(self, k: int, sent_ns: int) -> None:
        self.v_send.append(sent_ns or time.time_ns())
        self.k = k + 1

    def _on_publish_layers(self, data: dict) -> None:
        """What a browser does with ``publish_layers``: encodings[i].active = active[i]."""
        if self.sim is not None and data.get("source") == "camera" and data.get("mid") == self.sim.negotiated.mid:
            self.sim.set_active(list(data.get("active") or []))
            self.publish_layers += 1

    def start_sending(self) -> None:
        if not self.publishing:
            return
        now = self.loop.time()
        self._v_start = now + random.random() * self.div / _media.FPS
        self._a_start = now + random.random() * 0.02 * self.div
        if self.sim is not None:
            self.sim.start(self._v_start - now)
            self._timers.append(self.loop.call_at(self._v_start, lambda: None))  # keeps the audio timer at [1]
        else:
            self._timers.append(self.loop.call_at(self._v_start, self._video_tick))
        self._timers.append(self.loop.call_at(self._a_start, self._audio_tick))

    def _video_tick(self) -> None:
        if self._protect is None:
            return
        if self.keyframe_wanted:
            self.keyframe_wanted = False
            if self.clip_pos != 0:
                self.clip_pos = 0
        chunks, keyframe = self.clip[self.clip_pos]
        self.keyframes_sent += keyframe
        self.clip_pos = (self.clip_pos + 1) % len(self.clip)
        k = self.k
        ts = (self.v_ts0 + k * _media.TS_PER_FRAME * self.div) & 0xFFFFFFFF
        last = len(chunks) - 1
        protect, sendto, addr, pt, ssrc = self._protect, self._sendto, self._addr, self.v_pt, self.v_ssrc
        pid_hi = 0x80 | ((k >> 8) & 0x7F)
        pid_lo = k & 0xFF
        seq = self.v_seq
        sent_ns = 0
        try:
            for i, chunk in enumerate(chunks):
                header = _HDR.pack(0x80, (0x80 | pt) if i == last else pt, seq, ts, ssrc)
                descriptor = bytes((0x90 if i == 0 else 0x80, 0x80, pid_hi, pid_lo))
                packet = protect(header + descriptor + chunk)
                if i == last:
                    sent_ns = time.time_ns()  # before the sendto: on loopback the SFU may forward it before that returns
                sendto(packet, addr)
                seq = (seq + 1) & 0xFFFF
        except Exception:
            self.send_errors += 1
        self.v_send.append(sent_ns or time.time_ns())
        self.packets_sent += len(chunks)
        self.v_seq = seq
        self.k = k + 1
        self._timers[0] = self.loop.call_at(self._v_start + self.k * self.div / _media.FPS, self._video_tick)

    def _audio_tick(self) -> None:
        if self._protect is None:
            return
        n = self.n
        payload = self.opus[n % len(self.opus)]
        ts = (self.a_ts0 + n * _media.AUDIO_SAMPLES * self.div) & 0xFFFFFFFF
        if self.level_id is not None:
            header = _HDR.pack(0x90, self.a_pt, self.a_seq, ts, self.a_ssrc) + \
                bytes((0xBE, 0xDE, 0, 1, self.level_id << 4, 40, 0, 0))  # V=0, -40 dBov
        else:
            header = _HDR.pack(0x80, self.a_pt, self.a_seq, ts, self.a_ssrc)
        sent_ns = 0
        try:
            packet = self._protect(header + payload)
            sent_ns = time.time_ns()
            self._sendto(packet, self._addr)
        except Exception:
            self.send_errors += 1
        self.a_send.append(sent_ns or time.time_ns())
        self.packets_sent += 1
        self.a_seq = (self.a_seq + 1) & 0xFFFF
        self.n = n + 1
        self._timers[1] = self.loop.call_at(self._a_start + self.n * 0.02 * self.div, self._audio_tick)

    # -- subscribing --

    async def _on_offer(self, sdp: str, revision: int, consumers: list) -> str:
        from aiortc import RTCSessionDescription
        from aiortc.sdp import SessionDescription
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        answer = await self.subscribe_pc.createAnswer()
        await self.subscribe_pc.setLocalDescription(answer)
        by_mid = {c["mid"]: c for c in consumers}
        for media in SessionDescription.parse(sdp).media:
            consumer = by_mid.get(media.rtp.muxId)
            if consumer is None:
                continue
            fid = [int(g.items[0]) for g in media.ssrc_group if g.semantic == "FID"]
            ssrcs = fid or [s.ssrc for s in media.ssrc]
            if not ssrcs:
                continue
            stream = self.streams.get(ssrcs[0])
            if stream is None or stream.pub != consumer["participant_id"]:
                stream = Stream(consumer["participant_id"], consumer["kind"])
                if self.want_decoder and self.decoder is None and stream.video:
                    self.decoder = stream.decoder = Decoder()
                self.streams[ssrcs[0]] = stream
        self.offers += 1
        if self._sub_task is None:
            self._sub_task = asyncio.ensure_future(self._hook_when_ready())
        return self.subscribe_pc.localDescription.sdp

    async def _hook_when_ready(self) -> None:
        try:
            await wait_for(lambda: nominated_pair(self.subscribe_pc)[1] is not None, SETUP_TIMEOUT,
                            f"{self.name}: subscribe ICE", step=0.005)
        except TimeoutError:
            return
        dtls, pair = nominated_pair(self.subscribe_pc)
        self._install(dtls, pair)

    def _install(self, dtls, pair) -> None:
        """Read the subscribe socket ourselves (instead of asyncio's transport): ``recvmsg`` with
        the kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) of each datagram, which
        is when the SFU's ``sendto`` put it on this socket: the latency measured ends there, not
        when this busy process got round to reading it. The user-space arrival time is logged
        too, for comparison."""
        protocol = pair.protocol
        original = protocol.datagram_received
        sock = protocol.transport._sock
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        recvmsg = sock.recvmsg
        streams = self.streams
        logging = self.logging
        unpack = _unpack_seq_ts_ssrc
        time_ns = time.time_ns
        unpack_timespec = _TIMESPEC.unpack

        def on_datagram(data: bytes, addr, rx_ns: int) -> None:
            if 127 < data[0] < 192 and not 191 < data[1] < 224:
                seq, ts, ssrc = unpack(data, 2)
                stream = streams.get(ssrc)
                if stream is None:
                    self.unknown += 1
                    return
                stream.packets += 1
                stream.bytes += len(data)
                marker = data[1] & 0x80
                if stream.decoder is not None:
                    self._decode(stream, dtls, data, seq, ts, marker)
                elif not stream.mapped:
                    self._map(stream, dtls, data, ts)
                if stream.video:
                    if seq != stream.expect:
                        stream.ok = False
                    stream.expect = (seq + 1) & 0xFFFF
                    if marker:
                        if stream.ok:
                            stream.frames += 1
                            if logging[0] and stream.id0 is not None:
                                stream.log.append((ts - stream.ts0) & 0xFFFFFFFF)
                                stream.log.append(rx_ns)
                                stream.log.append(time_ns())
                        stream.ok = True
                else:
                    stream.frames += 1
                    if logging[0] and stream.id0 is not None:
                        stream.log.append((ts - stream.ts0) & 0xFFFFFFFF)
                        stream.log.append(rx_ns)
                        stream.log.append(time_ns())
            else:
                original(data, addr)

        def read_ready() -> None:
            for _ in range(DRAIN_LIMIT):
                try:
                    data, ancillary, _flags, addr = recvmsg(4096, _CMSG_SPACE)
                except OSError:  # BlockingIOError: drained
                    return
                rx_ns = 0
                for level, kind, value in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                        sec, nsec = unpack_timespec(value[:16])
                        rx_ns = sec * 1_000_000_000 + nsec
                if data:
                    on_datagram(data, addr, rx_ns or time_ns())

        # asyncio stops watching this socket (its public remove_reader refuses an fd owned by a
        # transport): the poller reads it
        self.loop._remove_reader(sock.fileno())
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        if self.poller is not None:
            self.poller.add(sock, read_ready)
        else:
            self.loop._add_reader(sock.fileno(), read_ready)
        self._hooked = protocol
        self._sub_dtls, self._sub_pair = dtls, pair

    # -- bandwidth and layout (bench/simulcast.py) --

    async def send_sizes(self, speaker: str, ids: list[str]) -> Optional[dict]:
        """``subscribe_prefs`` with the gallery's tile sizes: 160x120 for everyone, 640x480 for
        ``speaker`` (the speaker shows the first other one large)."""
        if not self.subscribing or not hasattr(self.backend, "subscribe_prefs"):
            return None
        others = [i for i in ids if i != self.id]
        large = speaker if speaker != self.id else (others[0] if others else None)
        sizes = [{"participant_id": i, "source": "camera", "width": 640 if i == large else 160,
                  "height": 480 if i == large else 120} for i in others]
        return await self.backend.subscribe_prefs({"paused": [], "sizes": sizes})

    def start_remb(self, bitrate: int, interval: float) -> Optional[float]:
        """Report ``bitrate`` (REMB) on the subscribe connection for every video received, every
        ``interval`` seconds from now (what a browser on a short link sends). Returns the time
        of the first (monotonic), None if the subscribe connection is not up."""
        if self._sub_dtls is None or self._sub_pair is None:
            return None
        if self._remb_timer is not None:
            self._remb_timer.cancel()
        self.remb_start = time.monotonic()
        self._remb_tick(bitrate, interval)
        return self.remb_start

    def _remb_tick(self, bitrate: int, interval: float) -> None:
        ssrcs = [ssrc for ssrc, stream in self.streams.items() if stream.video]
        session = self._sub_dtls._tx_srtp
        if ssrcs and session is not None:
            try:
                packet = session.protect_rtcp(media_rtp.pack_remb(self._remb_ssrc, bitrate, ssrcs))
                self._sub_pair.protocol.transport.sendto(packet, self._sub_pair.remote_addr)
                self.remb_sent += 1
            except Exception:
                self.send_errors += 1
        self._remb_timer = self.loop.call_later(interval, self._remb_tick, bitrate, interval)

    def trace(self, on: bool, interval: float = 0.05) -> None:
        """Sample the video bytes received every ``interval`` seconds (rate over time)."""
        if self._trace_timer is not None:
            self._trace_timer.cancel()
            self._trace_timer = None
        if on:
            self._trace_tick(interval)

    def _trace_tick(self, interval: float) -> None:
        self.rate_samples.append(time.monotonic())
        self.rate_samples.append(float(sum(s.bytes for s in self.streams.values() if s.video)))
        self._trace_timer = self.loop.call_later(interval, self._trace_tick, interval)

    def _map(self, stream: Stream, dtls, data: bytes, ts: int) -> None:
        """Learn the stream's identity from one unprotected packet (a few tries)."""
        stream.attempts += 1
        if stream.attempts > 20:
            stream.mapped = True  # give up: no latency for this stream
            return
        session = dtls._rx_srtp
        if session is None:
            return
        try:
            plain = session.unprotect(data)
        except Exception:
            return
        self._identify(stream, plain, ts)

    def _identify(self, stream: Stream, plain: bytes, ts: int) -> None:
        payload = plain[_media.rtp_payload_offset(plain):]
        if stream.video:
            ident = _media.vp8_picture_id(payload)
        else:
            ident = self.opus_index.get(payload)
        if ident is None:
            return
        stream.id0, stream.ts0, stream.mapped = ident, ts, True

    def _decode(self, stream: Stream, dtls, data: bytes, seq: int, ts: int, marker: int) -> None:
        session = dtls._rx_srtp
        if session is None:
            return
        try:
            plain = session.unprotect(data)
        except Exception:
            return
        if not stream.mapped:
            stream.attempts += 1
            self._identify(stream, plain, ts)
            if stream.attempts > 20:
                stream.mapped = True
        stream.decoder.push(seq, bool(marker), plain[_media.rtp_payload_offset(plain):])

    # -- reporting --

    def ready(self, publishers: int) -> bool:
        if not self.subscribing:
            return self._protect is not None
        seen = {}
        for stream in self.streams.values():
            if stream.pub == self.id:
                continue
            good = stream.mapped and stream.frames >= (3 if stream.video else 10)
            seen.setdefault(stream.pub, 0)
            seen[stream.pub] += good
        others = publishers - 1 if self.publishing else publishers
        return len(seen) >= others and all(v >= 2 for v in seen.values())

    def snapshot(self) -> dict:
        sim_packets = sum(s.packets + s.retransmitted for s in self.sim.layers) if self.sim is not None else 0
        return {
            "id": self.id, "k": self.k, "n": self.n, "sent": self.packets_sent + sim_packets,
            "streams": {f"{s.pub}/{s.kind}": (s.packets, s.frames) for s in self.streams.values()},
            "unknown": self.unknown,
            "vbytes": sum(s.bytes for s in self.streams.values() if s.video),
            "abytes": sum(s.bytes for s in self.streams.values() if not s.video),
            "sim": self.sim.stats() if self.sim is not None else None,
        }

    def results(self) -> dict:
        out = {
            "id": self.id, "v_send": self.v_send.tobytes(), "a_send": self.a_send.tobytes(),
            "keyframes_sent": self.keyframes_sent, "send_errors": self.send_errors,
            "streams": [{"pub": s.pub, "kind": s.kind, "id0": s.id0, "log": s.log.tobytes()}
                        for s in self.streams.values()],
            "name": self.name, "remb_start": self.remb_start, "remb_sent": self.remb_sent,
            "rate_samples": self.rate_samples.tobytes(),
            "video_layers": list(getattr(self.backend, "video_layers", [])),
            "publish_layers": self.publish_layers,
            "sim": self.sim.stats() if self.sim is not None else None,
        }
        if self.decoder is not None:
            d = self.decoder
            out["decoder"] = {"decoded": d.decoded, "errors": d.errors, "dropped": d.dropped, "size": d.size}
        return out

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for timer in (self._remb_timer, self._trace_timer):
            if timer is not None:
                timer.cancel()
        if self.sim is not None:
            self.sim.stop()
        self._protect = None
        if self._sub_task is not None:
            self._sub_task.cancel()
        if self.decoder is not None:
            self.decoder.close()
        await self.backend.close()
        for pc in (self.publish_pc, self.subscribe_pc):
            try:
                await asyncio.wait_for(pc.close(), 10)
            except Exception:
                pass


# ---- worker process ------------------------------------------------------------------------------

def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _worker(conn, spec: dict) -> None:
    from media.ice import use_host_addresses
    use_host_addresses(["127.0.0.1"])  # aioice gathers 127.0.0.1 only, in this process too

    loop = asyncio.get_running_loop()
    clip = [(_media.vp8_chunks(frame), key) for frame, key in spec["clip"]]
    opus = spec["opus"]
    opus_index = {payload: i for i, payload in enumerate(opus)}
    logging_flag = [False]
    participants: list[Participant] = []
    poller = SocketPoller(loop) if spec.get("poll", True) else None
    for i, name in enumerate(spec["names"]):
        if spec["backend"] == "sio":
            backend = SioBackend(spec["base_url"], spec["token"])
        elif spec["backend"] == "janus":  # bench/janus.py: the same participants through Janus VideoRoom
            import _janus
            backend = _janus.JanusBackend(spec["base_url"], spec["room"])
        else:
            backend = RelayBackend(spec["base_url"], spec["publishers"])
        participants.append(Participant(name, backend, clip, opus, opus_index, loop, logging_flag,
                                        decode=spec["decode"] and i == 0,
                                        subscribe=spec.get("subscribe", True),
                                        rate_div=spec.get("rate_div", 1), poller=poller,
                                        publish=not name.startswith("V"),  # V1, V2...: viewers
                                        simulcast_clips=spec.get("simulcast_clips")))

    inbox: asyncio.Queue = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))

    try:
        # join one by one (as people do), publishing as soon as connected
        for p in participants:
            await asyncio.wait_for(p.join_and_publish(), SETUP_TIMEOUT)
            p.start_sending()
        conn.send(("joined", [p.id for p in participants]))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        participants_to_close = participants
    else:
        participants_to_close = participants
        while True:
            command = await inbox.get()
            if command == "status":
                conn.send(("status", sum(p.ready(spec["publishers"]) for p in participants)))
            elif command == "mark":
                conn.send(("mark", {"t": time.monotonic_ns(), "cpu": _cpu_seconds(os.getpid()),
                                    "participants": [p.snapshot() for p in participants]}))
            elif command in ("log on", "log off"):
                logging_flag[0] = command == "log on"
                conn.send(("ok", None))
            elif command == "results":
                conn.send(("results", [p.results() for p in participants]))
            elif command == "stop":
                break
            elif isinstance(command, tuple) and command[0] == "prefs":  # (prefs, speaker id, all ids)
                acks = [await p.send_sizes(command[1], command[2]) for p in participants]
                conn.send(("ok", acks))
            elif isinstance(command, tuple) and command[0] == "remb":  # (remb, name or "*", bitrate, interval)
                started = [p.start_remb(command[2], command[3]) for p in participants if command[1] in (p.name, "*")]
                conn.send(("ok", started))
            elif isinstance(command, tuple) and command[0] == "trace":  # (trace, on)
                for p in participants:
                    p.trace(command[1])
                conn.send(("ok", None))
    if poller is not None:
        poller.close()
    for p in participants_to_close:
        await p.close()
    loop.remove_reader(conn.fileno())
    conn.send(("stopped", None))


def worker_main(conn, spec: dict) -> None:
    """Entry point of a worker process (multiprocessing, spawn)."""
    if spec.get("nice"):
        os.nice(spec["nice"])
    try:
        asyncio.run(_worker(conn, spec))
    except Exception:
        try:
            conn.send(("error", traceback.format_exc()))
        except Exception:
            pass
