"""Loss recovery and feedback, from packets built out of bytes: NACKs toward publishers, RTCP
from subscribers (PLI, FIR, NACK, REMB, reports), rate limits, consumer pause, the fast path."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pylibsrtp

from media import rtp
from media.downtrack import DownTrack
from media.fastpath import InboundFastPath
from media.feedback import REMB_FLOOR, SubscriberFeedback, TokenBucket, aggregate_remb
from media.nack import NackGenerator
from tests.test_media_rtp import VP8_CONT, VP8_DELTA, VP8_KEY, attached, fields, packet, video_producer

SSRC = 0x11223344


def nacked(sent_rtcp: list[bytes]) -> list[int]:
    lost = []
    for data in sent_rtcp:
        for pt, fmt, body in rtp.iter_rtcp(data):
            if pt == rtp.RTCP_RTPFB and fmt == rtp.RTCP_RTPFB_NACK:
                assert struct.unpack_from("!I", body, 4)[0] == SSRC
                lost += rtp.parse_nack(body)
    return lost


# NACK generation (toward the publisher)


def test_nack_pack_and_parse_round_trip():
    seqs = [10, 11, 26, 27, 65535, 0, 3]
    data = rtp.pack_nack(1, 2, seqs)
    from aiortc.rtp import RtcpPacket
    plain = [10, 11, 26, 27, 3]
    assert sorted(RtcpPacket.parse(rtp.pack_nack(1, 2, plain))[0].lost) == sorted(plain)  # aiortc agrees
    _, _, body = next(rtp.iter_rtcp(data))
    assert sorted(rtp.parse_nack(body)) == sorted(seqs)
    assert len(rtp.parse_nack(body, limit=3)) == 3


def test_nack_generator_retries_and_gives_up():
    nack = NackGenerator(capacity=8, retry_interval=0.1, max_tries=3, max_age=1.0)
    assert nack.missing(100, 3, now=0.0) == [100, 101, 102]
    assert nack.due(0.05) == []
    assert nack.received(101) and not nack.received(101)
    assert nack.due(0.1) == [100, 102]
    assert nack.due(0.2) == [100, 102]
    assert nack.due(0.3) == [] and nack.pending == 0  # asked three times: forgotten
    # bounded: a jump wider than the capacity is not a loss; overflow drops the oldest
    assert nack.missing(0, 9, now=1.0) == []
    nack.missing(0, 6, now=1.0)
    nack.missing(10, 4, now=1.0)
    assert nack.pending == 8 and 0 not in nack and 13 in nack
    assert nack.due(2.5) == [] and nack.pending == 0  # too old


async def test_producer_nacks_gaps_and_forwards_each_recovered_packet_once():
    sent_rtcp: list[bytes] = []
    producer = video_producer(sent_rtcp)
    producer.set_rtt(0.08)  # from the publisher's reports: NACKs repeat every 0.1 s
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    sent_rtcp.clear()
    producer.receive(packet(100, 0, payload=VP8_KEY), SSRC, now=1.0)
    producer.receive(packet(101, 0, payload=VP8_CONT), SSRC, now=1.0)
    producer.receive(packet(104, 0, payload=VP8_CONT), SSRC, now=1.01)  # 102, 103 lost
    assert nacked(sent_rtcp) == [102, 103]
    assert producer.nacked == 2
    # 103 comes back over RTX, 102 late on the main stream; a second copy of 103 is dropped
    producer.receive(rtp.wrap_rtx(packet(103, 0, payload=VP8_CONT), 97, 1, 0x55667788), 0x55667788, now=1.02)
    producer.receive(packet(102, 0, payload=VP8_CONT), SSRC, now=1.03)
    producer.receive(rtp.wrap_rtx(packet(103, 0, payload=VP8_CONT), 97, 2, 0x55667788), 0x55667788, now=1.04)
    producer.receive(packet(101, 0, payload=VP8_CONT), SSRC, now=1.05)  # duplicate
    assert producer.duplicates == 2
    out = [fields(p)[2] for p in wire.sent]
    base = out[0]
    # the munger keeps the publisher's order: each packet lands on its own slot
    assert [(s - base) & 0xFFFF for s in out] == [0, 1, 4, 3, 2]
    assert producer.nack.pending == 0
    # retries only while something is outstanding, paced by the generator
    sent_rtcp.clear()
    producer.receive(packet(110, 0, payload=VP8_CONT), SSRC, now=1.1)  # 105..109 lost
    producer.receive(packet(111, 0, payload=VP8_CONT), SSRC, now=1.15)
    producer.receive(packet(112, 0, payload=VP8_CONT), SSRC, now=1.21)
    assert nacked(sent_rtcp) == [105, 106, 107, 108, 109] * 2


async def test_downtrack_mapping_survives_reordering_and_answers_nacks_in_order():
    producer = video_producer()
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    order = [500, 501, 503, 502, 505, 504, 506]
    for seq in order:
        producer.receive(packet(seq, seq * 10, payload=VP8_KEY if seq == 500 else VP8_CONT), SSRC, now=1.0)
    out = [(fields(p)[2], fields(p)[3]) for p in wire.sent]
    seq0, ts0 = out[0]
    assert [((s - seq0) & 0xFFFF, (t - ts0) & 0xFFFFFFFF) for s, t in out] == [
        (seq - 500, (seq - 500) * 10) for seq in order]
    assert track._max_seq == (seq0 + 6) & 0xFFFF  # the highest, not the last
    for i in range(7):
        assert fields(track.cache.get((seq0 + i) & 0xFFFF))[2] == (seq0 + i) & 0xFFFF


# consumer pause / resume


async def test_consumer_pause_and_resume_restart_at_keyframe_with_continuity():
    sent_rtcp: list[bytes] = []
    producer = video_producer(sent_rtcp)
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    producer.receive(packet(1, 1000, payload=VP8_KEY), SSRC, now=1.0)
    producer.receive(packet(2, 4000, payload=VP8_CONT), SSRC, now=1.03)
    track.set_paused(True)
    sent_rtcp.clear()
    for i in range(3, 30):
        producer.receive(packet(i, 1000 + 3000 * i, payload=VP8_KEY if i == 10 else VP8_DELTA), SSRC, now=1.0 + i / 30)
    assert len(wire.sent) == 2 and sent_rtcp == []  # nothing sent, no keyframe asked for
    producer._last_pli = -1e9
    track.set_paused(False)
    assert len(sent_rtcp) == 1  # resuming asks for a keyframe at once
    producer.receive(packet(30, 91000, payload=VP8_DELTA), SSRC, now=2.0)
    producer.receive(packet(31, 94000, payload=VP8_KEY), SSRC, now=2.03)
    producer.receive(packet(32, 97000, payload=VP8_CONT), SSRC, now=2.06)
    assert len(wire.sent) == 4 and wire.sent[2][12:] == VP8_KEY
    seqs = [fields(p)[2] for p in wire.sent]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    gap = (fields(wire.sent[2])[3] - fields(wire.sent[1])[3]) & 0xFFFFFFFF
    assert abs(gap - int((2.03 - 1.03) * 90000)) <= 1
    assert track.starts == 2


def test_audio_level_extension_is_stripped_for_subscribers_that_declined_it():
    from tests.test_media_speaker import audio_producer
    producer = audio_producer()
    with_level, without = DownTrack("audio", ssrc=9), DownTrack("audio", ssrc=10)
    wire_with, wire_without = attached(with_level), attached(without)
    with_level.set_payload_types({111: 111}, None, audio_level=True)
    without.set_payload_types({111: 111}, None, audio_level=False)
    with_level.bind(producer)
    without.bind(producer)
    ext = rtp.build_extension_block([(1, bytes([0x80 | 30]))])
    producer.receive(packet(1, 0, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1, now=1.0)
    assert rtp.extension_elements(wire_with.sent[0]) == {2: bytes([0x80 | 30])}
    assert wire_without.sent[0][0] == 0x80 and wire_without.sent[0][12:] == b"opus"


# RTCP from subscribers


def subscriber_with_tracks():
    producer = video_producer()
    feedback = SubscriberFeedback()
    tracks = []
    for ssrc in (0xA1, 0xA2):
        track = DownTrack("video", ssrc=ssrc)
        attached(track)
        track.set_payload_types({96: 96}, None)
        track.bind(producer)
        feedback.tracks[ssrc] = track
        tracks.append(track)
    return producer, feedback, tracks


async def test_fir_and_pli_reach_the_producer():
    producer, feedback, _ = subscriber_with_tracks()
    requests = []
    producer.request_keyframe = lambda now=None: requests.append(now)
    feedback.handle(rtp.pack_fir(0x99, 0xA2, 1), now=5.0)  # media SSRC 0 in the header
    feedback.handle(rtp.pack_pli(0x99, 0xA1), now=5.1)
    feedback.handle(rtp.pack_fir(0x99, 0xDEAD, 2) + rtp.pack_pli(0x99, 0xBEEF), now=5.2)  # not ours
    assert requests == [5.0, 5.1]
    assert feedback.keyframe_requests == 2


async def test_nack_and_reports_reach_the_downtrack():
    producer, feedback, tracks = subscriber_with_tracks()
    wire = attached(tracks[0])
    for i in range(4):
        producer.receive(packet(10 + i, 0, payload=VP8_KEY if i == 0 else VP8_CONT), SSRC, now=1.0)
    first = fields(wire.sent[0])[2]
    feedback.handle(rtp.pack_nack(0x99, 0xA1, [(first + 1) & 0xFFFF, (first + 3) & 0xFFFF]), now=1.1)
    assert tracks[0].retransmitted == 2 and len(wire.sent) == 6
    feedback.handle(rtp.pack_receiver_report(0x99, [(0xA1, 12, 3, 100, 0, 0, 0), (0xA2, 40, 3, 100, 0, 0, 0)]), now=1.2)
    assert (tracks[0].fraction_lost, tracks[1].fraction_lost) == (12, 40)


async def test_remb_from_consumers_is_aggregated_clamped_and_rate_limited():
    assert aggregate_remb([], REMB_FLOOR, 2_000_000) == 2_000_000
    assert aggregate_remb([800_000, 300_000], REMB_FLOOR, 2_000_000) == 300_000
    assert aggregate_remb([5_000], REMB_FLOOR, 2_000_000) == REMB_FLOOR
    assert aggregate_remb([9_000_000], REMB_FLOOR, 2_000_000) == 2_000_000

    sent: list[bytes] = []
    producer = video_producer(sent)
    producer.max_bitrate = 2_000_000
    feedback = SubscriberFeedback()
    tracks = []
    for ssrc in (0xA1, 0xA2):
        track = DownTrack("video", ssrc=ssrc)
        attached(track)
        track.bind(producer)
        feedback.tracks[ssrc] = track
        tracks.append(track)
    sent.clear()

    def rembs() -> list[tuple[int, list[int]]]:
        found = []
        for data in sent:
            for pt, fmt, body in rtp.iter_rtcp(data):
                if pt == rtp.RTCP_PSFB and fmt == rtp.RTCP_PSFB_APP:
                    found.append(rtp.parse_remb(body))
        return found

    feedback.handle(rtp.pack_remb(0x99, 1_500_000, [0xA1]), now=10.0)
    feedback.handle(rtp.pack_remb(0x99, 600_000, [0xA2]), now=10.1)  # lower, but within 1 s
    assert [(abs(b - 1_500_000) < 20_000, s) for b, s in rembs()] == [(True, [SSRC])]
    # a flood of REMBs: still at most one per second toward the publisher
    for i in range(50):
        feedback.handle(rtp.pack_remb(0x99, 500_000 + i, [0xA2]), now=10.2 + i * 0.01)
    packet_ = producer.remb_due(10.5)
    assert packet_ is None and len(rembs()) == 1
    packet_ = producer.remb_due(11.1)
    bitrate, ssrcs = rtp.parse_remb(next(rtp.iter_rtcp(packet_))[2])
    assert abs(bitrate - 500_000) < 5_000 and ssrcs == [SSRC]
    # a paused consumer's estimate does not hold the publisher back
    tracks[1].set_paused(True)
    assert abs(producer.remb_bitrate(11.2) - 1_500_000) < 20_000
    # stale estimates expire: back to the ceiling
    assert producer.remb_bitrate(30.0) == 2_000_000


async def test_rtcp_floods_are_cut_off():
    bucket = TokenBucket(rate=10, burst=5)
    assert sum(bucket.take(0.0) for _ in range(20)) == 5
    assert bucket.take(0.1) and not bucket.take(0.1)

    producer, feedback, _ = subscriber_with_tracks()
    requests = []
    producer.request_keyframe = lambda now=None: requests.append(now)
    for i in range(10_000):
        feedback.handle(rtp.pack_pli(0x99, 0xA1), now=1.0 + i * 1e-5)  # 100 000 per second
    assert feedback.dropped > 9_000
    assert len(requests) <= 210


# inbound fast path


class FakeProtocol:
    def __init__(self) -> None:
        self.transport = object()
        self.slow: list[bytes] = []

    def datagram_received(self, data, addr) -> None:
        self.slow.append(data)


def test_fast_path_takes_srtp_from_the_nominated_pair_only():
    key = bytes(range(30))
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    protocol = FakeProtocol()
    pair = SimpleNamespace(protocol=protocol, remote_addr=("127.0.0.1", 5000))
    connection = SimpleNamespace(_nominated={1: pair})
    dtls = SimpleNamespace(state="connected", _rx_srtp=rx, transport=SimpleNamespace(_connection=connection))
    rtp_in, rtcp_in = [], []
    fast = InboundFastPath(dtls, lambda data, now: rtp_in.append(data), lambda data, now: rtcp_in.append(data))
    assert fast.refresh() and fast.active

    media = packet(1, 2, payload=b"media")
    protected = tx.protect(media)
    protocol.datagram_received(protected, ("127.0.0.1", 5000))
    protocol.datagram_received(tx.protect_rtcp(rtp.pack_pli(1, 2)), ("127.0.0.1", 5000))
    protocol.datagram_received(tx.protect(packet(2, 2)), ("127.0.0.1", 5001))  # other address
    protocol.datagram_received(b"\x00\x01stun", ("127.0.0.1", 5000))  # STUN
    protocol.datagram_received(b"\x16\xfe\xfd", ("127.0.0.1", 5000))  # DTLS
    protocol.datagram_received(protected, ("127.0.0.1", 5000))  # replay: dropped
    assert rtp_in == [media] and rtcp_in == [rtp.pack_pli(1, 2)]
    assert len(protocol.slow) == 3 and fast.errors == 1

    # the pair changes: the hook follows it, the old socket gets its method back
    other = FakeProtocol()
    connection._nominated[1] = SimpleNamespace(protocol=other, remote_addr=("127.0.0.1", 6000))
    assert fast.refresh()
    assert "datagram_received" not in vars(protocol)
    other.datagram_received(tx.protect(packet(3, 2)), ("127.0.0.1", 6000))
    assert len(rtp_in) == 2
    fast.close()
    assert "datagram_received" not in vars(other)
