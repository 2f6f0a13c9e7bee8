"""Simulcast without a network: the offer and answer, the layer switch at a keyframe with
continuous sequence numbers, timestamps and VP8 PictureID/TL0PICIDX, and the allocator's choices
(preferences, bandwidth, step-down order, hysteresis)."""

from __future__ import annotations

import struct

from media import rtp
from media.allocation import (CEILING_MIN, UP_HOLD, LayerAllocator, Video, allocate, desired_layer,
                              importance)
from media.downtrack import DownTrack
from media.simulcast import SimulcastProducer, answer_with_simulcast, offered_layers
from tests.test_media_rtp import attached, codec, fields

OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "a=sendonly", "a=rtpmap:111 opus/48000/2",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "a=mid:1", "a=sendonly",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f", "",
])
ANSWER = "\r\n".join([
    "v=0", "o=- 3 4 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "a=recvonly", "a=rtpmap:111 opus/48000/2",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "a=mid:1", "a=recvonly", "a=rtpmap:96 VP8/90000", "",
])

SSRCS = (0x1000, 0x2000, 0x3000)
SIZES = ((320, 180), (640, 360), (1280, 720))


# ---- SDP -------------------------------------------------------------------------------------------

def test_the_offer_layers_are_read_in_the_order_of_its_simulcast_line():
    assert offered_layers(OFFER) == {"1": ["q", "h", "f"]}
    # alternatives take the first; a paused rid (~) counts; an undeclared rid is left out
    other = OFFER.replace("a=simulcast:send q;h;f", "a=simulcast:send ~q;h,x;f;z")
    assert offered_layers(other) == {"1": ["q", "h", "f"]}
    # one layer is no simulcast; a recv rid is not the publisher's
    assert offered_layers(OFFER.replace("a=simulcast:send q;h;f", "a=simulcast:send q")) == {}
    assert offered_layers(OFFER.replace("a=rid:h send", "a=rid:h recv")) == {"1": ["q", "f"]}


def test_the_answer_receives_the_layers():
    answer = answer_with_simulcast(ANSWER, {"1": ["q", "h", "f"]})
    video = answer.split("m=video")[1]
    assert "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n" in video
    assert "a=simulcast" not in answer.split("m=video")[0]
    assert answer.endswith("\r\n") and "\r\n\r\n" not in answer
    assert answer_with_simulcast(ANSWER, {}) == ANSWER


# ---- packets ---------------------------------------------------------------------------------------

def vp8(keyframe: bool, first: bool, picture_id: int, tl0: int, size=(0, 0)) -> bytes:
    """An RFC 7741 descriptor with a 15-bit PictureID and TL0PICIDX, and a VP8 payload header
    (a keyframe's with its start code and size)."""
    descriptor = bytes((0x90 if first else 0x80, 0xC0, 0x80 | (picture_id >> 8), picture_id & 0xFF, tl0))
    if keyframe and first:
        body = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", *size) + b"k" * 50
    else:
        body = b"\x11\x02\x00" + b"d" * 50
    return descriptor + body


def rtp_packet(ssrc: int, seq: int, ts: int, payload: bytes, marker: bool = True) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 96, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


class Publisher:
    """Three layers of one camera, each its own SSRC, sequence, timestamp base and PictureIDs."""

    def __init__(self) -> None:
        self.producer = SimulcastProducer(
            rids=["q", "h", "f"], peer_id="alice", source="camera", kind="video", mid="1",
            codecs=[codec("video/VP8", 96), codec("video/rtx", 97, apt=96)], ssrc=None, rtx_ssrc=None,
            audio_level_id=None, send_rtcp=self.rtcp.append if hasattr(self, "rtcp") else (lambda d: None),
            rtcp_ssrc=1,
        )
        for layer, ssrc in zip(self.producer.layers, SSRCS):
            layer.ssrc = ssrc
        self.seq = [100, 30000, 65530]  # one wraps
        self.ts = [1000, 5_000_000, 4_294_967_000]
        self.pid = [7, 20000, 32760]  # one wraps (15 bits)
        self.tl0 = [3, 100, 254]
        self.frame = 0

    def send(self, layer: int, keyframe: bool = False, now: float = 0.0) -> None:
        """One frame of a layer, in two packets."""
        stream = self.producer.layers[layer]
        for part in range(2):
            payload = vp8(keyframe, part == 0, self.pid[layer], self.tl0[layer], SIZES[layer])
            stream.receive(rtp_packet(SSRCS[layer], self.seq[layer], self.ts[layer], payload, marker=part == 1),
                           SSRCS[layer], now)
            self.seq[layer] = (self.seq[layer] + 1) & 0xFFFF
        self.ts[layer] = (self.ts[layer] + 3000) & 0xFFFFFFFF
        self.pid[layer] = (self.pid[layer] + 1) & 0x7FFF
        self.tl0[layer] = (self.tl0[layer] + 1) & 0xFF

    def frame_all(self, keyframes=(), now: float = 0.0) -> None:
        for layer in range(3):
            self.send(layer, keyframe=layer in keyframes, now=now)


def descriptor_ids(data: bytes) -> tuple[int, int]:
    payload = data[12:]
    return ((payload[2] & 0x7F) << 8) | payload[3], payload[4]


def subscriber(publisher: Publisher, layer: int = 0):
    track = DownTrack("video", ssrc=0xBEEF)
    wire = attached(track)
    track.set_payload_types({96: 100}, None)
    track.bind(publisher.producer, layer)
    return track, wire


def test_a_subscriber_starts_at_a_keyframe_of_its_layer_and_switches_only_on_a_keyframe():
    pub = Publisher()
    track, wire = subscriber(pub, layer=0)
    pub.frame_all()  # no keyframe yet: nothing
    assert wire.sent == [] and track.layer == -1
    pub.frame_all(keyframes=(0,))
    assert track.layer == 0 and len(wire.sent) == 2
    assert pub.producer.layers[0].width == 320 and pub.producer.layers[2].height is None

    track.set_target_layer(2)
    for _ in range(3):  # layer 2 sends no keyframe: layer 0 goes on
        pub.frame_all()
    assert track.layer == 0 and track.target_layer == 2 and len(wire.sent) == 8
    pub.frame_all(keyframes=(2,))
    assert track.layer == 2 and track.switches == 2
    pub.frame_all()
    pub.frame_all(keyframes=(0, 1))  # keyframes of other layers change nothing
    assert track.layer == 2
    assert pub.producer.layers[2].width == 1280 and pub.producer.layers[0].downtracks == ()

    sent = [fields(p) for p in wire.sent]
    seqs = [f[2] for f in sent]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), seqs
    stamps = [f[3] for f in sent]
    assert all(0 <= (b - a) & 0xFFFFFFFF < 0x80000000 for a, b in zip(stamps, stamps[1:]))
    assert len({f[4] for f in sent}) == 1  # one SSRC, the subscriber's own
    ids = [descriptor_ids(p) for p in wire.sent[::2]]  # one per frame
    pids = [i[0] for i in ids]
    tl0s = [i[1] for i in ids]
    assert all((b - a) & 0x7FFF == 1 for a, b in zip(pids, pids[1:])), pids
    assert all((b - a) & 0xFF == 1 for a, b in zip(tl0s, tl0s[1:])), tl0s


def test_stepping_down_and_pausing_for_bandwidth():
    pub = Publisher()
    track, wire = subscriber(pub, layer=2)
    pub.frame_all(keyframes=(0, 1, 2))
    assert track.layer == 2
    track.set_target_layer(0)
    pub.frame_all(keyframes=(0,))
    assert track.layer == 0
    track.set_target_layer(-1)  # not even the lowest layer fits
    sent = len(wire.sent)
    pub.frame_all(keyframes=(0, 1, 2))
    assert len(wire.sent) == sent and track.layer == -1
    assert all(not layer.downtracks for layer in pub.producer.layers)
    track.set_target_layer(1)  # resumes at a keyframe of the layer it gets
    pub.frame_all()
    assert len(wire.sent) == sent
    pub.frame_all(keyframes=(1,))
    assert track.layer == 1 and len(wire.sent) == sent + 2
    seqs = [fields(p)[2] for p in wire.sent]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))


def test_a_waiting_layer_is_asked_for_a_keyframe_and_the_publisher_keeps_its_full_rate():
    sent: list[bytes] = []
    pub = Publisher()
    for layer in pub.producer.layers:
        layer._send_rtcp = sent.append
    pub.producer._send_rtcp = sent.append
    track, _ = subscriber(pub, layer=0)
    pub.frame_all(keyframes=(0,))
    sent.clear()
    track.set_target_layer(2)
    plis = [p for p in sent if p[1] == rtp.RTCP_PSFB]
    assert plis and struct.unpack_from("!I", plis[0], 8)[0] == SSRCS[2]
    # a subscriber's low estimate does not lower what the publisher may send
    track.on_remb(250_000, now=1.0)
    assert pub.producer.remb_bitrate(1.0) == pub.producer.max_bitrate
    remb = pub.producer.remb_due(5.0)
    bitrate, ssrcs = rtp.parse_remb(remb[4:])
    assert bitrate == pub.producer.max_bitrate and sorted(ssrcs) == sorted(SSRCS)
    assert all(layer.remb_due(5.0) is None for layer in pub.producer.layers)


def test_unused_layers_are_paused_at_the_publisher_after_a_while_and_resumed_when_wanted():
    pub = Publisher()
    producer = pub.producer
    track, _ = subscriber(pub, layer=0)
    pub.frame_all(keyframes=(0,))
    assert producer.update_active(0.0) is None
    assert producer.update_active(3.0) is None
    assert producer.update_active(6.0) == [True, False, False]
    track.set_target_layer(2)  # a tap waits on layer 2: wanted again at once
    assert producer.update_active(6.5) == [True, False, True]
    assert producer.usable(1)  # paused by us: it comes back when asked


# ---- the allocator ---------------------------------------------------------------------------------

COSTS = [150_000, 500_000, 1_500_000]


def video(key, tile, current=0, usable=(True, True, True), source="camera", featured=False):
    desired = desired_layer([(None, None)] * 3, tile)
    return Video(key, importance(tile, source), desired, list(COSTS), list(usable), current, featured)


def test_the_tile_size_picks_the_layer():
    seen = [(320, 180), (640, 360), (1280, 720)]
    assert desired_layer(seen, (160, 90)) == 0
    assert desired_layer(seen, (320, 180)) == 0
    assert desired_layer(seen, (360, 200)) == 0  # within the margin
    assert desired_layer(seen, (600, 338)) == 1
    assert desired_layer(seen, (1920, 1080)) == 2
    assert desired_layer(seen, None) == 2
    assert desired_layer(seen, (0, 0)) == 0
    # sizes not seen yet are guessed from the layer above
    assert desired_layer([(None, None), (None, None), (640, 480)], (300, 220)) == 1
    assert desired_layer([(None, None), (None, None), (640, 480)], (150, 110)) == 0


def test_without_a_limit_each_video_gets_its_wish_among_the_layers_that_send():
    videos = [video("thumb", (160, 90)), video("speaker", (1280, 720)),
              video("weak", (1280, 720), usable=(True, True, False))]
    assert allocate(videos, None) == {"thumb": 0, "speaker": 2, "weak": 1}


def test_a_short_link_steps_thumbnails_down_before_the_speaker_and_pauses_what_does_not_fit():
    thumbs = [video(f"t{i}", (480, 270)) for i in range(3)]  # each wants layer 1
    speaker = video("speaker", (1280, 720))
    screen = video("screen", (640, 360), source="screen")
    everyone = thumbs + [speaker, screen]
    wishes = allocate(everyone, None)
    assert wishes["speaker"] == 2 and all(wishes[v.key] == 1 for v in thumbs)
    # 3.55 Mbit/s: everyone's lowest layer, then raised by importance (the speaker, the screen
    # at twice its area), the thumbnails last: two of them get their wish
    room = allocate(everyone, 3_550_000)
    assert room["speaker"] == 2 and room["screen"] == 1
    assert sorted(room[v.key] for v in thumbs) == [0, 1, 1]
    tight = allocate(everyone, 1_250_000)  # 1.125 Mbit/s for videos: everyone's lowest, then the speaker
    assert tight["speaker"] == 1 and all(tight[v.key] == 0 for v in thumbs + [screen])
    starved = allocate(everyone, 400_000)  # 360 kbit/s: two lowest layers fit, the rest pause
    assert starved["speaker"] == 0 and starved["screen"] == 0
    assert all(starved[v.key] == -1 for v in thumbs)
    # audio is counted first and never dropped
    assert allocate([speaker], 400_000, audio=300_000)["speaker"] == -1


def test_thumbnails_pause_before_the_speaker_falls_below_the_middle_layer():
    speaker = video("speaker", (1280, 720), featured=True)
    thumbs = [video(f"t{i}", (160, 90)) for i in range(6)]
    # 900 kbit/s for videos: the speaker its middle layer (500k), then two thumbnails (150k each)
    result = allocate([speaker, *thumbs], 1_000_000)
    assert result["speaker"] == 1
    assert sorted(result[v.key] for v in thumbs) == [-1, -1, -1, -1, 0, 0]
    # with room for everyone's lowest and more, the speaker is raised first
    roomy = allocate([speaker, *thumbs], 3_000_000)
    assert roomy["speaker"] == 2 and all(roomy[v.key] == 0 for v in thumbs)
    # a link too short for the middle layer still gives the speaker its lowest
    assert allocate([speaker, *thumbs], 200_000) == {"speaker": 0, **{v.key: -1 for v in thumbs}}


def test_up_switches_wait_and_climb_one_layer_at_a_time_down_switches_do_not():
    allocator = LayerAllocator()
    v = video("speaker", None, current=0)
    assert allocator.decide(10.0, [v], None) == {"speaker": 1}
    v.current = 1
    assert allocator.decide(10.5, [v], None) == {"speaker": 1}  # held
    assert allocator.decide(10.0 + UP_HOLD, [v], None) == {"speaker": 2}
    v.current = 2
    assert allocator.decide(10.1 + UP_HOLD, [v], 200_000) == {"speaker": 0}  # at once
    v.current = -1
    assert allocator.decide(20.0, [v], None) == {"speaker": 0}  # resumes at the lowest


def test_congestion_caps_the_link_for_a_while_then_probes_again_with_a_growing_wait():
    allocator = LayerAllocator()
    # Chromium's REMB sits above what it receives when the link is not the limit
    assert allocator.link_limit(0.0, 2_000_000, 1_400_000, 0) is None
    # the estimate falls below what is sent: congestion; the estimate is the limit
    assert allocator.link_limit(1.0, 250_000, 1_600_000, 0) == 250_000 and allocator.congested
    # stepped down: no longer congested, but the ceiling holds
    assert allocator.link_limit(2.0, 250_000, 150_000, 0) == 250_000 and not allocator.congested
    first_end = 1.0 + CEILING_MIN
    assert allocator.link_limit(first_end + 0.1, 250_000, 150_000, 0) is None  # probe again
    # the estimate stays below what the probe sends, and does not grow: congestion again, soon
    # after the last: the ceiling lasts twice as long
    assert allocator.link_limit(first_end + 0.6, 250_000, 500_000, 0) is None
    assert allocator.link_limit(first_end + 2.0, 250_000, 500_000, 0) is None
    again = first_end + 2.6
    assert allocator.link_limit(again, 250_000, 500_000, 0) == 250_000
    assert allocator.link_limit(again + CEILING_MIN + 1, 250_000, 150_000, 0) == 250_000
    assert allocator.link_limit(again + 2 * CEILING_MIN + 0.1, 250_000, 150_000, 0) is None
    # heavy loss in the receiver reports is congestion too
    assert LayerAllocator().link_limit(0.0, None, 1_000_000, 40) == 850_000


def test_an_estimate_that_lags_behind_but_grows_is_not_congestion():
    """Chromium's REMB follows an up-switch slowly (~8 % a second): below what is sent, but
    growing, it is no reason to step down; nor is the low estimate a receiver starts with."""
    allocator = LayerAllocator()
    assert allocator.link_limit(0.0, 80_000, 200_000, 0) is None  # the first estimate
    estimate = 250_000
    for tick in range(1, 20):
        estimate = int(estimate * 1.04)  # per half second
        assert allocator.link_limit(tick * 0.5, estimate, 500_000, 0) is None


def test_truncated_or_odd_vp8_descriptors_are_forwarded_as_they_came():
    pub = Publisher()
    track, wire = subscriber(pub, layer=0)
    pub.frame_all(keyframes=(0,))
    track.set_target_layer(1)
    pub.frame_all(keyframes=(1,))  # switched: PictureIDs are rewritten from here on
    assert track.layer == 1 and track._pid_off
    stream = pub.producer.layers[1]
    for payload in (b"\x80\xc0\x85", b"\x80\x80", b"\x00\x00\x00\x00", b"\x80\x40"):
        sent = len(wire.sent)
        stream.receive(rtp_packet(SSRCS[1], pub.seq[1], pub.ts[1], payload), SSRCS[1], 1.0)
        pub.seq[1] += 1
        assert len(wire.sent) == sent + 1 and wire.sent[-1][12:] == payload


def test_a_layer_paused_at_the_publisher_is_resumed_as_soon_as_a_subscriber_waits_for_it():
    pub = Publisher()
    producer = pub.producer
    track, _ = subscriber(pub, layer=0)
    pub.frame_all(keyframes=(0,))
    producer.update_active(0.0)
    assert producer.update_active(6.0) == [True, False, False]
    told = []
    producer.on_wanted = lambda: told.append(producer.update_active(6.1))
    track.set_target_layer(1)
    assert told == [[True, True, False]]


def test_the_size_of_a_layer_nobody_receives_is_known_from_its_keyframes():
    pub = Publisher()
    pub.frame_all(keyframes=(0, 1, 2))  # no subscriber at all
    assert [(layer.width, layer.height) for layer in pub.producer.layers] == list(SIZES)
    assert [layer.keyframes for layer in pub.producer.layers] == [1, 1, 1]
