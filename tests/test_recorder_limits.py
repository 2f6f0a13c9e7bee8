"""The recorder (media/recorder.py) against what a publisher may do to its stream mid-recording:
jump its RTP timestamps (an encoder restart, a buggy or hostile client), send a sender report
that does not match its frames or only after CLOCK_WAIT, change its picture size (VP8 and
H.264). Driven without the writer thread, with synthetic packets and chosen arrival times; every
file is decoded with PyAV, every frame of it."""

from __future__ import annotations

import fractions
import math
import random
import struct

import av
import pytest

from media import recorder
from tests.test_media_simulcast import Publisher as SimulcastPublisher
from tests.test_recording import FakeStream
from media.recorder import (CLOCK_WAIT, MAX_CLOCK_SKEW, NTP_UNIX_OFFSET, Recording, frame_size, h264_sps_size,
                            vp8_frame_size)

FPS = 30
VIDEO_TICKS = 90000 // FPS  # RTP ticks per video frame
AUDIO_TICKS = 960  # 20 ms at 48 kHz
MAX_PAYLOAD = 1000


# ---- media: real encoded frames --------------------------------------------------------------------

def _picture(i: int, width: int, height: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(frame.planes):
        plane.update(bytes([(i * 7 + index * 40) % 256]) * (plane.line_size * plane.height))
    return frame


def encode_video(codec: str, count: int, width: int, height: int, gop: int = 0, **options: str) -> list[bytes]:
    """``count`` frames at ``width`` x ``height`` (one encoder: a keyframe first, then one every
    ``gop`` if given), each as bytes (H.264: Annex-B)."""
    context = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = fractions.Fraction(1, FPS)
    context.gop_size = gop or 10 * count
    if codec == "h264":
        context.options = {"tune": "zerolatency", "preset": "ultrafast", "x264-params": "scenecut=0", **options}
    out = []
    for i in range(count):
        frame = _picture(i, width, height)
        frame.pts = i
        out += [bytes(p) for p in context.encode(frame)]
    out += [bytes(p) for p in context.encode(None)]
    assert len(out) == count
    return out


def encode_opus(count: int) -> list[bytes]:
    """``count`` 20 ms Opus packets of a tone."""
    context = av.CodecContext.create("libopus", "w")
    context.sample_rate, context.layout, context.format = 48000, "stereo", "s16"
    context.time_base = fractions.Fraction(1, 48000)
    out = []
    for n in range(count):
        pcm = bytearray()
        for i in range(AUDIO_TICKS):
            sample = int(6000 * math.sin(2 * math.pi * 440 * (n * AUDIO_TICKS + i) / 48000))
            pcm += struct.pack("<hh", sample, sample)
        frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_TICKS)
        frame.planes[0].update(bytes(pcm))
        frame.sample_rate = 48000
        frame.pts = n * AUDIO_TICKS
        out += [bytes(p) for p in context.encode(frame)]
    out += [bytes(p) for p in context.encode(None)]
    return out[:count]


# ---- RTP ---------------------------------------------------------------------------------------------

def _rtp(seq: int, ts: int, marker: bool, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, seq & 0xFFFF, ts & 0xFFFFFFFF, 4321) + payload


def vp8_packets(frame: bytes, seq: int, ts: int) -> list[bytes]:
    """A VP8 frame as RTP packets (RFC 7741: a 1-byte descriptor, S on the first)."""
    chunks = [frame[i:i + MAX_PAYLOAD] for i in range(0, len(frame), MAX_PAYLOAD)]
    return [_rtp(seq + k, ts, k == len(chunks) - 1, bytes([0x10 if k == 0 else 0x00]) + chunk)
            for k, chunk in enumerate(chunks)]


def h264_packets(frame: bytes, seq: int, ts: int) -> list[bytes]:
    """An Annex-B H.264 access unit as RTP packets (RFC 6184: SPS and PPS in a STAP-A, as
    Chromium sends them, other NAL units single or in FU-A fragments)."""
    payloads = []
    units = _annex_b_units(frame)
    parameters = [nal for nal in units if nal[0] & 0x1F in (7, 8)]
    if parameters:
        payloads.append(bytes([0x78]) + b"".join(struct.pack("!H", len(nal)) + nal for nal in parameters))
    for nal in units:
        if nal[0] & 0x1F in (7, 8):
            continue
        if len(nal) <= MAX_PAYLOAD:
            payloads.append(nal)
            continue
        indicator = (nal[0] & 0xE0) | 28
        body = nal[1:]
        pieces = [body[i:i + MAX_PAYLOAD] for i in range(0, len(body), MAX_PAYLOAD)]
        for k, piece in enumerate(pieces):
            header = (0x80 if k == 0 else 0) | (0x40 if k == len(pieces) - 1 else 0) | (nal[0] & 0x1F)
            payloads.append(bytes([indicator, header]) + piece)
    return [_rtp(seq + k, ts, k == len(payloads) - 1, p) for k, p in enumerate(payloads)]


def _annex_b_units(data: bytes) -> list[bytes]:
    units = []
    for part in data.split(b"\x00\x00\x01"):
        part = part.rstrip(b"\x00")  # a 4-byte start code's leading zero
        if part:
            units.append(part)
    return units


def ntp(wall: float) -> int:
    return int((wall + NTP_UNIX_OFFSET) * 2**32)


class Feed:
    """A TrackRecorder of a writer-less Recording, fed frame by frame at chosen arrival times."""

    def __init__(self, tmp_path, kind: str = "video", codec: str = "VP8") -> None:
        self.recording = Recording("rec_limits", str(tmp_path), writer=False)
        self.stream = FakeStream(kind, codec)
        self.track = self.recording.add(self.stream)
        self.origin = self.recording.started_monotonic + 1.0  # arrival of the first packet
        self.seq = 20000
        self.last = self.origin

    def wall(self, arrival: float) -> float:
        return self.recording.wall(arrival)

    def packets(self, packets: list[bytes], arrival: float) -> None:
        for packet in packets:
            seq = struct.unpack_from("!H", packet, 2)[0]
            self.track.tap(packet, 12, len(packet), seq, packet[1], arrival)
        self.seq += len(packets)
        self.last = arrival
        self.recording.write_round(arrival)

    def sender_report(self, wall: float, rtp_ts: int) -> None:
        self.track.sender_report(ntp(wall), rtp_ts & 0xFFFFFFFF)

    def finish(self) -> dict:
        [info] = self.recording.finish(self.last + 1.0)
        return info


def decode_all(path: str) -> list[tuple[float, int, int]]:
    """Every frame of the file's one stream: (time s, width, height) (audio: 0, 0)."""
    out = []
    with av.open(path) as container:
        stream = container.streams[0]
        for frame in container.decode(stream):
            size = (frame.width, frame.height) if stream.type == "video" else (0, 0)
            out.append((float(frame.pts * frame.time_base), *size))
    return out


def packet_times(path: str) -> list[float]:
    """The demuxed packets' times (s), in file order."""
    with av.open(path) as container:
        return [float(p.pts * p.time_base) for p in container.demux(container.streams[0]) if p.pts is not None]


def assert_even(times: list[float], step: float) -> None:
    """Strictly increasing, no gap and no pile-up: each step within 40 % of ``step``."""
    for a, b in zip(times, times[1:]):
        assert abs((b - a) - step) <= 0.4 * step, (a, b, times)


# ---- RTP timestamp jumps -----------------------------------------------------------------------------

JUMPS = {"forward_2_31": 2**31, "forward_2_30": 2**30, "back_10s": -10 * 90000, "back_3s": -3 * 90000,
         "forward_wraps": 2**32 - 5000 * VIDEO_TICKS}


@pytest.mark.parametrize("jump", list(JUMPS.values()), ids=list(JUMPS))
async def test_a_video_rtp_timestamp_jump_keeps_the_time_line(tmp_path, jump):
    """The publisher jumps its RTP time at frame 30 of 60 (same SSRC, same encoder): the file's
    frames stay 1/30 s apart and end where the frames arrived, not hours away or piled up at
    the last time plus 1 ms."""
    feed = Feed(tmp_path)
    frames = encode_video("vp8", 60, 160, 120)
    base_ts = 3_000_000
    feed.sender_report(feed.wall(feed.origin), base_ts)  # the first frame's RTP time is its arrival
    for i, frame in enumerate(frames):
        ts = base_ts + i * VIDEO_TICKS + (jump if i >= 30 else 0)
        feed.packets(vp8_packets(frame, feed.seq, ts), feed.origin + i / FPS)
    info = feed.finish()
    assert info["error"] is None and info["frames"] == 60
    assert info["clock"] == "arrival"  # since the jump, with no sender report after it
    decoded = decode_all(str(tmp_path / info["file"]))
    assert len(decoded) == 60
    times = [t for t, _, _ in decoded]
    assert info["end_offset"] < feed.last - feed.recording.started_monotonic + MAX_CLOCK_SKEW
    assert_even(times, 1 / FPS)
    offset = feed.origin - feed.recording.started_monotonic
    assert abs(times[-1] - (offset + 59 / FPS)) < 0.01, times[-1]
    assert info["clock_jumps"] == 1


@pytest.mark.parametrize("jump", [2**31, -10 * 48000, 2**30], ids=["forward_2_31", "back_10s", "forward_2_30"])
async def test_an_audio_rtp_timestamp_jump_keeps_the_time_line(tmp_path, jump):
    feed = Feed(tmp_path, "audio", "opus")
    packets = encode_opus(150)
    base_ts = 123_456
    feed.sender_report(feed.wall(feed.origin), base_ts)
    for i, payload in enumerate(packets):
        ts = base_ts + i * AUDIO_TICKS + (jump if i >= 75 else 0)
        feed.packets([_rtp(feed.seq, ts, i == 0, payload)], feed.origin + i * 0.02)
    info = feed.finish()
    assert info["error"] is None and info["frames"] == 150
    path = str(tmp_path / info["file"])
    assert len(decode_all(path)) >= 149  # every packet decodes (the last may carry only the delay)
    assert_even(packet_times(path), 0.02)
    offset = feed.origin - feed.recording.started_monotonic
    assert abs(info["end_offset"] - (offset + 149 * 0.02)) < 0.005
    assert info["clock_jumps"] == 1


async def test_after_a_jump_the_next_matching_sender_report_realigns_the_track(tmp_path):
    """Re-anchored at arrival (here 80 ms after capture), the track goes back to the publisher's
    clock with the first sender report of its new time line; one sent before the jump (its old
    time line) is not taken."""
    feed = Feed(tmp_path)
    frames = encode_video("vp8", 90, 160, 120)
    latency = 0.08
    capture = feed.wall(feed.origin) - latency  # frame 0's capture time
    feed.sender_report(capture, 1000)
    new_base = 1000 + 30 * VIDEO_TICKS + 2**31
    for i, frame in enumerate(frames):
        ts = 1000 + i * VIDEO_TICKS if i < 30 else new_base + (i - 30) * VIDEO_TICKS
        if i == 35:
            feed.sender_report(capture + 1.0, 1000 + 30 * VIDEO_TICKS)  # old time line, delayed: refused
        if i == 60:
            feed.sender_report(capture + 60 / FPS, new_base + 30 * VIDEO_TICKS)
        feed.packets(vp8_packets(frame, feed.seq, ts), feed.origin + i / FPS)
    info = feed.finish()
    assert info["clock"] == "sender_report" and info["frames"] == 90
    times = [t for t, _, _ in decode_all(str(tmp_path / info["file"]))]
    start = capture - feed.recording.started_wall  # frame 0 on the file's time line
    assert abs(times[0] - start) < 0.002
    assert abs(times[45] - (start + latency + 45 / FPS)) < 0.002  # re-anchored at arrival
    assert abs(times[89] - (start + 89 / FPS)) < 0.002  # the publisher's clock again
    assert all(b > a for a, b in zip(times, times[1:]))
    assert sum(1 for a, b in zip(times, times[1:]) if b - a < 0.01) <= 3  # the step back: at most 3 frames
    assert info["clock_jumps"] == 1


async def test_a_sender_report_after_clock_wait_replaces_the_arrival_clock(tmp_path):
    """No sender report within CLOCK_WAIT: arrival times stand in, then the first report that
    matches takes over (audio and video of a publisher line up again)."""
    feed = Feed(tmp_path, "audio", "opus")
    count = int((CLOCK_WAIT + 2.0) / 0.02)
    packets = encode_opus(count)
    latency = 0.15
    late = int((CLOCK_WAIT + 1.0) / 0.02)
    for i, payload in enumerate(packets):
        if i == late:
            feed.sender_report(feed.wall(feed.origin) - latency + i * 0.02, 500 + i * AUDIO_TICKS)
        feed.packets([_rtp(feed.seq, 500 + i * AUDIO_TICKS, False, payload)], feed.origin + i * 0.02)
    info = feed.finish()
    assert info["frames"] == count
    times = packet_times(str(tmp_path / info["file"]))
    offset = feed.origin - feed.recording.started_monotonic
    assert abs(times[0] - offset) < 0.002  # by arrival
    assert abs(times[-1] - (offset - latency + (count - 1) * 0.02)) < 0.002  # by the sender report
    assert all(b > a for a, b in zip(times, times[1:]))
    assert info["clock"] == "sender_report" and info["clock_jumps"] == 0


async def test_a_sender_report_far_from_the_arrivals_is_not_taken(tmp_path):
    """A report an hour off (a hostile or broken publisher): frames are never written hours
    ahead; the arrival times stand in."""
    feed = Feed(tmp_path)
    frames = encode_video("vp8", 30, 160, 120)
    feed.sender_report(feed.wall(feed.origin) + 3600.0, 0)
    for i, frame in enumerate(frames):
        feed.packets(vp8_packets(frame, feed.seq, i * VIDEO_TICKS), feed.origin + i / FPS)
    info = feed.finish()
    assert info["frames"] == 30
    times = [t for t, _, _ in decode_all(str(tmp_path / info["file"]))]
    offset = feed.origin - feed.recording.started_monotonic
    assert abs(times[-1] - (offset + 29 / FPS)) < 0.002
    assert info["clock"] == "arrival" and info["clock_jumps"] == 0


async def test_sender_reports_respect_the_queue_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder, "QUEUE_LIMIT", 10)
    feed = Feed(tmp_path, "audio", "opus")
    for i in range(50):
        feed.sender_report(feed.wall(feed.origin), i)
    assert len(feed.recording.queue) == 10
    assert feed.finish()["frames"] == 0


# ---- resolution changes ------------------------------------------------------------------------------

SIZES = ((160, 120), (320, 240), (176, 144))


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_a_resolution_change_is_listed_and_the_file_decodes_across_it(tmp_path, codec):
    """Three encoders one after the other (a camera switch: each starts with a keyframe of its
    size): the manifest lists the sizes, the header keeps the first, every frame decodes, at its
    own size."""
    feed = Feed(tmp_path, "video", "VP8" if codec == "vp8" else "H264")
    packetise = vp8_packets if codec == "vp8" else h264_packets
    ts = 7000
    index = 0
    for width, height in SIZES:
        for frame in encode_video(codec, 20, width, height):
            if index == 0:
                feed.sender_report(feed.wall(feed.origin), 7000)
            feed.packets(packetise(frame, feed.seq, ts + index * VIDEO_TICKS), feed.origin + index / FPS)
            index += 1
    info = feed.finish()
    assert info["error"] is None and info["frames"] == 60 and info["keyframes"] == 3
    assert info["file"].endswith(".webm" if codec == "vp8" else ".mkv")
    path = str(tmp_path / info["file"])
    decoded = decode_all(path)
    assert len(decoded) == 60
    assert [(w, h) for _, w, h in decoded] == [size for size in SIZES for _ in range(20)]
    with av.open(path) as container:
        assert (container.streams[0].width, container.streams[0].height) == SIZES[0]
    assert (info["width"], info["height"]) == SIZES[0]
    offset = round(feed.origin - feed.recording.started_monotonic, 3)
    assert [(r["width"], r["height"]) for r in info["resolutions"]] == list(SIZES)
    for k, entry in enumerate(info["resolutions"]):
        assert abs(entry["at"] - (offset + 20 * k / FPS)) <= 0.002, info["resolutions"]


async def test_audio_has_no_resolutions(tmp_path):
    feed = Feed(tmp_path, "audio", "opus")
    for i, payload in enumerate(encode_opus(5)):
        feed.packets([_rtp(feed.seq, i * AUDIO_TICKS, False, payload)], feed.origin + i * 0.02)
    info = feed.finish()
    assert info["frames"] == 5 and info["resolutions"] is None and info["width"] is None


@pytest.mark.parametrize("profile", ["baseline", "main", "high"])
@pytest.mark.parametrize("size", [(160, 120), (200, 116), (1280, 720), (642, 362)])
def test_h264_sps_sizes_with_cropping(profile, size):
    [keyframe] = encode_video("h264", 1, *size, profile=profile)
    sps = [nal for nal in _annex_b_units(keyframe) if nal[0] & 0x1F == 7]
    assert len(sps) == 1
    assert h264_sps_size(sps[0]) == size
    assert frame_size("h264", b"\x00\x00\x00\x01" + b"\x00\x00\x00\x01".join(_annex_b_units(keyframe))) == size


def test_vp8_keyframe_size():
    key, delta = encode_video("vp8", 2, 200, 116)
    assert vp8_frame_size(key) == (200, 116) and frame_size("vp8", key) == (200, 116)
    assert vp8_frame_size(delta) is None
    assert vp8_frame_size(key[:9]) is None


def test_size_parsers_never_raise_on_garbage():
    rng = random.Random(5)
    [keyframe] = encode_video("h264", 1, 320, 240, profile="high")
    sps = next(nal for nal in _annex_b_units(keyframe) if nal[0] & 0x1F == 7)
    samples = [bytes([0x67]) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    samples += [sps[:n] for n in range(len(sps))]
    samples += [bytes([0x67, 100, 0, 30]) + b"\x00" * 30, bytes([0x67]) + b"\xff" * 40]
    for sample in samples:
        found = h264_sps_size(sample)
        assert found is None or (0 < found[0] <= 16384 and 0 < found[1] <= 16384)
        found = vp8_frame_size(b"\x00\x00\x00\x9d\x01\x2a" + sample[:8])
        assert found is None or (0 < found[0] <= 16383 and 0 < found[1] <= 16383)


async def test_a_new_ssrc_within_the_producer_continues_the_file(tmp_path):
    """A publisher that renegotiates keeps its Producer with a new SSRC: new sequence numbers
    (here 20000 ahead) and a new random RTP time, a keyframe first. The file goes on at the
    frames' arrival times and decodes whole."""
    feed = Feed(tmp_path)
    first = encode_video("vp8", 30, 160, 120)
    second = encode_video("vp8", 30, 160, 120)
    feed.sender_report(feed.wall(feed.origin), 1000)
    for i, frame in enumerate(first):
        feed.packets(vp8_packets(frame, feed.seq, 1000 + i * VIDEO_TICKS), feed.origin + i / FPS)
    feed.seq += 20000
    for i, frame in enumerate(second):
        feed.packets(vp8_packets(frame, feed.seq, 0x9E3779B9 + i * VIDEO_TICKS), feed.origin + (30 + i) / FPS)
    info = feed.finish()
    assert info["error"] is None and info["frames"] == 60 and info["keyframes"] == 2
    assert info["lost_packets"] == 0  # the numbers skipped were never sent
    times = [t for t, _, _ in decode_all(str(tmp_path / info["file"]))]
    assert len(times) == 60
    assert_even(times, 1 / FPS)
    assert info["clock_jumps"] == 1


async def test_frames_whose_time_stands_still_never_run_ahead_of_their_arrival(tmp_path):
    """A stream repeating one RTP time, faster than one frame a millisecond: its frames are
    written 1 ms apart (times never go back) until that would put them more than MAX_CLOCK_SKEW
    after their arrival; those are not written."""
    feed = Feed(tmp_path, "audio", "opus")
    [payload] = encode_opus(1)
    count = 8000
    feed.sender_report(feed.wall(feed.origin), 0)
    for i in range(count):  # 10 packets a millisecond, all at RTP time 0
        feed.track.tap(_rtp(feed.seq + i, 0, False, payload), 12, 12 + len(payload), (feed.seq + i) & 0xFFFF, 96,
                       feed.origin + i * 0.0001)
        if i % 100 == 99:
            feed.recording.write_round(feed.origin + i * 0.0001)
    feed.last = feed.origin + count * 0.0001
    info = feed.finish()
    offset = feed.origin - feed.recording.started_monotonic
    assert info["end_offset"] <= offset + count * 0.0001 + MAX_CLOCK_SKEW
    assert info["frames"] + info["untimed_frames"] == count and info["untimed_frames"] > 0
    times = packet_times(str(tmp_path / info["file"]))
    assert len(times) == info["frames"] and all(b > a for a, b in zip(times, times[1:]))


async def test_packets_of_another_codec_never_reach_the_file(tmp_path):
    """A publisher switches from VP8 (96) to another negotiated codec (H.264 at 102) and back:
    the H.264 packets are left out (a VP8 decoder would take them for broken VP8), the file
    goes on at the next VP8 keyframe and decodes whole."""
    feed = Feed(tmp_path)
    vp8 = encode_video("vp8", 20, 160, 120) + encode_video("vp8", 20, 160, 120)
    h264 = encode_video("h264", 10, 160, 120)
    feed.sender_report(feed.wall(feed.origin), 0)
    index = 0
    for frames, packetise, payload_type in ((vp8[:20], vp8_packets, 96), (h264, h264_packets, 102),
                                            (vp8[20:], vp8_packets, 96)):
        for frame in frames:
            packets = [p[:1] + bytes([(p[1] & 0x80) | payload_type]) + p[2:]
                       for p in packetise(frame, feed.seq, index * VIDEO_TICKS)]
            feed.packets(packets, feed.origin + index / FPS)
            index += 1
    info = feed.finish()
    assert info["error"] is None
    decoded = decode_all(str(tmp_path / info["file"]))
    assert len(decoded) == 40 == info["frames"]
    assert info["other_codec_packets"] > 0 and info["keyframes"] == 2
    assert_even([t for t, _, _ in decoded[:20]], 1 / FPS) and assert_even([t for t, _, _ in decoded[20:]], 1 / FPS)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_a_frame_that_never_ends_is_not_kept_in_memory(tmp_path, monkeypatch, codec):
    """Packets of one timestamp without a marker (VP8), or FU-A fragments without an end
    (H.264): the frame being assembled stays under MAX_FRAME_BYTES, and the track goes on with
    the next keyframe."""
    monkeypatch.setattr(recorder, "MAX_FRAME_BYTES", 50_000)
    feed = Feed(tmp_path, "video", "VP8" if codec == "vp8" else "H264")
    chunk = bytes(range(256)) * 4
    garbage = []
    for k in range(300):
        if codec == "vp8":
            payload = bytes([0x10 if k == 0 else 0x00]) + chunk
        else:
            payload = bytes([0x7C, 0x85 if k == 0 else 0x05]) + chunk  # FU-A of an IDR, never its end
        garbage.append(_rtp(feed.seq + k, 0, False, payload))
    feed.packets(garbage, feed.origin)
    held = sum(len(p) for p in feed.track._frame) + len(feed.track._fragment)
    assert held <= 50_000
    packetise = vp8_packets if codec == "vp8" else h264_packets
    for i, frame in enumerate(encode_video(codec, 10, 160, 120)):
        feed.packets(packetise(frame, feed.seq, (i + 1) * VIDEO_TICKS), feed.origin + (i + 1) / FPS)
    info = feed.finish()
    assert info["frames"] == 10 and len(decode_all(str(tmp_path / info["file"]))) == 10


@pytest.mark.parametrize("seed", range(6))
async def test_a_mangled_stream_never_breaks_the_track_or_the_file(tmp_path, seed):
    """Real VP8 frames sent the way a bad network and a bad publisher would: packets lost,
    repeated, reordered, some replaced by another payload type, the RTP time jumping anywhere
    at random frames, sender reports true or wild. The track never fails, its times only go
    forward and stay within MAX_CLOCK_SKEW of the arrivals, and the file decodes whole."""
    rng = random.Random(seed)
    feed = Feed(tmp_path)
    frames = encode_video("vp8", 150, 160, 120, gop=15)
    ts = rng.getrandbits(32)
    stream = []  # (packet, arrival)
    for i, frame in enumerate(frames):
        if rng.random() < 0.04:
            ts = rng.getrandbits(32)  # the publisher's RTP time jumps anywhere
        ts += VIDEO_TICKS
        for packet in vp8_packets(frame, feed.seq, ts):
            if rng.random() < 0.03:
                packet = packet[:1] + bytes([(packet[1] & 0x80) | 100]) + packet[2:]  # another codec
            stream.append((packet, feed.origin + i / FPS))
        feed.seq += len(vp8_packets(frame, 0, 0))
    kept = []
    for packet, arrival in stream:
        roll = rng.random()
        if roll < 0.03:
            continue  # lost
        kept.append((packet, arrival))
        if roll > 0.97:
            kept.append((packet, arrival))  # repeated
    for k in range(len(kept) - 1):
        if rng.random() < 0.05:
            kept[k], kept[k + 1] = kept[k + 1], kept[k]  # reordered
    for index, (packet, arrival) in enumerate(kept):
        if rng.random() < 0.01:
            wild = rng.random() < 0.5
            feed.sender_report(feed.wall(arrival) + (rng.uniform(-1e5, 1e5) if wild else 0), struct.unpack_from("!I", packet, 4)[0])
        feed.track.tap(packet, 12, len(packet), struct.unpack_from("!H", packet, 2)[0], packet[1], arrival)
        feed.last = arrival
        if index % 5 == 0:
            feed.recording.write_round(arrival)
    info = feed.finish()
    assert info["error"] is None and info["frames"] > 0
    times = [t for t, _, _ in decode_all(str(tmp_path / info["file"]))]
    assert len(times) == info["frames"]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert times[-1] <= feed.last - feed.recording.started_monotonic + MAX_CLOCK_SKEW


# ---- simulcast: the recorded layer follows the layers that send -----------------------------------

LAYER_SIZES = ((160, 120), (320, 240), (480, 360))
LAYER_SSRCS = (0x1000, 0x2000, 0x3000)


async def test_a_simulcast_track_follows_its_top_layer_that_sends(tmp_path):
    """The publisher stops its top layer (short of CPU) for three seconds, then sends it again: the
    recording moves to the middle layer and back (each time from its next keyframe), so the file
    goes on, changing size, decodes whole, and keeps one time line."""
    producer = SimulcastPublisher().producer
    recording = Recording("rec_follow", str(tmp_path), writer=False)
    track = recording.add(producer)
    assert track.stream is producer.layers[2]
    origin = recording.started_monotonic + 1.0
    count = 180
    encoded = [encode_video("vp8", count, w, h, gop=15) for w, h in LAYER_SIZES]
    seq = [100, 30000, 65500]
    base = [1000, 5_000_000, 4_294_000_000]
    for layer in producer.layers:
        layer.ntp_offset = 0
    top_sending = [i < 45 or i >= 135 for i in range(count)]  # the top layer stops at frame 45, for 3 s
    for i in range(count):
        now = origin + i / FPS
        if i % 30 == 0:
            for index, layer in enumerate(producer.layers):  # sender reports: capture is arrival
                layer.on_sender_report(ntp(recording.wall(now)), (base[index] + i * VIDEO_TICKS) & 0xFFFFFFFF, 0)
        for index, layer in enumerate(producer.layers):
            if index == 2 and not top_sending[i]:
                continue
            for packet in vp8_packets(encoded[index][i], seq[index], base[index] + i * VIDEO_TICKS):
                packet = packet[:8] + struct.pack("!I", LAYER_SSRCS[index]) + packet[12:]
                layer.receive(packet, LAYER_SSRCS[index], now)
                seq[index] += 1
        recording.write_round(now)
        if i % 10 == 9:
            recording.follow_layers(now)
    [info] = recording.finish(origin + count / FPS + 1.0)
    assert info["error"] is None and info["layer_switches"] == 2 and info["clock_jumps"] == 0
    decoded = decode_all(str(tmp_path / info["file"]))
    assert len(decoded) == info["frames"]
    sizes = [(w, h) for _, w, h in decoded]
    runs = [sizes[0]] + [b for a, b in zip(sizes, sizes[1:]) if a != b]
    assert runs == [LAYER_SIZES[2], LAYER_SIZES[1], LAYER_SIZES[2]]
    assert [(r["width"], r["height"]) for r in info["resolutions"]] == runs
    assert (info["width"], info["height"]) == LAYER_SIZES[2]
    times = [t for t, _, _ in decoded]
    assert all(b > a for a, b in zip(times, times[1:]))
    # frame i of any layer was captured (and arrived) at origin + i / FPS: each frame is where
    # its layer's sender reports put it
    offset = origin - recording.started_monotonic
    assert all(abs(((t - offset) * FPS) - round((t - offset) * FPS)) < 0.1 for t in times), times
    # the one long gap: the top layer's silence showing (LIVE_WINDOW 1.5 s, measured every 0.5 s,
    # looked at every 1/3 s here), then the middle layer's next keyframe (every 0.5 s here)
    assert max(b - a for a, b in zip(times, times[1:])) < 3.0
    assert info["frames"] >= 100  # of 180: those of the gap are missing (the top layer alone gives 90)
