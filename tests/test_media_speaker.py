"""Active speaker detection with a fake clock, the producers' per-packet activity counting, and
the router's events from it."""

from __future__ import annotations

import random
from types import SimpleNamespace

from media import rtp
from media.config import MediaConfig
from media.producer import Producer
from media.router import Router
from media.speaker import SILENCE_DBOV, AudioActivity, SpeakerDetector, dbov_to_linear
from media.stats import Counters
from tests.test_media_rtp import codec, packet

TICK = 0.25
TALK = AudioActivity(peak=-20.0, voiced=0.7)
BUSY = AudioActivity(peak=-15.0, voiced=1.0)
HUM = AudioActivity(peak=-50.0, voiced=0.0)  # loud enough to be heard, never a voice

# The RFC 6464 levels (as level bytes, -dBov) of Chromium's fake microphone, one per 20 ms
# packet, as a subscriber sees them: a 20 ms beep every 500 ms and its decaying tail.
CHROMIUM_BEEP = [13, 8, 22, 32, 36, 40, 43, 46, 50, 53, 57, 62, 65, 72, 80, 88, 105] + [127] * 8


def run(detector: SpeakerDetector, start: float, seconds: float, activities: dict) -> tuple[float, list]:
    """Feed the same activities for ``seconds``; returns the end time and the changes seen."""
    changes = []
    now = start
    while now < start + seconds - 1e-9:
        now += TICK
        changed = detector.update(now, activities)
        if changed is not None:
            changes.append((round(now, 2), changed))
    return now, changes


def audio_producer(peer_id: str = "a") -> Producer:
    return Producer(
        peer_id=peer_id, source="microphone", kind="audio", mid="0", codecs=[codec("audio/opus", 111, clock=48000)],
        ssrc=1, rtx_ssrc=None, audio_level_id=1, send_rtcp=lambda data: None, rtcp_ssrc=2,
    )


class PacketSource:
    """Feeds a Producer 50 audio packets a second, each carrying the next level of ``levels``."""

    def __init__(self, producer: Producer, levels) -> None:
        self.producer = producer
        self.levels = iter(levels)
        self.seq = 0
        self.owed = 0.0

    def feed(self, seconds: float, now: float) -> None:
        self.owed += seconds * 50
        while self.owed >= 1:
            self.owed -= 1
            ext = rtp.build_extension_block([(1, bytes([next(self.levels)]))])
            self.producer.receive(packet(self.seq & 0xFFFF, self.seq * 960, ssrc=1, pt=111, extension=ext,
                                         payload=b"opus"), 1, now=now)
            self.seq += 1


def repeat(pattern, phase=0):
    i = phase
    while True:
        yield pattern[i % len(pattern)]
        i += 1


def simulate(sources: dict[str, list], seconds: float, detector: SpeakerDetector | None = None):
    """Per-packet levels through real Producers into a detector, ticking like the Router.
    Returns the detector, the changes, and per tick the set of talking peers."""
    detector = detector or SpeakerDetector()
    feeds = {peer: PacketSource(audio_producer(peer), levels) for peer, levels in sources.items()}
    changes, talking = [], []
    now = 0.0
    for _ in range(round(seconds / TICK)):
        for feed in feeds.values():
            feed.feed(TICK, now)
        now += TICK
        changed = detector.update(now, {p: f.producer.take_audio_activity() for p, f in feeds.items()})
        if changed is not None:
            changes.append((round(now, 2), changed))
        talking.append(set(detector.talking))
    return detector, changes, talking


def test_speaker_needs_sustained_activity():
    detector = SpeakerDetector()
    # a single busy interval is not enough
    assert detector.update(0.25, {"a": BUSY, "b": None}) is None
    assert detector.update(0.5, {"a": None, "b": None}) is None
    assert detector.speaker is None
    now, changes = run(detector, 0.5, 1.5, {"a": TALK, "b": HUM})
    assert [peer for _, peer in changes] == ["a"]
    assert changes[0][0] - 0.5 <= 0.75 + 1e-9  # min_active, rounded up to ticks


def test_steady_noise_is_never_the_speaker_however_loud_its_peak():
    detector = SpeakerDetector()
    now, changes = run(detector, 0.0, 10.0, {"hum": AudioActivity(peak=-3.0, voiced=0.0), "b": None})
    assert changes == [] and detector.speaker is None and not detector.talking
    assert detector.levels["hum"] > -10  # it is loud, and reported so


def test_chromium_fake_microphone_beep_is_speech_at_any_phase_and_does_not_flicker():
    for phase in range(0, len(CHROMIUM_BEEP), 3):
        detector, changes, talking = simulate(
            {"beeper": repeat(CHROMIUM_BEEP, phase), "silent": repeat([127])}, seconds=10.0)
        assert [peer for _, peer in changes] == ["beeper"], phase
        assert changes[0][0] <= 2.0, phase
        first = next(i for i, peers in enumerate(talking) if "beeper" in peers)
        assert all(peers == {"beeper"} for peers in talking[first:]), phase  # talking without a gap


def test_key_clicks_and_a_noise_floor_near_the_voice_threshold_are_not_speech():
    rng = random.Random(7)
    clicks = [25 if rng.random() < 0.08 else 70 for _ in range(5000)]  # ~4 single-packet clicks a second
    floor = [rng.choice((41, 42, 45, 50)) for _ in range(5000)]  # just under -40 dBov
    detector, changes, talking = simulate({"typist": iter(clicks), "fan": iter(floor)}, seconds=30.0)
    assert changes == [] and not any(talking)


def test_silence_keeps_the_last_speaker():
    detector = SpeakerDetector()
    now, _ = run(detector, 0.0, 1.0, {"a": TALK, "b": None})
    assert detector.speaker == "a"
    now, changes = run(detector, now, 5.0, {"a": None, "b": HUM})
    assert changes == [] and detector.speaker == "a" and not detector.talking


def test_a_pause_between_words_does_not_end_the_turn():
    detector = SpeakerDetector()
    now, _ = run(detector, 0.0, 1.0, {"a": TALK, "b": None})
    for _ in range(5):  # 0.5 s of words, 0.5 s of pause
        now, _ = run(detector, now, 0.5, {"a": TALK, "b": None})
        now, _ = run(detector, now, 0.5, {"a": None, "b": None})
        assert "a" in detector.talking


def test_challenger_must_be_more_active_for_a_while():
    detector = SpeakerDetector(switch_after=0.6, margin=0.15)
    now, _ = run(detector, 0.0, 1.0, {"a": TALK, "b": None})
    assert detector.speaker == "a"
    # b talks briefly over a, busier: no switch (no flicker)
    now, changes = run(detector, now, 0.5, {"a": TALK, "b": BUSY})
    assert changes == []
    now, changes = run(detector, now, 0.5, {"a": TALK, "b": None})
    assert changes == [] and detector.speaker == "a"
    # about as active as a (and louder): never switches
    now, changes = run(detector, now, 3.0, {"a": TALK, "b": AudioActivity(peak=-5.0, voiced=0.75)})
    assert changes == []
    # clearly more active for long enough: switches once
    now, changes = run(detector, now, 3.0, {"a": AudioActivity(peak=-20.0, voiced=0.3), "b": BUSY})
    assert [peer for _, peer in changes] == ["b"]


def test_quiet_speaker_is_replaced_by_whoever_talks():
    detector = SpeakerDetector()
    now, _ = run(detector, 0.0, 1.0, {"a": TALK, "b": None})
    now, changes = run(detector, now, 3.0, {"a": None, "b": AudioActivity(peak=-35.0, voiced=0.5)})
    assert [peer for _, peer in changes] == ["b"]


def test_a_steady_talker_takes_over_from_the_beep():
    """What the browser test sees: the beeping page speaks first, then a peer talking all the time."""
    talking = [12] * 9 + [90] * 3  # a voice's words and pauses (a constant level is a noise)
    detector, changes, _ = simulate({"beeper": repeat(CHROMIUM_BEEP), "talker": iter([127] * 250 + talking * 100)},
                                    seconds=20.0)
    assert [peer for _, peer in changes] == ["beeper", "talker"]
    assert changes[1][0] > 5.0


def test_removed_speaker_leaves_no_speaker():
    detector = SpeakerDetector()
    run(detector, 0.0, 1.0, {"a": TALK})
    assert detector.remove("a") is True
    assert detector.speaker is None and not detector.talking and "a" not in detector.activity
    assert detector.remove("zz") is False


def test_dbov_to_linear():
    assert dbov_to_linear(0) == 1.0
    assert dbov_to_linear(SILENCE_DBOV) == 0.0
    assert abs(dbov_to_linear(-20) - 0.1) < 1e-9


class FakeAudioProducer:
    kind = "audio"
    source = "microphone"

    def __init__(self, activity):
        self.activity = activity

    def take_audio_activity(self):
        return self.activity


def test_router_emits_active_speaker_and_levels_at_most_once_per_tick():
    events = []
    router = Router("r", MediaConfig(), Counters(), on_event=lambda kind, data: events.append((kind, data)))
    loud, quiet = FakeAudioProducer(AudioActivity(-10.0, 1.0)), FakeAudioProducer(AudioActivity(-80.0, 0.0))
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
    loud.activity = AudioActivity(-30.0, 1.0)
    router.observe_speakers(3.0)
    assert seen == ["audio_levels"] and len(events) == len(speakers) + len(levels)


def test_router_takes_the_loudest_and_busiest_of_a_peers_microphones():
    router = Router("r", MediaConfig(), Counters())
    mics = [FakeAudioProducer(AudioActivity(-10.0, 0.0)), FakeAudioProducer(None),
            FakeAudioProducer(AudioActivity(-60.0, 0.9))]
    router.peers = {"a": SimpleNamespace(id="a", closed=False, producers=mics),
                    "b": SimpleNamespace(id="b", closed=False, producers=[FakeAudioProducer(None)])}
    router.observe_speakers(TICK)
    assert router.speaker.levels == {"a": -10.0, "b": SILENCE_DBOV}
    assert router.speaker.activity["a"] > 0 and router.speaker.activity["b"] == 0.0


def test_producer_counts_audio_activity_per_packet():
    producer = audio_producer()
    assert producer.take_audio_activity() is None
    # the first interval (a word, then silence) shows the microphone's noise floor; nothing is voiced in it
    ext = rtp.build_extension_block([(1, bytes([20]))])
    producer.receive(packet(100, 0, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1, now=0.5)
    producer.receive(packet(101, 960, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1, now=0.5)
    ext = rtp.build_extension_block([(1, bytes([127]))])
    producer.receive(packet(102, 1920, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1, now=0.5)
    assert producer.take_audio_activity() == AudioActivity(peak=-20.0, voiced=0.0)
    levels = (20, 30, 50, 35, 36, 127, 0x80 | 38, 39)  # V flag set on one: ignored for the level
    for seq, level in enumerate(levels):
        ext = rtp.build_extension_block([(1, bytes([level]))])
        producer.receive(packet(103 + seq, (3 + seq) * 960, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1,
                         now=1.0)
    # voiced: 20 30 | 35 36 | 38 39; counted when the packet before was voiced too: 30, 36, 39
    assert producer.take_audio_activity() == AudioActivity(peak=-20.0, voiced=3 / 8)  # no subscriber needed
    assert producer.take_audio_activity() is None
    producer.set_paused(True)
    ext = rtp.build_extension_block([(1, bytes([10]))])
    producer.receive(packet(103 + len(levels), 0, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1, now=1.0)
    assert producer.take_audio_activity() is None


def test_a_steady_noise_louder_than_the_voice_threshold_is_not_speech():
    """A fan or traffic at -30 dBov, above VOICE_DBOV, is this microphone's noise floor, not a
    voice: from the start, and when it starts in the middle of a meeting it stops counting
    within seconds."""
    rng = random.Random(3)
    hum = [rng.choice((29, 30, 31, 32)) for _ in range(5000)]
    detector, changes, talking = simulate({"fan": iter(hum), "silent": repeat([127])}, seconds=20.0)
    assert changes == [] and not any(talking)

    late = [127] * 150 + [rng.choice((29, 30, 31, 32)) for _ in range(5000)]  # quiet 3 s, then the fan
    detector, changes, talking = simulate({"fan": iter(late), "silent": repeat([127])}, seconds=30.0)
    assert not any(talking[-60:])  # the last 15 s: the floor has followed it up


def test_a_voice_over_a_noisy_room_is_still_speech():
    """Over a -30 dBov floor, speech 15-20 dB louder (with the floor between words) is voiced; the
    same voice wins over a quiet microphone's silence and over a fan's steady noise."""
    rng = random.Random(5)
    word = [12, 14, 11, 15, 13, 12, 16, 14, 30, 31, 29, 30]  # ~160 ms of voice, ~80 ms of the room
    talker = repeat(word)
    hum = [rng.choice((29, 30, 31, 32)) for _ in range(5000)]
    detector, changes, talking = simulate({"talker": talker, "fan": iter(hum), "silent": repeat([127])},
                                          seconds=10.0)
    assert [peer for _, peer in changes] == ["talker"]
    assert "fan" not in set().union(*talking)


def test_noise_floor_follows_quiet_at_once_and_noise_slowly():
    from media.speaker import FLOOR_RISE_DB, VOICE_ABOVE_FLOOR_DB, VOICE_LEVEL, NoiseFloor

    floor = NoiseFloor()
    assert floor.update(127) == VOICE_LEVEL  # silence between words: the fixed threshold
    assert floor.update(30) == VOICE_LEVEL  # a louder interval raises the floor by FLOOR_RISE_DB only
    assert floor.floor == 127 - FLOOR_RISE_DB
    for _ in range(40):
        threshold = floor.update(30)
    assert floor.floor == 30 and threshold == 30 - VOICE_ABOVE_FLOOR_DB
    floor.update(90)  # quieter: followed at once
    assert floor.floor == 90
