"""Limits on answering subscribers' NACKs: per packet (how often, how soon again), per stream (a
share of the bytes forwarded), and the round trip that paces them, from bytes (no network)."""

from __future__ import annotations

import pytest

from media import rtp
from media.downtrack import MAX_RETRANSMIT, RESEND_INTERVAL_MAX, RESEND_INTERVAL_MIN, DownTrack
from media.feedback import SubscriberFeedback
from media.retransmit_cache import (
    BUDGET_BURST, BUDGET_FRACTION, BUDGET_INITIAL, MAX_RESENDS, RetransmitBudget, RetransmitCache,
)
from tests.test_media_rtp import VP8_CONT, VP8_KEY, attached, fields, packet, video_producer

SSRC = 0x11223344


def forwarding_track(count: int, payload_size: int = 1000, ssrc: int = 0xA1):
    """A DownTrack that has forwarded ``count`` packets of ``payload_size`` bytes."""
    producer = video_producer()
    track = DownTrack("video", ssrc=ssrc)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    for i in range(count):
        body = (VP8_KEY if i == 0 else VP8_CONT).ljust(payload_size, b"\x00")
        producer.receive(packet(100 + i, i * 3000, payload=body), SSRC, now=1.0 + i / 100)
    first = fields(wire.sent[0])[2]
    return track, wire, [(first + i) & 0xFFFF for i in range(count)]


def test_cache_limits_resends_per_packet_in_number_and_spacing():
    cache = RetransmitCache(8, max_resends=3, min_interval=0.05)
    cache.put(10, packet(10, 0))
    assert cache.may_resend(10, now=1.0)
    cache.resent(10, now=1.0)
    assert not cache.may_resend(10, now=1.02)  # its retransmission may still be on its way
    assert cache.may_resend(10, now=1.05)
    cache.resent(10, now=1.05)
    cache.resent(10, now=1.10)
    assert not cache.may_resend(10, now=5.0)  # three times: no more
    # another number in the same slot (after the ring wrapped) starts afresh
    cache.put(18, packet(18, 0))
    assert cache.get(10) is None and cache.may_resend(18, now=5.0)
    # a record is forgotten after a while (the 16-bit number will be reused one day)
    assert cache.may_resend(10, now=100.0)
    cache.clear()
    assert cache.get(18) is None and cache.may_resend(18, now=5.0)


def test_budget_is_a_share_of_the_bytes_forwarded():
    budget = RetransmitBudget(fraction=0.25, burst=10_000, initial=1_000)
    assert budget.take(1_000, forwarded=0)
    assert not budget.take(1, forwarded=0)  # nothing forwarded since: nothing more
    assert not budget.take(1_000, forwarded=3_000)  # 750 earned
    assert budget.take(700, forwarded=3_000)
    assert budget.take(1_050, forwarded=7_000)  # 50 + 1000
    # what can be saved up is capped
    assert not budget.take(10_001, forwarded=1_000_000)
    assert budget.take(10_000, forwarded=1_000_000)


def test_a_subscriber_nacking_everything_gets_each_packet_at_most_three_times():
    track, wire, seqs = forwarding_track(MAX_RETRANSMIT)  # a whole NACK's worth
    track.budget = RetransmitBudget(burst=1e12, initial=1e12)  # the per-packet limits alone
    forwarded = len(wire.sent)
    for i in range(100):  # the whole cache, every 10 ms, for a second
        track.retransmit(seqs, now=3.0 + i * 0.01)
    counts: dict[int, int] = {}
    for data in wire.sent[forwarded:]:
        seq = fields(data)[2]
        counts[seq] = counts.get(seq, 0) + 1
    assert counts == {seq: MAX_RESENDS for seq in seqs}
    assert track.retransmitted == MAX_RETRANSMIT * MAX_RESENDS
    assert track.retransmit_limited == 100 * MAX_RETRANSMIT - MAX_RETRANSMIT * MAX_RESENDS


def test_a_burst_of_nacks_gets_what_the_budget_saved_up_and_no_more():
    track, wire, seqs = forwarding_track(MAX_RETRANSMIT)
    forwarded = len(wire.sent)
    for i in range(100):  # nothing new is forwarded meanwhile: nothing new is earned
        track.retransmit(seqs, now=3.0 + i * 0.01)
    resent = len(wire.sent) - forwarded
    assert resent == track.retransmitted
    saved = min(BUDGET_BURST, BUDGET_INITIAL + BUDGET_FRACTION * track.bytes)
    assert resent == saved // 1012  # 12-byte header + 1000-byte payload each
    assert track.retransmit_limited == 100 * MAX_RETRANSMIT - resent


def test_resends_of_one_packet_are_spaced_and_counted():
    track, wire, seqs = forwarding_track(50)
    lost = seqs[10]
    answered = [track.retransmit([lost], now=2.0 + i * 0.01) for i in range(40)]
    # at most once per 50 ms (no round trip measured yet), at most three times
    assert answered[0] == 1 and sum(answered) == MAX_RESENDS
    times = [i for i, n in enumerate(answered) if n]
    assert all(b - a >= 5 for a, b in zip(times, times[1:]))
    assert track.retransmit_limited == 40 - MAX_RESENDS


def test_retransmission_bytes_stay_under_a_share_of_the_stream():
    producer = video_producer()
    track = DownTrack("video", ssrc=0xA1)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    first = None
    resent_bytes = 0
    for i in range(2000):  # a stream running while its subscriber NACKs every packet it got
        body = (VP8_KEY if i == 0 else VP8_CONT).ljust(1000, b"\x00")
        producer.receive(packet(100 + i, i * 3000, payload=body), SSRC, now=1.0 + i / 100)
        if first is None:
            first = fields(wire.sent[0])[2]
        before = len(wire.sent)
        track.retransmit([(first + j) & 0xFFFF for j in range(max(0, i - 100), i + 1)], now=1.0 + i / 100)
        resent_bytes += sum(len(p) for p in wire.sent[before:])
    assert resent_bytes <= track.bytes * track.budget.fraction + track.budget.burst
    assert resent_bytes >= track.bytes * track.budget.fraction * 0.9  # and the budget is used


def test_round_trip_from_report_blocks_paces_resends():
    track, wire, seqs = forwarding_track(20)
    feedback = SubscriberFeedback()
    feedback.tracks[track.ssrc] = track
    ntp = (3_900_000_000 << 32) | (1 << 31)
    assert track.sender_report(ntp, now=10.0) is not None
    lsr = (ntp >> 16) & 0xFFFFFFFF
    # the subscriber held our SR 0.5 s and its report arrives 0.62 s after we sent it: 120 ms
    feedback.handle(rtp.pack_receiver_report(0x99, [(track.ssrc, 5, 0, 0, 0, lsr, 1 << 15)]), now=10.62)
    assert track.rtt == pytest.approx(0.12)
    assert track.cache.min_interval == pytest.approx(0.12)
    assert track.fraction_lost == 5
    lost = seqs[5]
    assert track.retransmit([lost], now=11.0) == 1
    assert track.retransmit([lost], now=11.1) == 0  # within a round trip
    assert track.retransmit([lost], now=11.13) == 1
    # a report about another SR (or none) changes nothing; the interval is clamped
    feedback.handle(rtp.pack_receiver_report(0x99, [(track.ssrc, 0, 0, 0, 0, lsr + 1, 0)]), now=10.7)
    assert track.rtt == pytest.approx(0.12)
    feedback.handle(rtp.pack_receiver_report(0x99, [(track.ssrc, 0, 0, 0, 0, lsr, 0)]), now=10.0005)
    assert track.cache.min_interval == RESEND_INTERVAL_MIN
    feedback.handle(rtp.pack_receiver_report(0x99, [(track.ssrc, 0, 0, 0, 0, lsr, 0)]), now=12.0)
    assert track.cache.min_interval == RESEND_INTERVAL_MAX


def test_nacks_through_feedback_are_limited_too():
    track, wire, seqs = forwarding_track(30)
    feedback = SubscriberFeedback()
    feedback.tracks[track.ssrc] = track
    forwarded = len(wire.sent)
    for i in range(50):
        feedback.handle(rtp.pack_nack(0x99, track.ssrc, seqs[:16]), now=2.0 + i * 0.001)
    assert feedback.nacks == 50
    assert len(wire.sent) - forwarded == 16  # once each: the repeats came within 50 ms
    assert track.retransmit_limited == 49 * 16
