"""Loss recovery on long, lossy links, from bytes (no network): NACKs toward the publisher
repeat at its round trip, retransmissions toward a subscriber at its own, the round trip to a
publisher comes from XR reference times (or the NACK answers), and a keyframe request waits
while NACKs are still repairing the picture ("keyframe by NACK before PLI")."""

from __future__ import annotations

import struct

import pytest

from media import rtp
from media.downtrack import DownTrack
from media.feedback import SubscriberFeedback
from media.nack import MAX_AGE_MAX, MAX_TRIES, NackGenerator, retry_interval_for
from media.retransmit_cache import MAX_RESENDS
from media.sdp import add_rtcp_feedback
from tests.test_media_feedback import nacked
from tests.test_media_twcc import ANSWER
from tests.test_media_rtp import VP8_CONT, VP8_DELTA, VP8_KEY, attached, fields, packet, video_producer

SSRC = 0x11223344


def consumer_of(producer):
    """A DownTrack carrying ``producer``, sending to a recording wire."""
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    return track, wire


def forget_startup_requests(producer) -> None:
    """Binding asked for a keyframe on the real clock; these tests run on their own."""
    producer._last_pli = -1e9
    if producer._pli_timer is not None:
        producer._pli_timer.cancel()
        producer._pli_timer = None


def plis(sent_rtcp: list[bytes]) -> int:
    return sum(1 for data in sent_rtcp for pt, fmt, _ in rtp.iter_rtcp(data)
               if pt == rtp.RTCP_PSFB and fmt == rtp.RTCP_PSFB_PLI)


# NACKs toward the publisher


def test_nack_repeats_follow_the_round_trip_and_every_try_gets_one():
    nack = NackGenerator()
    nack.set_rtt(0.3)  # 150 ms each way
    interval = retry_interval_for(0.3)
    assert interval == pytest.approx(0.32)
    assert nack.missing(10, 1, now=0.0) == [10]
    # nothing is asked again before the answer to the first NACK could have arrived
    assert nack.due(0.1) == [] and nack.due(0.3) == []
    times = []
    t = 0.0
    while nack.pending and t < 5.0:
        t = round(t + 0.01, 2)
        if nack.due(t):
            times.append(t)
    assert len(times) == MAX_TRIES - 1  # all the tries, none lost to the age limit
    assert all(b - a >= interval - 1e-9 for a, b in zip([0.0] + times, times))
    assert nack.max_age <= MAX_AGE_MAX


def test_a_short_link_keeps_quick_repeats_and_the_age_floor():
    nack = NackGenerator()
    nack.set_rtt(0.002)
    assert nack.retry_interval == pytest.approx(0.022)
    assert nack.max_age == pytest.approx(1.0)
    nack.missing(5, 1, now=0.0)
    assert nack.due(0.03) == [5]


def test_producer_learns_the_round_trip_from_nack_answers_until_reports_give_it():
    sent: list[bytes] = []
    producer = video_producer(sent)
    track, _ = consumer_of(producer)
    producer.receive(packet(100, 0, payload=VP8_KEY), SSRC, now=1.0)
    producer.receive(packet(102, 0, payload=VP8_CONT), SSRC, now=1.0)  # 101 lost
    assert nacked(sent) == [101]
    producer.receive(rtp.wrap_rtx(packet(101, 0, payload=VP8_CONT), 97, 1, 0x55667788), 0x55667788, now=1.3)
    assert producer.rtt == pytest.approx(0.3)
    assert producer.nack.retry_interval == pytest.approx(0.32)
    # a reordered packet "answered" within 5 ms says nothing about the round trip
    producer.receive(packet(104, 0, payload=VP8_CONT), SSRC, now=2.0)
    producer.receive(packet(103, 0, payload=VP8_CONT), SSRC, now=2.001)
    assert producer.rtt == pytest.approx(0.3)
    # the publisher's reports take over
    producer.set_rtt(0.15)
    producer.receive(packet(106, 0, payload=VP8_CONT), SSRC, now=3.0)
    producer.receive(packet(105, 0, payload=VP8_CONT), SSRC, now=3.9)
    assert producer.rtt == 0.15 and producer.nack.retry_interval == pytest.approx(0.17)


def test_xr_reference_time_and_dlrr_round_trip():
    ntp = (3_900_000_000 << 32) | (1 << 31)
    data = rtp.pack_xr_rrtr(0xAB, ntp)
    (pt, _, body), = list(rtp.iter_rtcp(data))
    assert pt == rtp.RTCP_XR and struct.unpack_from("!IBBHII", body) == (0xAB, 4, 0, 2, ntp >> 32, ntp & 0xFFFFFFFF)
    # a DLRR answer (as a browser's sender sends it), beside an unknown block and another receiver
    lrr = (ntp >> 16) & 0xFFFFFFFF
    dlrr = struct.pack("!BBH", 5, 0, 6) + struct.pack("!III", 0xAB, lrr, 3277) + struct.pack("!III", 0xCD, 1, 2)
    other = struct.pack("!BBH", 42, 0, 1) + b"\x00" * 4
    xr = struct.pack("!BBHI", 0x80, rtp.RTCP_XR, 1 + (len(other) + len(dlrr)) // 4, 0x77) + other + dlrr
    (_, _, body), = list(rtp.iter_rtcp(xr))
    assert rtp.parse_xr_dlrr(body) == [(0xAB, lrr, 3277), (0xCD, 1, 2)]
    assert rtp.parse_xr_dlrr(body[:-5]) == []  # a truncated block is ignored, not misread


# keyframe requests: NACK first


async def test_a_subscriber_keyframe_request_waits_while_nacks_repair_the_picture():
    sent: list[bytes] = []
    producer = video_producer(sent)
    producer.set_rtt(0.3)
    track, _ = consumer_of(producer)
    forget_startup_requests(producer)
    producer.receive(packet(100, 0, payload=VP8_KEY), SSRC, now=10.0)
    producer.receive(packet(103, 3000, payload=VP8_DELTA), SSRC, now=10.05)  # 101, 102 lost
    sent.clear()
    assert not producer.subscriber_keyframe_request(10.2)  # repairs under way: held
    assert not producer.subscriber_keyframe_request(10.5)
    assert plis(sent) == 0 and producer.keyframe_requests_deferred == 2
    # repaired: the next request (the subscriber still cannot decode) is not held back
    producer.receive(packet(101, 0, payload=VP8_CONT), SSRC, now=10.36)
    producer.receive(packet(102, 0, payload=VP8_CONT), SSRC, now=10.37)
    assert producer.subscriber_keyframe_request(10.6) and plis(sent) == 1
    # held at most about two round trips (0.7 s here), even if repairs go on
    producer.receive(packet(110, 9000, payload=VP8_DELTA), SSRC, now=12.0)  # 104..109 lost
    sent.clear()
    assert not producer.subscriber_keyframe_request(12.1)
    assert not producer.subscriber_keyframe_request(12.7)
    assert producer.subscriber_keyframe_request(12.85) and plis(sent) == 1


async def test_downtrack_holds_a_request_while_a_keyframe_or_retransmissions_are_on_their_way():
    sent: list[bytes] = []
    producer = video_producer(sent)
    track, wire = consumer_of(producer)
    track.rtt = 0.3
    forget_startup_requests(producer)
    producer.receive(packet(100, 0, payload=VP8_KEY), SSRC, now=20.0)
    for i in range(1, 6):
        producer.receive(packet(100 + i, 3000 * i, payload=VP8_DELTA), SSRC, now=20.0 + i / 30)
    sent.clear()
    track.request_keyframe(20.2)  # sent 0.2 s ago, the subscriber cannot have it yet
    assert plis(sent) == 0 and track.keyframe_requests_held == 1
    track.request_keyframe(20.4)  # more than a round trip: it was lost, or is not enough
    assert plis(sent) == 1
    # the subscriber NACKed and got its packets: its request waits for them, a bounded time
    lost = fields(wire.sent[3])[2]
    assert track.retransmit([lost], now=21.0) == 1
    sent.clear()
    track.request_keyframe(21.1)
    track.request_keyframe(21.3)
    assert plis(sent) == 0 and track.keyframe_requests_held == 3
    assert track.retransmit([lost], now=21.35) == 1  # repairs go on...
    track.request_keyframe(21.6)
    assert plis(sent) == 0
    track.request_keyframe(21.8)  # ...but 0.7 s (two round trips) is the limit
    assert plis(sent) == 1


def test_resends_to_a_far_subscriber_are_one_round_trip_apart_and_outlast_its_repeats():
    producer = video_producer()
    track, _ = consumer_of(producer)
    producer.receive(packet(100, 0, payload=VP8_KEY), SSRC, now=1.0)
    producer.receive(packet(101, 0, payload=VP8_CONT), SSRC, now=1.0)
    track.cache.min_interval = 0.29  # as on_report_block sets it for a 290 ms round trip
    seq = (track._max_seq) & 0xFFFF
    # a browser repeats its NACK every 100 ms; each retransmission a round trip apart
    answered = [track.retransmit([seq], now=2.0 + i / 10) for i in range(20)]
    assert answered[0] == 1 and sum(answered) == MAX_RESENDS
    assert [i for i, a in enumerate(answered) if a] == [0, 3, 6, 9]


# the round trip a receive-only browser learns from us


def test_a_receiver_reference_time_is_answered_with_a_dlrr_for_that_receiver():
    feedback = SubscriberFeedback()
    sent: list[bytes] = []
    feedback.send_rtcp = sent.append
    feedback.tracks[0xD7] = DownTrack("video", ssrc=0xD7)
    ntp = (3_900_000_123 << 32) | 0x89ABCDEF
    rr = rtp.pack_receiver_report(1, [])
    feedback.handle(rr + rtp.pack_xr_rrtr(1, ntp), now=5.0)  # as Chromium sends it (SSRC 1)
    (pt, _, body), = list(rtp.iter_rtcp(sent[0]))
    assert pt == rtp.RTCP_XR and struct.unpack_from("!I", body)[0] == 0xD7
    assert rtp.parse_xr_dlrr(body) == [(1, (ntp >> 16) & 0xFFFFFFFF, 0)]
    # an XR without a reference time (or a truncated one) gets no answer
    feedback.handle(struct.pack("!BBHI", 0x80, rtp.RTCP_XR, 2, 1) + struct.pack("!BBH", 42, 0, 0), now=5.1)
    feedback.handle(rtp.pack_xr_rrtr(1, ntp)[:-4], now=5.2)
    assert len(sent) == 1 and feedback.dlrr_sent == 1


def test_the_subscribe_offer_asks_video_receivers_for_reference_times():
    offer = add_rtcp_feedback(ANSWER, "video", "rrtr")
    assert "a=rtcp-fb:96 rrtr" in offer and "a=rtcp-fb:97 rrtr" not in offer  # not on RTX
    assert "a=rtcp-fb:111 rrtr" not in offer  # not on audio
    assert offer.index("a=rtcp-fb:96 rrtr") > offer.index("a=rtcp-fb:96 nack")
    assert add_rtcp_feedback(offer, "video", "rrtr") == offer
