"""Active speaker detection with a fake clock, and the router's events from producer levels."""

from __future__ import annotations

from types import SimpleNamespace

from media.router import Router
from media.speaker import SILENCE_DBOV, SpeakerDetector, dbov_to_linear
from media.stats import Counters
from media.config import MediaConfig

TICK = 0.25


def run(detector: SpeakerDetector, start: float, seconds: float, levels: dict) -> tuple[float, list]:
    """Feed the same levels for ``seconds``; returns the end time and the changes seen."""
    changes = []
    now = start
    while now < start + seconds - 1e-9:
        now += TICK
        changed = detector.update(now, levels)
        if changed is not None:
            changes.append((round(now, 2), changed))
    return now, changes


def test_speaker_needs_sustained_level():
    detector = SpeakerDetector()
    # a single loud tick is not enough
    assert detector.update(0.25, {"a": -10, "b": None}) is None
    assert detector.update(0.5, {"a": -127, "b": None}) is None
    assert detector.speaker is None
    now, changes = run(detector, 0.5, 1.0, {"a": -20, "b": -90})
    assert [peer for _, peer in changes] == ["a"]
    assert changes[0][0] - 0.5 <= 0.75 + 1e-9  # min_active, rounded up to ticks, plus smoothing


def test_silence_keeps_the_last_speaker():
    detector = SpeakerDetector()
    now, _ = run(detector, 0.0, 1.0, {"a": -20, "b": None})
    assert detector.speaker == "a"
    now, changes = run(detector, now, 5.0, {"a": None, "b": None})
    assert changes == [] and detector.speaker == "a"


def test_challenger_must_beat_the_speaker_for_a_while():
    detector = SpeakerDetector(switch_after=0.6, margin_db=3.0)
    now, _ = run(detector, 0.0, 1.0, {"a": -30, "b": -90})
    assert detector.speaker == "a"
    # b talks briefly over a, louder: no switch (no flicker)
    now, changes = run(detector, now, 0.5, {"a": -30, "b": -10})
    assert changes == []
    now, changes = run(detector, now, 0.5, {"a": -30, "b": -90})
    assert changes == [] and detector.speaker == "a"
    # about as loud as a: never switches
    now, changes = run(detector, now, 3.0, {"a": -30, "b": -29})
    assert changes == []
    # clearly louder for long enough: switches once
    now, changes = run(detector, now, 3.0, {"a": -30, "b": -10})
    assert [peer for _, peer in changes] == ["b"]


def test_quiet_speaker_is_replaced_by_whoever_talks():
    detector = SpeakerDetector()
    now, _ = run(detector, 0.0, 1.0, {"a": -20, "b": None})
    now, changes = run(detector, now, 2.0, {"a": None, "b": -40})
    assert [peer for _, peer in changes] == ["b"]


def test_removed_speaker_leaves_no_speaker():
    detector = SpeakerDetector()
    run(detector, 0.0, 1.0, {"a": -20})
    assert detector.remove("a") is True
    assert detector.speaker is None
    assert detector.remove("zz") is False


def test_dbov_to_linear():
    assert dbov_to_linear(0) == 1.0
    assert dbov_to_linear(SILENCE_DBOV) == 0.0
    assert abs(dbov_to_linear(-20) - 0.1) < 1e-9


class FakeAudioProducer:
    kind = "audio"
    source = "microphone"

    def __init__(self, level):
        self.level = level

    def take_audio_level(self):
        return self.level


def test_router_emits_active_speaker_and_levels_at_most_once_per_tick():
    events = []
    router = Router("r", MediaConfig(), Counters(), on_event=lambda kind, data: events.append((kind, data)))
    loud, quiet = FakeAudioProducer(-10.0), FakeAudioProducer(-80.0)
    router.peers = {
        "loud": SimpleNamespace(id="loud", closed=False, producers=[loud]),
        "quiet": SimpleNamespace(id="quiet", closed=False, producers=[quiet]),
    }
    for i in range(1, 9):
        router.observe_speakers(i * TICK)
    speakers = [data for kind, data in events if kind == "active_speaker"]
    assert speakers == [{"peer_id": "loud", "level": round(dbov_to_linear(router.speaker.speaker_level), 3)}]
    levels = [data for kind, data in events if kind == "audio_levels"]
    assert 1 <= len(levels) <= 8
    assert levels[-1]["loud"] > levels[-1]["quiet"]
    # a new hook replaces the old one
    seen = []
    router.set_on_event(lambda kind, data: seen.append(kind))
    loud.level = -30.0
    router.observe_speakers(3.0)
    assert seen == ["audio_levels"] and len(events) == len(speakers) + len(levels)


def test_producer_takes_the_mean_audio_level():
    from tests.test_media_rtp import codec, packet
    from media import rtp
    from media.producer import Producer

    producer = Producer(
        peer_id="a", source="microphone", kind="audio", mid="0", codecs=[codec("audio/opus", 111, clock=48000)],
        ssrc=1, rtx_ssrc=None, audio_level_id=1, send_rtcp=lambda data: None, rtcp_ssrc=2,
    )
    assert producer.take_audio_level() is None
    for seq, level in enumerate((20, 40)):
        ext = rtp.build_extension_block([(1, bytes([0x80 | level]))])
        producer.receive(packet(seq, 0, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1, now=1.0)
    assert producer.take_audio_level() == -30.0  # no subscriber needed
    assert producer.take_audio_level() is None
