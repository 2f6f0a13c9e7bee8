"""Recording without transcoding (media/recorder.py): two aiortc peers publish through the SFU
while the router records; every file is then opened and decoded with PyAV."""

from __future__ import annotations

import array
import asyncio
import fractions
import json
import math
import os
import random
import struct
import time
import types

import av
import pytest
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError

from media import LocalMedia
from media import recorder
from media.recorder import NTP_UNIX_OFFSET, Recording, h264_nal_units, manifest, write_manifest
from media.rtp import vp8_payload
from tests.media_pools import Member, loopback_config
from tests.test_media_simulcast import Publisher as SimulcastPublisher
from tests.media_helpers import AUDIO_PTIME, AUDIO_RATE, VIDEO_CLOCK, Joined, OpusToneTrack, SyntheticVideoTrack

TIMEOUT = 30
MEETING = 10.0  # seconds recorded


class SharedClock:
    """One capture clock for every test track: the first track to capture sets its origin; each
    second starts with a flash (video) and a beep (audio) on every track, so the recorded files
    show whether they line up."""

    def __init__(self) -> None:
        self.start = None

    def origin(self) -> float:
        if self.start is None:
            self.start = time.monotonic()
        return self.start


class FlashVideoTrack(SyntheticVideoTrack):
    """Dark frames, a white one at each whole second of the shared clock."""

    def __init__(self, clock: SharedClock, fps: int = 15) -> None:
        super().__init__(fps=fps)
        self._clock = clock
        self._frames = []
        for shade in (40, 220):
            frame = av.VideoFrame(320, 240, "yuv420p")
            for index, plane in enumerate(frame.planes):
                plane.update(bytes([shade if index == 0 else 128]) * (plane.line_size * plane.height))
            self._frames.append(frame)

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = self._clock.origin()
            self._count = math.ceil((time.monotonic() - self._start) * self._fps)  # a late starter catches up
        wait = self._start + self._count / self._fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = self._frames[1 if self._count % self._fps == 0 else 0]
        frame.pts = self._count * VIDEO_CLOCK // self._fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


_BEEP: list[bytes] = []


def _beep_packets() -> list[bytes]:
    """One second of 20 ms Opus packets: a 100 ms tone, then silence."""
    if not _BEEP:
        encoder = OpusEncoder()
        samples = int(AUDIO_RATE * AUDIO_PTIME)
        for n in range(int(1 / AUDIO_PTIME)):
            pcm = array.array("h", [0]) * (2 * samples)
            if n < 5:
                for i in range(samples):
                    pcm[2 * i] = pcm[2 * i + 1] = int(8000 * math.sin(2 * math.pi * 440 * i / AUDIO_RATE))
            frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
            frame.planes[0].update(pcm.tobytes())
            frame.sample_rate = AUDIO_RATE
            frame.pts = n * samples
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            payloads, _ = encoder.encode(frame)
            _BEEP.extend(payloads)
    return _BEEP


class BeepAudioTrack(OpusToneTrack):
    """A beep at each whole second of the shared clock."""

    def __init__(self, clock: SharedClock) -> None:
        super().__init__()
        self._clock = clock
        self._packets = _beep_packets()

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = self._clock.origin()
            self._count = math.ceil((time.monotonic() - self._start) / AUDIO_PTIME)
        wait = self._start + self._count * AUDIO_PTIME - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._packets[self._count % len(self._packets)])
        packet.pts = self._count * int(AUDIO_RATE * AUDIO_PTIME)
        packet.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._count += 1
        return packet


def flashes(path: str) -> list[float]:
    """Times (s, on the file's time line) of the white frames of a FlashVideoTrack recording."""
    found = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            luma = bytes(frame.planes[0])
            if sum(luma) / len(luma) > 130:
                found.append(float(frame.pts * frame.time_base))
    return found


def beeps(path: str) -> list[float]:
    """Times (s) at which the beeps of a BeepAudioTrack recording start."""
    found = []
    loud = False
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            samples = array.array("f", bytes(frame.planes[0])[:frame.samples * 4])
            energy = sum(x * x for x in samples) / max(1, len(samples))
            if energy > 0.001 and not loud:
                found.append(float(frame.pts * frame.time_base))
            loud = energy > 0.001
    return found


def sent_counts(members: list[Joined]) -> dict:
    """Frames (video) and packets (audio: one 20 ms frame each) each test peer has produced."""
    counts = {}
    for member in members:
        for track, _source in member.client.local_tracks:
            if isinstance(track, (SyntheticVideoTrack, OpusToneTrack)):
                counts[(member.client.name, track.kind)] = track._count
    return counts


def drop_published_packets(client, share: float, seed: int) -> list[int]:
    """Drop ``share`` of every RTP packet (audio, video and retransmissions) the client sends on
    its publish connection, at random (seeded): loss on the publisher's link."""
    dtls = client.publish_pc.getTransceivers()[0].sender.transport
    original = dtls._send_rtp
    rng = random.Random(seed)
    dropped = [0, 0]

    async def _send_rtp(data: bytes) -> None:
        dropped[1] += 1
        if rng.random() < share:
            dropped[0] += 1
            return
        await original(data)

    dtls._send_rtp = _send_rtp
    return dropped


def decode(path: str) -> dict:
    """Open a recorded file with PyAV and decode all of it."""
    with av.open(path) as container:
        assert len(container.streams) == 1
        stream = container.streams[0]
        frames = 0
        first = last = None
        for frame in container.decode(stream):
            frames += 1
            seconds = float(frame.pts * frame.time_base)
            first = seconds if first is None else first
            last = seconds
        return {"kind": stream.type, "codec": stream.codec_context.name, "frames": frames,
                "first": first, "last": last, "duration": (container.duration or 0) / 1e6}


async def record_meeting(sfu, client_peers, tmp_path, seconds: float, loss: float = 0.0):
    router = sfu.router("room-rec")
    clock = SharedClock()
    clients = []
    for name in ("alice", "bob"):
        client = client_peers(name)
        client.local_tracks = [(BeepAudioTrack(clock), "microphone"), (FlashVideoTrack(clock), "camera")]
        clients.append(client)
    members = [await Joined(router, client).join() for client in clients]
    for member in members:
        for other in members:
            if other is not member:
                await member.client.wait_for_frames(other.client.name, "video", 5, TIMEOUT)
                await member.client.wait_for_frames(other.client.name, "audio", 5, TIMEOUT)
    if loss:
        for index, member in enumerate(members):
            drop_published_packets(member.client, loss, seed=index + 1)
    pairs = [(m, o) for m in members for o in members if o is not m]  # (publisher, subscriber)

    def received_now() -> dict:
        return {(m.client.name, o.client.name): o.client.received(m.client.name, "video") for m, o in pairs}

    received_before = received_now()
    before = sent_counts(members)
    directory = str(tmp_path / "rec")
    started = time.monotonic()
    router.start_recording("rec_test", directory)
    await asyncio.sleep(seconds)
    after = sent_counts(members)
    result = await asyncio.wait_for(router.stop_recording(), TIMEOUT)
    meeting = time.monotonic() - started
    sent = {key: after[key] - before[key] for key in after}
    received = {key: count - received_before[key] for key, count in received_now().items()}
    return members, directory, result, sent, received, meeting


async def test_two_peers_recorded_without_transcoding(sfu, client_peers, tmp_path):
    members, directory, result, sent, received, meeting = await record_meeting(sfu, client_peers, tmp_path, MEETING)

    assert sfu.stats()["decoded_frames"] == 0 and sfu.stats()["encoded_frames"] == 0
    tracks = {(t["participant_id"], t["kind"]): t for t in result["tracks"]}
    assert set(tracks) == {(name, kind) for name in ("alice", "bob") for kind in ("audio", "video")}
    marks = {}
    for (name, kind), track in tracks.items():
        assert track["error"] is None
        assert track["file"] == f"{name}-{'camera' if kind == 'video' else 'microphone'}-{kind}.webm"
        assert track["clock"] == "sender_report"
        assert track["dropped_packets"] == 0
        info = decode(os.path.join(directory, track["file"]))
        assert info["kind"] == kind
        assert info["codec"] in (("vp8", "libvpx") if kind == "video" else ("opus", "libopus"))
        if kind == "video":
            # every frame sent while recording, less the few before the first keyframe
            assert info["frames"] >= 0.95 * sent[(name, "video")], (info, sent)
        else:
            assert info["frames"] >= 0.95 * sent[(name, "audio")], (info, sent)  # audio present, whole
        assert abs(info["duration"] - meeting) <= 0.5, (info, meeting)
        assert abs(info["last"] - meeting) <= 0.5, (info, meeting)
        assert abs(info["first"] - track["start_offset"]) < 0.02  # Opus: its decoder delay
        path = os.path.join(directory, track["file"])
        marks[(name, kind)] = flashes(path) if kind == "video" else beeps(path)
    # the files share one time line: each second's flash and beeps (captured together on every
    # track) are found at the same time in all four files, within 100 ms
    reference = marks[("alice", "video")]
    assert len(reference) >= MEETING - 1, marks
    for key, times in marks.items():
        assert len(times) >= MEETING - 1, (key, times)
        for t in reference:
            nearest = min(times, key=lambda x: abs(x - t))
            assert abs(nearest - t) <= 0.1, (key, t, times)
    # forwarding went on: each peer kept receiving the other's video while recorded
    for (name, subscriber), count in received.items():
        assert count >= 0.9 * sent[(name, "video")], (name, subscriber, count, sent)


async def test_recording_with_five_percent_loss_is_playable(sfu, client_peers, tmp_path):
    members, directory, result, sent, _, meeting = await record_meeting(sfu, client_peers, tmp_path, 6.0, loss=0.05)

    assert sum(t["lost_packets"] for t in result["tracks"]) >= 0  # NACK may repair them all
    for track in result["tracks"]:
        assert track["error"] is None and track["file"] is not None
        info = decode(os.path.join(directory, track["file"]))
        assert info["frames"] > 0.5 * sent[(track["participant_id"], track["kind"])], (track, info, sent)
        assert abs(info["last"] - meeting) <= 1.0


async def test_manifest_and_a_second_recording(sfu, client_peers, tmp_path):
    router = sfu.router("room-rec2")
    alice = await Joined(router, client_peers("alice")).join()
    bob = await Joined(router, client_peers("bob", video=False)).join()
    await bob.client.wait_for_frames("alice", "video", 3, TIMEOUT)
    router.start_recording("rec_a", str(tmp_path / "a"))
    with pytest.raises(ValueError):
        router.start_recording("rec_b", str(tmp_path / "b"))
    await asyncio.sleep(1.5)
    first = await router.stop_recording()
    assert await router.stop_recording() is None
    path = write_manifest(str(tmp_path / "a"), manifest(first["id"], "room-rec2", first["started"],
                                                        first["stopped"], first["tracks"]))
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    assert data["id"] == "rec_a" and len(data["tracks"]) == 3
    assert {t["file"] for t in data["tracks"]} == {"alice-camera-video.webm", "alice-microphone-audio.webm",
                                                   "bob-microphone-audio.webm"}
    assert all(t["start"].endswith("+00:00") for t in data["tracks"])
    # a second recording of the same router writes its own files
    router.start_recording("rec_b", str(tmp_path / "b"))
    await asyncio.sleep(1.0)
    second = await router.stop_recording()
    assert len(second["tracks"]) == 3
    for track in second["tracks"]:
        assert decode(os.path.join(str(tmp_path / "b"), track["file"]))["frames"] > 0
    assert alice.client.received("bob", "audio") > 0


def test_vp8_descriptor_and_h264_depacketising():
    # VP8: X with a 15-bit picture id, S=1 PID=0, then a key frame's first byte (P=0)
    packet = bytes(12) + bytes([0x90, 0x80, 0x81, 0x23, 0x10, 0x02])
    assert vp8_payload(packet, 12, len(packet)) == (True, True, 16)
    assert vp8_payload(packet, 12, 13) is None
    # H.264: a STAP-A (SPS, PPS) then an IDR in three FU-A fragments
    fragment = bytearray()
    stap = bytes([24, 0, 2, 0x67, 1, 0, 2, 0x68, 2])
    assert h264_nal_units(stap, 0, len(stap), fragment) == (
        b"\x00\x00\x00\x01\x67\x01\x00\x00\x00\x01\x68\x02", True, True)
    fu = [bytes([0x7C, 0x85, 1]), bytes([0x7C, 0x05, 2]), bytes([0x7C, 0x45, 3])]
    assert h264_nal_units(fu[0], 0, 3, fragment) == (b"", True, False)
    assert h264_nal_units(fu[1], 0, 3, fragment) == (b"", True, False)
    assert h264_nal_units(fu[2], 0, 3, fragment) == (b"\x00\x00\x00\x01\x65\x01\x02\x03", True, True)
    assert h264_nal_units(fu[1], 0, 3, bytearray()) is None  # a middle fragment without its start
    assert h264_nal_units(b"\x00", 0, 0, fragment) is None


async def check_recorded_room(handle, members, tmp_path, seconds: float = 3.0) -> dict:
    """Record a room through its RouterHandle; every file of the manifest decodes."""
    for member in members:
        for other in members:
            if other is not member:
                await member.client.wait_for_frames(other.client.name, "video", 3, TIMEOUT)
    recording_id = await asyncio.wait_for(handle.start_recording(str(tmp_path)), TIMEOUT)
    with pytest.raises(ValueError):
        await handle.start_recording(str(tmp_path))
    await asyncio.sleep(seconds)
    data = await asyncio.wait_for(handle.stop_recording(), TIMEOUT)
    assert await handle.stop_recording() is None
    directory = tmp_path / recording_id
    with open(directory / "manifest.json", encoding="utf-8") as f:
        assert json.load(f) == data
    assert data["id"] == recording_id and abs(data["duration"] - seconds) < 1.0
    assert {(t["participant_id"], t["kind"]) for t in data["tracks"]} == {
        (m.client.name, kind) for m in members for kind in ("audio", "video")}
    for track in data["tracks"]:
        info = decode(str(directory / track["file"]))
        assert info["frames"] > 0.8 * seconds * (15 if track["kind"] == "video" else 50), (track, info)
    return data


async def test_recording_through_the_worker_pool_records_every_leg(worker_pools, client_peers, tmp_path):
    pool = await worker_pools(2, span_peers=1)
    handle = await pool.open_router("room-rec-pool")
    members = [await Member(handle, client_peers(name)).join() for name in ("alice", "bob")]
    assert handle.worker_of("alice") != handle.worker_of("bob")  # each leg records its own publisher
    await check_recorded_room(handle, members, tmp_path)


async def test_recording_through_local_media(client_peers, tmp_path):
    media = LocalMedia(loopback_config())
    try:
        handle = await media.open_router("room-rec-local")
        members = [await Member(handle, client_peers(name)).join() for name in ("alice", "bob")]
        first = await check_recorded_room(handle, members, tmp_path, seconds=2.0)
        # a recording still running when the room closes is finished, with its manifest
        recording_id = await handle.start_recording(str(tmp_path))
        await asyncio.sleep(1.0)
        await asyncio.wait_for(handle.close(), TIMEOUT)
        assert (tmp_path / recording_id / "manifest.json").exists()
        # the room's manifest lists both recordings, files relative to the room's folder
        room = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
        assert room["room_id"] == "room-rec-local"
        assert [r["id"] for r in room["recordings"]] == [first["id"], recording_id]
        assert len(room["tracks"]) == 8
        assert all((tmp_path / t["file"]).is_file() for t in room["tracks"])
    finally:
        await asyncio.wait_for(media.close(), TIMEOUT)


async def test_h264_is_recorded_to_matroska(sfu, client_peers, tmp_path):
    router = sfu.router("room-rec-h264")
    alice = await Joined(router, client_peers("alice", audio=False, video_codec="H264")).join()
    bob = await Joined(router, client_peers("bob")).join(publish=False)
    await bob.client.wait_for_frames("alice", "video", 3, TIMEOUT)
    router.start_recording("rec_h264", str(tmp_path))
    await asyncio.sleep(3.0)
    result = await router.stop_recording()
    [track] = result["tracks"]
    assert track["codec"].lower() == "video/h264" and track["file"] == "alice-camera-video.mkv"
    info = decode(str(tmp_path / track["file"]))
    assert info["codec"] == "h264"
    assert info["frames"] >= 0.8 * 3 * 15, info
    assert alice.client.received("bob", "video") == 0


class FakeStream:
    """What a TrackRecorder needs of a Producer (one stream, no simulcast)."""

    def __init__(self, kind: str = "video", codec: str = "VP8") -> None:
        self.kind = kind
        rate = 48000 if kind == "audio" else 90000
        self.codec = types.SimpleNamespace(name=codec, mimeType=f"{kind}/{codec}", payloadType=96, clockRate=rate)
        self.clock_rate = rate
        self.red_pt = -1
        self.peer_id, self.source, self.id = "carol", "camera" if kind == "video" else "microphone", "pr_test"
        self.layers = ()
        self.recorder = None
        self.closed = False
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1


def vp8_rtp_frames(count: int, gop: int) -> list[list[bytes]]:
    """``count`` VP8 frames (a keyframe every ``gop``) encoded by libvpx, each as RTP packets."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.gop_size = gop
    encoded = []
    for i in range(count):
        frame = av.VideoFrame(160, 120, "yuv420p")
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([(i * 7 + index * 40) % 256]) * (plane.line_size * plane.height))
        frame.pts = i
        encoded += [bytes(p) for p in encoder.encode(frame)]
    encoded += [bytes(p) for p in encoder.encode(None)]
    frames, seq = [], 1000
    for i, data in enumerate(encoded):
        size = max(1, -(-len(data) // 3))  # three packets a frame (small frames: fewer)
        chunks = [data[j:j + size] for j in range(0, len(data), size)]
        packets = []
        for k, chunk in enumerate(chunks):
            marker = 0x80 if k == len(chunks) - 1 else 0
            header = struct.pack("!BBHII", 0x80, marker | 96, seq & 0xFFFF, (5000 + i * 6000) & 0xFFFFFFFF, 1234)
            packets.append(header + bytes([0x10 if k == 0 else 0x00]) + chunk)
            seq += 1
        frames.append(packets)
    return frames


async def test_reordering_and_an_unrepaired_loss(tmp_path):
    """Packets out of order are put back in order; a packet never received breaks its frame,
    and the track waits for the next keyframe (asking for one) rather than write frames that
    refer to what was lost."""
    frames = vp8_rtp_frames(45, gop=15)
    keyframes = [i for i, packets in enumerate(frames) if not packets[0][13] & 0x01]
    assert keyframes[:3] == [0, 15, 30] and all(len(p) >= 2 for p in frames)
    recording = Recording("rec_unit", str(tmp_path))
    stream = FakeStream()
    track = recording.add(stream)
    packets = [p for i, f in enumerate(frames) for p in (f if i != 5 else f[:1] + f[2:])]  # frame 5 loses one
    start = next(i for i, p in enumerate(packets) if p in frames[20])
    packets[start], packets[start + 1] = packets[start + 1], packets[start]  # frame 20 arrives out of order
    now = time.monotonic()
    for index, packet in enumerate(packets):
        stream.recorder.tap(packet, 12, len(packet), struct.unpack_from("!H", packet, 2)[0], packet[1], now)
        if index == 0:  # the sender report: its RTP time 5000 is the wall clock now
            track.sender_report(int((time.time() + NTP_UNIX_OFFSET) * 2**32), 5000)
    [info] = await asyncio.wait_for(recording.stop(), TIMEOUT)
    assert info["lost_packets"] == 1 and info["clock"] == "sender_report"
    assert info["frames"] == 5 + 30  # frames 0-4, then 15-44: 5-14 follow the broken frame
    assert info["keyframes"] == 3
    assert stream.keyframe_requests >= 1
    assert stream.recorder is None  # untapped
    decoded = decode(str(tmp_path / info["file"]))
    assert decoded["frames"] == 35
    assert abs(decoded["last"] - 44 / 15) < 0.1  # RTP time, not arrival time


async def test_a_full_queue_drops_recording_packets_only(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder, "QUEUE_LIMIT", 10)
    recording = Recording("rec_full", str(tmp_path))
    stream = FakeStream()
    recording.add(stream)
    packets = [p for f in vp8_rtp_frames(10, gop=30) for p in f]
    now = time.monotonic()
    for packet in packets:
        stream.recorder.tap(packet, 12, len(packet), struct.unpack_from("!H", packet, 2)[0], packet[1], now)
    [info] = await asyncio.wait_for(recording.stop(), TIMEOUT)
    assert info["dropped_packets"] > 0
    assert info["dropped_packets"] + info["packets"] == len(packets)


async def test_a_simulcast_track_is_recorded_from_its_top_layer(tmp_path):
    pub = SimulcastPublisher()
    producer = pub.producer
    recording = Recording("rec_simulcast", str(tmp_path))
    track = recording.add(producer)
    assert track.stream is producer.layers[-1] and producer.layers[-1].recorder is track
    assert recording.add(producer) is None  # once
    # nobody receives layers 1 and 2: layer 1 is paused at the publisher, the recorded one is not
    assert producer.update_active(0.0) is None
    assert producer.update_active(6.0) == [True, False, True]
    pub.frame_all(keyframes=(0, 1, 2))
    [info] = await asyncio.wait_for(recording.stop(), TIMEOUT)
    assert producer.layers[-1].recorder is None
    assert info["participant_id"] == producer.peer_id and info["kind"] == "video"


async def test_a_jump_of_the_sequence_numbers_restarts_the_track_at_a_keyframe(tmp_path):
    frames = vp8_rtp_frames(30, gop=15)
    recording = Recording("rec_jump", str(tmp_path))
    stream = FakeStream()
    track = recording.add(stream)
    now = time.monotonic()
    for index, packets in enumerate(frames):
        for packet in packets:
            seq = struct.unpack_from("!H", packet, 2)[0]
            if index >= 10:  # the publisher's numbers jump by 40000 (more than half the space)
                seq = (seq + 40000) & 0xFFFF
                packet = packet[:2] + struct.pack("!H", seq) + packet[4:]
            stream.recorder.tap(packet, 12, len(packet), seq, packet[1], now)
    track.sender_report(int((time.time() + NTP_UNIX_OFFSET) * 2**32), 5000)
    [info] = await asyncio.wait_for(recording.stop(), TIMEOUT)
    assert info["frames"] == 10 + 15  # frames 0-9, then from the keyframe at 15 on
    assert stream.keyframe_requests >= 1
    assert decode(str(tmp_path / info["file"]))["frames"] == 25
