"""Pre-encoded VP8 for test and benchmark publishers, and its RTP packetization (RFC 7741).

Shared by the tests (tests/simulcast_source.py) and the benchmarks (bench/_media.py re-exports it,
bench/_load.py sends it): the benchmarks already import from tests/, never the other way round.

- ``encode_vp8_clip``: a few seconds of VP8 (PyAV's libvpx, real-time settings, a fixed speed so
  the bytes are deterministic) of a textured picture moving sideways, one keyframe at the start of
  the clip. The picture is drawn at ``source`` size (640x480 by default) and scaled to the encoded
  size, so clips of several sizes show the same moving picture (simulcast layers).
- ``vp8_chunks`` / ``vp8_descriptor`` / ``Vp8Depacketizer``: packetization with a 15-bit PictureID.
"""

from __future__ import annotations

import fractions
import random

import av

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_CLOCK = 90000
TS_PER_FRAME = VIDEO_CLOCK // FPS
MAX_PAYLOAD = 1200  # bytes of VP8 data per packet (plus the 4-byte descriptor)


def _texture(width: int, height: int, seed: int = 7) -> list[bytes]:
    """Rows of a blocky random texture with a gradient, ``width`` pixels wide."""
    rnd = random.Random(seed)
    block = 16
    cols = width // block + 1
    rows = []
    grid = [[rnd.randint(30, 220) for _ in range(cols)] for _ in range(height // block + 1)]
    for y in range(height):
        cells = grid[y // block]
        row = bytearray(width)
        for x in range(width):
            value = (cells[x // block] * 3 + (x * 255 // width)) // 4 + ((x ^ y) & 7)
            row[x] = min(255, value)
        rows.append(bytes(row))
    return rows


_TEXTURES: dict[tuple[int, int], list[bytes]] = {}


def source_frame(i: int, width: int = WIDTH, height: int = HEIGHT) -> av.VideoFrame:
    """Frame ``i`` of the moving picture (yuv420p, ``width`` x ``height``): the texture moves
    90 px/s sideways (3 px per frame at 640 px wide, no wrap within 4 s), the colour drifts."""
    texture = _TEXTURES.get((width, height))
    if texture is None:
        texture = _TEXTURES[(width, height)] = _texture(width * 2, height)
    frame = av.VideoFrame(width, height, "yuv420p")
    dx = (i * 3 * width // WIDTH) % width
    y_plane, u_plane, v_plane = frame.planes
    pad = b"\x00" * (y_plane.line_size - width)
    y_plane.update(b"".join(row[dx:dx + width] + pad for row in texture))
    for plane, base in ((u_plane, 128 + (i % 60) - 30), (v_plane, 128 - (i % 40) + 20)):
        plane.update(bytes([base]) * (plane.line_size * plane.height))
    return frame


def encode_vp8_clip(seconds: float = 4.0, bitrate: int = 1_000_000, speed: str = "-8",
                    width: int = WIDTH, height: int = HEIGHT,
                    source: tuple[int, int] = (WIDTH, HEIGHT)) -> list[tuple[bytes, bool]]:
    """``seconds`` of ``width`` x ``height`` @ 30 VP8 of the moving picture drawn at ``source``
    size: a list of (frame bytes, is keyframe), keyframe first only."""
    count = int(seconds * FPS)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS)
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.bit_rate = bitrate
    codec.gop_size = 10 * count  # the first frame is the only keyframe
    codec.options = {"deadline": "realtime", "cpu-used": speed,  # negative: a fixed speed (deterministic)
                     "lag-in-frames": "0",
                     "auto-alt-ref": "0", "static-thresh": "0"}
    out: list[tuple[bytes, bool]] = []
    for i in range(count):
        frame = source_frame(i, *source)
        if (width, height) != tuple(source):
            frame = frame.reformat(width=width, height=height)
        frame.pts = i
        frame.time_base = codec.time_base
        for packet in codec.encode(frame):
            out.append((bytes(packet), bool(packet.is_keyframe)))
    for packet in codec.encode(None):
        out.append((bytes(packet), bool(packet.is_keyframe)))
    if not out or not out[0][1]:
        raise RuntimeError("the VP8 clip does not start with a keyframe")
    return out[:count]


def vp8_chunks(frame: bytes) -> list[bytes]:
    """A frame split into equal-ish chunks of at most MAX_PAYLOAD bytes."""
    count = max(1, -(-len(frame) // MAX_PAYLOAD))
    size = -(-len(frame) // count)
    return [frame[i:i + size] for i in range(0, len(frame), size)]


def vp8_descriptor(first: bool, picture_id: int) -> bytes:
    """RFC 7741 descriptor: X=1, S on the first packet, PID=0; I=1 with a 15-bit PictureID."""
    return bytes((0x90 if first else 0x80, 0x80, 0x80 | ((picture_id >> 8) & 0x7F), picture_id & 0xFF))


def rtp_payload_offset(packet: bytes) -> int:
    """Where the payload of an RTP packet starts (after CSRCs and a header extension)."""
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        offset += 4 + 4 * int.from_bytes(packet[offset + 2:offset + 4], "big")
    return offset


def vp8_picture_id(payload: bytes) -> int | None:
    """The PictureID of a VP8 RTP payload, if it carries one."""
    if len(payload) < 3 or not payload[0] & 0x80 or not payload[1] & 0x80:
        return None
    if payload[2] & 0x80:
        return ((payload[2] & 0x7F) << 8) | payload[3]
    return payload[2] & 0x7F


def vp8_payload_is_keyframe(payload: bytes) -> bool:
    """The payload starts a VP8 keyframe (S=1, partition 0, P bit of the frame tag clear)."""
    if not payload or not payload[0] & 0x10 or payload[0] & 0x07:
        return False
    offset = _vp8_descriptor_length(payload)
    return offset < len(payload) and not payload[offset] & 0x01


def _vp8_descriptor_length(payload: bytes) -> int:
    length = 1
    if payload[0] & 0x80:
        ext = payload[1]
        length = 2
        if ext & 0x80:
            length += 2 if payload[2] & 0x80 else 1
        if ext & 0x40:
            length += 1
        if ext & 0x30:
            length += 1
    return length


class Vp8Depacketizer:
    """Reassembles VP8 frames from RTP payloads (in order; a gap drops the frame)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._expect: int | None = None
        self._ok = False

    def push(self, seq: int, marker: bool, payload: bytes) -> bytes | None:
        start = bool(payload[0] & 0x10) and (payload[0] & 0x07) == 0
        if start:
            self._parts = []
            self._ok = True
        elif self._expect is None or seq != self._expect:
            self._ok = False
        self._expect = (seq + 1) & 0xFFFF
        if self._ok:
            self._parts.append(payload[_vp8_descriptor_length(payload):])
        if marker:
            frame = b"".join(self._parts) if self._ok else None
            self._parts = []
            self._ok = False
            return frame
        return None
