"""Transport-cc feedback (twcc.py): the packets' format, read back as a sender's estimator reads
them; the extension negotiated on publish connections; the feedback a real aiortc publisher gets
from the SFU, checked against the arrival times the SFU recorded."""

from __future__ import annotations

import asyncio
import random
import struct

import pytest
from aiortc import sdp as aiortc_sdp

from media import rtp
from media.sdp import accept_offered_extension
from media.twcc import (
    MAX_PENDING, MAX_STATUSES, TWCC_URI, TransportFeedback, encode_chunks, parse_feedback, transport_sequence,
)
from tests.media_helpers import offer_transport_cc, with_extension
from tests.test_media_rtp import packet
from tests.media_helpers import Joined
from tests.media_pools import TIMEOUT


def read(packets: list[bytes]) -> dict[int, float | None]:
    """Every feedback packet, parsed: sequence number -> arrival (s from the reference), or None."""
    out: dict[int, float | None] = {}
    for data in packets:
        (pt, fmt, body), = list(rtp.iter_rtcp(data))
        assert (pt, fmt) == (rtp.RTCP_RTPFB, rtp.RTCP_RTPFB_TWCC)
        assert len(data) % 4 == 0 and len(data) <= 1200
        for seq, arrival in parse_feedback(body)[1]:
            assert seq not in out, "each packet is reported once"
            out[seq] = arrival
    return out


def record_arrivals(publisher) -> tuple[TransportFeedback, dict[int, float]]:
    """Swap the publish connection's feedback builder for one that also keeps every arrival it
    records (number -> time): the times the feedback must report."""
    recorded: dict[int, float] = {}

    class Recording(TransportFeedback):
        __slots__ = ()

        def record(self, seq: int, now: float) -> None:
            recorded.setdefault(seq, now)
            super().record(seq, now)

    twcc = Recording(publisher.twcc.ext_id, publisher.twcc.sender_ssrc)
    publisher.twcc = twcc
    for producer in publisher.producers.values():
        producer.twcc = twcc
    return twcc, recorded


def test_chunks_use_runs_and_both_vector_kinds():
    assert encode_chunks([1] * 20) == struct.pack("!H", (1 << 13) | 20)  # run-length
    assert encode_chunks([0] * 8000 + [1]) == struct.pack("!HH", 8000, 0x8000 | (1 << 13))
    one_bit = [1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1]
    bits = sum(s << (13 - k) for k, s in enumerate(one_bit))
    assert encode_chunks(one_bit) == struct.pack("!H", 0x8000 | bits)
    two_bit = [1, 2, 0, 1, 1, 2, 1]
    bits = sum(s << (12 - 2 * k) for k, s in enumerate(two_bit))
    assert encode_chunks(two_bit) == struct.pack("!H", 0xC000 | bits)


def test_feedback_reports_arrivals_losses_reordering_and_wraparound_exactly_once():
    rng = random.Random(7)
    feedback = TransportFeedback(ext_id=5, sender_ssrc=1)
    arrivals: dict[int, float] = {}
    lost: set[int] = set()
    now = 50.0
    seq = 65_000  # wraps during the run
    reported: dict[int, float | None] = {}
    for _round in range(20):
        batch = []
        for _ in range(120):
            now += rng.uniform(0.0, 0.012)
            if rng.random() < 0.05:
                lost.add(seq)
            else:
                batch.append((seq, now))
                arrivals[seq] = now
            seq = (seq + 1) & 0xFFFF
        # jitter: neighbours arrive in swapped order (times still rise, as arrivals do); a
        # duplicate is reported once
        for i in range(0, len(batch) - 1, 9):
            (a, ta), (b, tb) = batch[i], batch[i + 1]
            batch[i], batch[i + 1] = (b, ta), (a, tb)
            arrivals[b], arrivals[a] = ta, tb
        batch.append((batch[3][0], now))
        for s, t in batch:
            feedback.record(s, t)
        new = read(feedback.build())
        assert not set(new) & set(reported)
        reported.update(new)
    epoch = min(arrivals.values())
    for s, t in arrivals.items():
        assert reported[s] == pytest.approx(t - epoch, abs=0.00025)  # 250 us resolution
    # the last packets of the run may wait for the next feedback; all lost ones before are lost
    assert all(reported[s] is None for s in lost if s in reported)
    assert len(reported) >= len(arrivals) + len(lost) - 1


def test_a_long_silence_and_big_batches_split_the_feedback():
    feedback = TransportFeedback(ext_id=3, sender_ssrc=1)
    for i in range(MAX_STATUSES + 50):
        feedback.record(i, 1.0 + i * 0.001)
    feedback.record(MAX_STATUSES + 50, 30.0)  # 29 s later: no 16-bit delta reaches it
    packets = feedback.build()
    assert len(packets) == 3
    got = read(packets)
    assert got[MAX_STATUSES + 50] == pytest.approx(29.0, abs=0.00025)
    assert feedback.build() == []
    for i in range(MAX_PENDING + 10):  # a flood between two ticks is cut
        feedback.record(i & 0xFFFF, 31.0)
    assert feedback.dropped == 10


def test_transport_sequence_is_read_from_either_extension_form_and_never_raises():
    one_byte = with_extension(packet(1, 0), 5, b"\x12\x34")
    assert transport_sequence(one_byte, 12, 5) == 0x1234
    assert transport_sequence(one_byte, 12, 6) == -1
    two_byte = packet(1, 0) [:12]
    block = struct.pack("!HH", 0x1000, 2) + bytes([9, 1, 0xAA, 5, 2, 0x00, 0x07, 0])
    data = bytes([two_byte[0] | 0x10]) + two_byte[1:] + block + b"payload"
    assert transport_sequence(data, 12, 5) == 7
    truncated = one_byte[:16]
    assert transport_sequence(truncated, 12, 5) == -1


def test_the_answer_accepts_the_extension_and_feedback_only_where_offered():
    offer_text = offer_transport_cc(OFFER, 5)
    offer = aiortc_sdp.SessionDescription.parse(offer_text)
    answer, ext_id = accept_offered_extension(ANSWER, offer, TWCC_URI, "transport-cc")
    assert ext_id == 5
    assert answer.count(f"a=extmap:5 {TWCC_URI}") == 2
    assert "a=rtcp-fb:96 transport-cc" in answer and "a=rtcp-fb:111 transport-cc" not in answer
    again, _ = accept_offered_extension(answer, offer, TWCC_URI, "transport-cc")
    assert again == answer  # idempotent
    plain, none = accept_offered_extension(ANSWER, aiortc_sdp.SessionDescription.parse(OFFER), TWCC_URI)
    assert plain == ANSWER and none is None


async def test_a_publisher_gets_feedback_matching_the_arrivals_the_sfu_saw(sfu, client_peers):
    router = sfu.router("room-twcc")
    alice = client_peers("alice")
    alice.send_transport_sequence_numbers(ext_id=5, drop_every=20)  # 5 % lost on the way
    joined = await Joined(router, alice).join()
    assert f"a=extmap:5 {TWCC_URI}" in alice.publish_answer
    publisher = joined.peer.publisher
    twcc, recorded = record_arrivals(publisher)
    await asyncio.sleep(0.15)  # feedback from the builder replaced has arrived
    alice.twcc_feedback.clear()
    await alice.wait_until(lambda: len(alice.twcc_feedback) >= 10 and len(recorded) >= 200, TIMEOUT)
    await asyncio.sleep(0.3)  # the feedback of the last packets recorded
    reported: dict[int, float | None] = {}
    for body in alice.twcc_feedback:
        for seq, arrival in parse_feedback(body)[1]:
            reported.setdefault(seq, arrival)
    lost = [s for s in alice.twcc_dropped if s in reported]
    assert lost and all(reported[s] is None for s in lost)
    checked = [s for s in recorded if s in reported]
    assert len(checked) >= 150
    # arrival times as the SFU recorded them, in its epoch, to 250 us
    offsets = [reported[s] - recorded[s] for s in checked]
    assert max(offsets) - min(offsets) < 0.0005
    assert all(reported[s] is not None for s in checked)
    assert twcc.feedbacks >= 10
    assert sfu.stats()["twcc_feedbacks"] >= twcc.feedbacks


OFFER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 127.0.0.1", "a=mid:0", "a=sendonly",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:111 opus/48000/2",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass", "a=rtcp-mux",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 127.0.0.1", "a=mid:1", "a=sendonly",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack",
    "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass", "a=rtcp-mux", "",
])
ANSWER = "\r\n".join([
    "v=0", "o=- 2 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 127.0.0.1", "a=recvonly", "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:111 opus/48000/2",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 127.0.0.1", "a=recvonly", "a=mid:1",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack",
    "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", "",
])
