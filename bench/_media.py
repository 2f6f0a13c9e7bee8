"""Pre-encoded media for the SFU benchmark's load generator (made once, when the benchmark starts).

- ``encode_vp8_clip`` (tests/vp8_clip.py, re-exported here): a few seconds of 640x480@30 VP8 (PyAV's libvpx, real-time settings) of a
  textured picture moving sideways, one keyframe at the start of the clip. Publishers replay it
  in a loop (the clip's first frame is a keyframe, so looping, or jumping back to the start when a
  keyframe is asked for, keeps the stream decodable).
- ``encode_opus_clip``: 20 ms Opus packets (48 kHz mono, ~32 kbps) of a sweeping tone, every
  packet distinct, so a subscriber can tell which packet it got from its bytes.
- ``vp8_chunks`` / ``vp8_descriptor`` / ``Vp8Depacketizer``: RFC 7741 packetization with a 15-bit
  PictureID (the frame's index in the publisher's stream: a frame identity that survives the SFU,
  which rewrites SSRC, sequence numbers and timestamps but not payloads).
"""

from __future__ import annotations

import fractions
import math
import random
import sys
from pathlib import Path

import av

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# the VP8 side lives in tests/vp8_clip.py (the tests' publishers use it too)
from tests.vp8_clip import (  # noqa: E402,F401
    FPS, HEIGHT, MAX_PAYLOAD, TS_PER_FRAME, VIDEO_CLOCK, WIDTH, Vp8Depacketizer, encode_vp8_clip,
    rtp_payload_offset, source_frame, vp8_chunks, vp8_descriptor, vp8_payload_is_keyframe, vp8_picture_id,
)

AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms


def encode_opus_clip(seconds: float = 5.0) -> list[bytes]:
    """20 ms Opus packets (48 kHz mono) of a sweeping tone with a little noise; all distinct."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = 32000
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    rnd = random.Random(3)
    packets: list[bytes] = []
    phase = 0.0
    for n in range(int(seconds * 50)):
        frequency = 300 + 400 * (n % 50) / 50
        pcm = bytearray()
        for _ in range(AUDIO_SAMPLES):
            phase += 2 * math.pi * frequency / AUDIO_RATE
            value = int(5000 * math.sin(phase)) + rnd.randint(-300, 300)
            pcm += value.to_bytes(2, "little", signed=True)
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(bytes(pcm))
        frame.sample_rate = AUDIO_RATE
        frame.pts = n * AUDIO_SAMPLES
        frame.time_base = codec.time_base
        packets.extend(bytes(p) for p in codec.encode(frame))
    packets.extend(bytes(p) for p in codec.encode(None))
    return packets[: int(seconds * 50)]
