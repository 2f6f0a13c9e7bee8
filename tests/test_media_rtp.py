"""RTP byte handling, munging and caching, from packets built out of bytes (no network)."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest

from media import rtp
from media.downtrack import DownTrack
from media.producer import Producer
from media.retransmit_cache import RetransmitCache


def packet(seq: int, ts: int, ssrc: int = 0x11223344, pt: int = 96, payload: bytes = b"\x10\x00\x00",
           marker: bool = False, extension: bytes = b"", padding: int = 0) -> bytes:
    b0 = 0x80 | (0x10 if extension else 0) | (0x20 if padding else 0)
    data = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc) + extension + payload
    if padding:
        data += b"\x00" * (padding - 1) + bytes([padding])
    return data


def fields(data: bytes) -> tuple[int, int, int, int, int]:
    b0, b1, seq, ts, ssrc = rtp.RTP_HEADER.unpack_from(data, 0)
    return b1 >> 7, b1 & 0x7F, seq, ts, ssrc


def codec(mime: str, pt: int, clock: int = 90000, **parameters):
    name = mime.split("/")[1]
    return SimpleNamespace(mimeType=mime, name=name, payloadType=pt, clockRate=clock, parameters=parameters, channels=None)


def video_producer(sent_rtcp: list | None = None) -> Producer:
    return Producer(
        peer_id="alice", source="camera", kind="video", mid="1",
        codecs=[codec("video/VP8", 96), codec("video/rtx", 97, apt=96)],
        ssrc=0x11223344, rtx_ssrc=0x55667788, audio_level_id=None,
        send_rtcp=(sent_rtcp.append if sent_rtcp is not None else lambda data: None), rtcp_ssrc=1,
    )


class Wire:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr) -> None:
        self.sent.append(data)


def attached(track: DownTrack) -> Wire:
    wire = Wire()
    track.attach(lambda data: data, wire.sendto, ("127.0.0.1", 9))
    return wire


VP8_KEY = b"\x90\x80\x05" + b"\x00\x00\x00"  # X=1 S=1 PID=0, I=1, picture id 5; P=0
VP8_DELTA = b"\x90\x80\x06" + b"\x01\x00\x00"  # P=1
VP8_CONT = b"\x80\x80\x06" + b"\x01\x00\x00"  # S=0


# header helpers


def test_header_length_with_csrc_and_extension():
    ext = rtp.build_extension_block([(1, b"a"), (3, b"\x01\x02\x03")])
    data = packet(1, 2, extension=ext, payload=b"xyz")
    assert rtp.header_length(data) == 12 + len(ext)
    assert rtp.extension_elements(data) == {1: b"a", 3: b"\x01\x02\x03"}
    with_csrc = bytes([0x82]) + data[1:12] + b"\x00" * 8 + b"pay"
    assert rtp.header_length(with_csrc) == 20
    assert rtp.header_length(b"\x80\x60") == -1


def test_payload_end_strips_padding():
    data = packet(1, 2, payload=b"abcd", padding=4)
    assert rtp.payload_end(data) == 16


def test_seq_newer_wraps():
    assert rtp.seq_newer(1, 65535)
    assert not rtp.seq_newer(65535, 1)
    assert not rtp.seq_newer(5, 5)


# keyframes


def test_vp8_keyframe_detection():
    for payload, expected in [(VP8_KEY, True), (VP8_DELTA, False), (VP8_CONT, False),
                              (b"\x10\x00", True), (b"\x10\x01", False), (b"\x11\x00", False),
                              (b"\x90\xe0\x80\x01\x02\x20\x00", True), (b"\x90\xe0\x80\x01\x02\x20\x01", False), (b"\x90", False)]:
        data = packet(1, 1, payload=payload)
        assert rtp.vp8_is_keyframe(data, 12, len(data)) is expected, payload


def test_h264_keyframe_detection():
    def key(payload: bytes) -> bool:
        data = packet(1, 1, payload=payload)
        return rtp.h264_is_keyframe(data, 12, len(data))

    assert key(b"\x65\x88")  # IDR
    assert key(b"\x67\x42")  # SPS
    assert not key(b"\x41\x9a")  # non-IDR slice
    stap = b"\x78" + b"\x00\x02\x67\x42" + b"\x00\x02\x68\xce"
    assert key(stap)
    assert not key(b"\x78" + b"\x00\x02\x41\x9a")
    assert key(b"\x7c\x85\x88")  # FU-A start of IDR
    assert not key(b"\x7c\x05\x88")  # FU-A continuation
    assert not key(b"\x7c\x81\x88")  # FU-A start of non-IDR


def test_rtx_wrap_and_unwrap_round_trip():
    original = packet(1000, 5555, payload=b"hello", marker=True)
    wrapped = rtp.wrap_rtx(original, payload_type=97, sequence_number=7, ssrc=0x55667788)
    assert fields(wrapped) == (1, 97, 7, 5555, 0x55667788)
    assert wrapped[12:14] == struct.pack("!H", 1000)
    assert rtp.unwrap_rtx(wrapped, payload_type=96, ssrc=0x11223344) == original


# RTCP


def test_rtcp_builders_parse():
    sr = rtp.pack_sender_report(5, (123 << 32) | 456, 789, 10, 2000)
    compound = sr + rtp.pack_sdes_cname(5, "me") + rtp.pack_pli(1, 2) + rtp.pack_remb(1, 3_000_000, [2])
    kinds = [(pt, fmt) for pt, fmt, _ in rtp.iter_rtcp(compound)]
    assert kinds == [(200, 0), (202, 1), (206, 1), (206, 15)]
    body = next(b for pt, _, b in rtp.iter_rtcp(compound) if pt == 200)
    assert rtp.parse_sender_report(body) == (5, (123 << 32) | 456, 789, 10, 2000)
    from aiortc.rtp import RtcpPacket, unpack_remb_fci
    parsed = RtcpPacket.parse(compound + rtp.pack_receiver_report(9, [(2, 3, 4, 5, 0, 6, 7)]) + rtp.pack_bye(5))
    remb = parsed[3]
    bitrate, ssrcs = unpack_remb_fci(remb.fci)
    assert ssrcs == [2] and abs(bitrate - 3_000_000) < 3_000_000 * 0.01
    assert parsed[4].reports[0].packets_lost == 4 and parsed[4].reports[0].highest_sequence == 5


def test_sender_reports_are_packed_into_few_compounds_within_the_size_limit():
    from aiortc.rtp import RtcpPacket, RtcpSdesPacket, RtcpSrPacket
    cname = "0b4e6a3c-5b1d-4d2e-9c8f-3f2a1b0c9d8e"
    reports = [(1000 + i, rtp.pack_sender_report(1000 + i, (7 << 32) | i, i * 90, i, i * 100)) for i in range(28)]
    compounds = rtp.pack_report_compounds(reports, cname)
    assert 1 < len(compounds) < len(reports)
    seen = []
    for compound in compounds:
        assert len(compound) <= rtp.REPORT_COMPOUND_BYTES
        parsed = RtcpPacket.parse(compound)  # a standard parser reads every packet of it
        srs = [p for p in parsed if isinstance(p, RtcpSrPacket)]
        sdes = [p for p in parsed if isinstance(p, RtcpSdesPacket)]
        assert isinstance(parsed[0], RtcpSrPacket) and len(sdes) == 1 and parsed[-1] is sdes[0]
        assert [c.ssrc for c in sdes[0].chunks] == [p.ssrc for p in srs]
        assert all(item == (1, cname.encode()) for c in sdes[0].chunks for item in c.items)
        seen += [(p.ssrc, p.sender_info.packet_count) for p in srs]
    assert seen == [(1000 + i, i) for i in range(28)]
    assert rtp.pack_report_compounds([], cname) == []


# retransmit cache


def test_retransmit_cache_returns_only_matching_sequence():
    cache = RetransmitCache(4)
    for seq in range(10, 16):
        cache.put(seq, packet(seq, 0))
    assert cache.get(15) == packet(15, 0)
    assert cache.get(12) == packet(12, 0)
    assert cache.get(11) is None  # overwritten by 15
    assert cache.get(99) is None
    with pytest.raises(ValueError):
        RetransmitCache(3)


# producer -> down track


async def test_downtrack_rewrites_header_and_waits_for_keyframe():
    sent_rtcp: list[bytes] = []
    producer = video_producer(sent_rtcp)
    track = DownTrack("video", ssrc=0xAAAA0001, rtx_ssrc=0xAAAA0002)
    wire = attached(track)
    track.set_payload_types({96: 100}, rtx_pt=101)
    track.bind(producer)
    assert sent_rtcp  # asked for a keyframe at once

    producer.receive(packet(500, 9000, payload=VP8_DELTA), 0x11223344, now=1.0)
    assert wire.sent == []  # not before a keyframe
    producer.receive(packet(501, 12000, payload=VP8_KEY, marker=True), 0x11223344, now=1.1)
    producer.receive(packet(502, 15000, payload=VP8_CONT), 0x11223344, now=1.2)
    producer.receive(packet(499, 6000, payload=VP8_CONT), 0x11223344, now=1.3)  # before the start
    assert len(wire.sent) == 2
    m0, pt0, seq0, ts0, ssrc0 = fields(wire.sent[0])
    m1, pt1, seq1, ts1, ssrc1 = fields(wire.sent[1])
    assert (m0, pt0, ssrc0) == (1, 100, 0xAAAA0001)
    assert (m1, pt1, ssrc1) == (0, 100, 0xAAAA0001)
    assert seq1 == (seq0 + 1) & 0xFFFF
    assert (ts1 - ts0) & 0xFFFFFFFF == 3000
    assert wire.sent[0][12:] == VP8_KEY
    assert track.packets == 2 and track.octets == 2 * len(VP8_KEY)


async def test_sequence_and_timestamp_continue_across_source_change():
    first, second = video_producer(), video_producer()
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(first)
    for i in range(3):
        first.receive(packet(100 + i, 1000 + 3000 * i, payload=VP8_KEY), 0x11223344, now=1.0 + i / 30)
    track.bind(second)  # reuse of the transceiver by another producer
    second.receive(packet(40000, 777777, payload=VP8_DELTA), 0x11223344, now=2.0)
    first.receive(packet(103, 10000, payload=VP8_KEY), 0x11223344, now=2.0)  # unbound: ignored
    second.receive(packet(40001, 780777, payload=VP8_KEY), 0x11223344, now=2.1)
    second.receive(packet(40002, 783777, payload=VP8_CONT), 0x11223344, now=2.2)
    seqs = [fields(p)[2] for p in wire.sent]
    stamps = [fields(p)[3] for p in wire.sent]
    assert len(seqs) == 5
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    # the new source starts after the old one, advanced by the wall-clock gap (2.1 - 1.0667 s)
    gap = (stamps[3] - stamps[2]) & 0xFFFFFFFF
    assert 0 < gap < 0x80000000
    assert abs(gap - int((2.1 - (1.0 + 2 / 30)) * 90000)) <= 1
    assert (stamps[4] - stamps[3]) & 0xFFFFFFFF == 3000


async def test_rtx_from_publisher_is_unwrapped_before_forwarding():
    producer = video_producer()
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    producer.receive(packet(10, 100, payload=VP8_KEY), 0x11223344, now=1.0)
    original = packet(11, 100, payload=VP8_CONT)
    rtx = rtp.wrap_rtx(original, payload_type=97, sequence_number=3, ssrc=0x55667788)
    producer.receive(rtx, 0x55667788, now=1.1)
    assert len(wire.sent) == 2
    _, pt, seq, ts, ssrc = fields(wire.sent[1])
    assert (pt, ssrc) == (96, 7)
    assert seq == (fields(wire.sent[0])[2] + 1) & 0xFFFF
    assert wire.sent[1][12:] == VP8_CONT


async def test_padding_only_packets_are_dropped_and_padding_stripped():
    producer = video_producer()
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    producer.receive(packet(1, 0, payload=b"", padding=200), 0x11223344, now=1.0)
    assert wire.sent == []
    producer.receive(packet(2, 0, payload=VP8_KEY, padding=3), 0x11223344, now=1.0)
    assert wire.sent[0][0] & 0x20 == 0 and wire.sent[0][12:] == VP8_KEY


async def test_nack_is_answered_from_cache_over_rtx():
    producer = video_producer()
    track = DownTrack("video", ssrc=7, rtx_ssrc=8)
    wire = attached(track)
    track.set_payload_types({96: 96}, rtx_pt=97)
    track.bind(producer)
    for i in range(5):
        producer.receive(packet(200 + i, 0, payload=VP8_KEY if i == 0 else VP8_CONT), 0x11223344, now=1.0)
    lost = fields(wire.sent[2])[2]
    assert track.retransmit([lost, (lost + 1000) & 0xFFFF]) == 1
    resent = wire.sent[-1]
    _, pt, _, _, ssrc = fields(resent)
    assert (pt, ssrc) == (97, 8)
    assert resent[12:14] == struct.pack("!H", lost)
    assert rtp.unwrap_rtx(resent, 96, 7) == wire.sent[2]


async def test_paused_producer_forwards_nothing_and_restarts_on_keyframe():
    producer = video_producer()
    track = DownTrack("video", ssrc=7)
    wire = attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    producer.receive(packet(1, 0, payload=VP8_KEY), 0x11223344, now=1.0)
    producer.set_paused(True)
    producer.receive(packet(2, 3000, payload=VP8_CONT), 0x11223344, now=1.1)
    producer.set_paused(False)
    producer.receive(packet(3, 6000, payload=VP8_DELTA), 0x11223344, now=1.2)
    assert len(wire.sent) == 1
    producer.receive(packet(4, 9000, payload=VP8_KEY), 0x11223344, now=1.3)
    assert len(wire.sent) == 2
    assert fields(wire.sent[1])[2] == (fields(wire.sent[0])[2] + 1) & 0xFFFF  # no gap from the pause


def test_audio_level_extension_is_carried_in_the_subscriber_id():
    producer = Producer(
        peer_id="alice", source="microphone", kind="audio", mid="0",
        codecs=[codec("audio/opus", 111, clock=48000)], ssrc=1, rtx_ssrc=None, audio_level_id=1,
        send_rtcp=lambda data: None, rtcp_ssrc=2,
    )
    track = DownTrack("audio", ssrc=9)
    wire = attached(track)
    track.set_payload_types({111: 96}, None)
    track.bind(producer)
    ext = rtp.build_extension_block([(4, b"0"), (1, bytes([0x80 | 30]))])
    producer.receive(packet(1, 0, ssrc=1, pt=111, extension=ext, payload=b"opus"), 1, now=1.0)
    out = wire.sent[0]
    assert fields(out)[1] == 96
    assert rtp.extension_elements(out) == {2: bytes([0x80 | 30])}
    assert out[rtp.header_length(out):] == b"opus"


async def test_sender_report_uses_true_counters_and_publisher_mapping():
    producer = video_producer()
    track = DownTrack("video", ssrc=7)
    attached(track)
    track.set_payload_types({96: 96}, None)
    track.bind(producer)
    producer.receive(packet(1, 90000, payload=VP8_KEY), 0x11223344, now=1.0)
    producer.receive(packet(2, 93000, payload=VP8_CONT), 0x11223344, now=1.0)
    out_ts = fields(track.cache.get(track._max_seq))[3]
    # publisher SR: RTP 90000 at its NTP time T; our clock runs 5 s ahead of the publisher's
    publisher_ntp = 1000 << 32
    producer.ntp_offset = 5 << 32
    producer.on_sender_report(publisher_ntp, 90000, publisher_ntp + (5 << 32))
    local_ntp = publisher_ntp + (5 << 32) + (1 << 31)  # half a second after the SR
    report = track.sender_report(local_ntp, now=1.5)
    pt, _, body = next(rtp.iter_rtcp(report))
    ssrc, ntp, rtp_ts, packets, octets = rtp.parse_sender_report(body)
    assert (pt, ssrc, ntp, packets) == (200, 7, local_ntp, 2)
    assert octets == len(VP8_KEY) + len(VP8_CONT)
    expected = (out_ts - 3000 + 45000) & 0xFFFFFFFF  # the SR's RTP 90000 maps to out_ts - 3000
    assert rtp_ts == expected


async def test_keyframe_requests_are_throttled_and_coalesced():
    sent: list[bytes] = []
    producer = video_producer(sent)
    producer.request_keyframe(now=10.0)
    producer.request_keyframe(now=10.05)
    producer.request_keyframe(now=10.1)
    assert len(sent) == 1 and producer._pli_timer is not None  # one more is scheduled
    producer.close()
    _, fmt, body = next(rtp.iter_rtcp(sent[0]))
    assert fmt == rtp.RTCP_PSFB_PLI and struct.unpack("!II", body) == (1, 0x11223344)


# abs-send-time toward subscribers


def test_abs_send_time_is_24_bit_6_18_fixed_point():
    assert rtp.abs_send_time(0.0) == 0
    assert rtp.abs_send_time(1.5) == 0x060000  # 1.5 s = 1.5 << 18
    assert rtp.abs_send_time(1 / 262144) == 1
    assert rtp.abs_send_time(63.999999) == 0xFFFFFF
    assert rtp.abs_send_time(64.25) == 0x010000  # wraps every 64 s
    assert rtp.abs_send_time(12345.5) == rtp.abs_send_time(12345.5 - 64 * 100)


def _aiortc_abs_send_time(data: bytes, ext_id: int = 3) -> int | None:
    """What aiortc's own parser reads as abs-send-time (a receiver's view)."""
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=ext_id, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")]))
    return RtpPacket.parse(data, extensions).extensions.abs_send_time


async def test_video_carries_abs_send_time_only_to_subscribers_who_negotiated_it():
    producer = video_producer()
    with_ast, without = DownTrack("video", ssrc=7), DownTrack("video", ssrc=8)
    wire_with, wire_without = attached(with_ast), attached(without)
    with_ast.set_payload_types({96: 96}, None, abs_send_time=True)
    without.set_payload_types({96: 96}, None, abs_send_time=False)
    with_ast.bind(producer)
    without.bind(producer)
    producer.receive(packet(1, 0, payload=VP8_KEY), 0x11223344, now=1000.25)
    producer.receive(packet(2, 3000, payload=VP8_CONT), 0x11223344, now=1000.5)

    first, second = wire_with.sent
    assert first[0] == 0x90 and rtp.header_length(first) == 20
    assert rtp.extension_elements(first) == {3: struct.pack("!I", rtp.abs_send_time(1000.25))[1:]}
    assert first[20:] == VP8_KEY and second[20:] == VP8_CONT
    assert _aiortc_abs_send_time(first) == rtp.abs_send_time(1000.25)
    assert _aiortc_abs_send_time(second) == rtp.abs_send_time(1000.5)
    assert (rtp.abs_send_time(1000.5) - rtp.abs_send_time(1000.25)) & 0xFFFFFF == 0x010000  # 0.25 s
    # the octet count of sender reports is the payload's, extension or not
    assert with_ast.octets == without.octets == len(VP8_KEY) + len(VP8_CONT)
    # stripped for the subscriber who declined it
    assert [p[0] for p in wire_without.sent] == [0x80, 0x80]
    assert wire_without.sent[0][12:] == VP8_KEY


async def test_retransmissions_carry_a_fresh_abs_send_time():
    producer = video_producer()
    plain, over_rtx = DownTrack("video", ssrc=7), DownTrack("video", ssrc=9, rtx_ssrc=10)
    wire_plain, wire_rtx = attached(plain), attached(over_rtx)
    plain.set_payload_types({96: 96}, None, abs_send_time=True)
    over_rtx.set_payload_types({96: 96}, 97, abs_send_time=True)
    plain.bind(producer)
    over_rtx.bind(producer)
    for i in range(3):
        producer.receive(packet(10 + i, 0, payload=VP8_KEY if i == 0 else VP8_CONT), 0x11223344, now=5.0)
    lost_plain, lost_rtx = fields(wire_plain.sent[1])[2], fields(wire_rtx.sent[1])[2]

    assert plain.retransmit([lost_plain], now=5.5) == 1
    resent = wire_plain.sent[-1]
    assert _aiortc_abs_send_time(resent) == rtp.abs_send_time(5.5)
    assert resent[:16] == wire_plain.sent[1][:16] and resent[20:] == wire_plain.sent[1][20:]
    assert _aiortc_abs_send_time(plain.cache.get(lost_plain)) == rtp.abs_send_time(5.0)  # cache untouched

    assert over_rtx.retransmit([lost_rtx], now=5.75) == 1
    unwrapped = rtp.unwrap_rtx(wire_rtx.sent[-1], 96, 9)
    assert _aiortc_abs_send_time(unwrapped) == rtp.abs_send_time(5.75)
    assert unwrapped[20:] == VP8_CONT and fields(unwrapped)[2] == lost_rtx


# which codec a publisher sends


def test_answer_follows_the_publishers_codec_order_among_forwardable_codecs():
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from media.sdp import forwardable_preferences, in_offer_order

    def offered(*names: str) -> list:
        out = []
        for pt, name in enumerate(names, start=100):
            params = {}
            if name.startswith("H264"):
                mode, profile = name.split("/")[1:]
                params = {"packetization-mode": mode, "profile-level-id": profile, "level-asymmetry-allowed": "1"}
                name = "H264"
            out.append(RTCRtpCodecParameters(mimeType=f"video/{name}", clockRate=90000, payloadType=pt,
                                             parameters=params))
        return out

    prefs = forwardable_preferences("video", ["VP8", "H264"])
    names = lambda ps: [(p.mimeType, p.parameters.get("profile-level-id")) for p in ps]  # noqa: E731
    # Safari-like, or a client that asked for H.264 first: H.264 leads the answer
    chrome_h264_first = offered("H264/1/42001f", "rtx", "H264/0/42001f", "H264/1/42e01f", "VP8", "VP9")
    assert names(in_offer_order(prefs, chrome_h264_first)) == [
        ("video/H264", "42001f"), ("video/H264", "42e01f"), ("video/VP8", None), ("video/rtx", None)]
    # Chrome's default order: VP8 first, as before
    assert names(in_offer_order(prefs, offered("VP8", "rtx", "VP9", "H264/1/42e01f")))[0] == ("video/VP8", None)
    # packetization-mode 0 is not forwardable: it does not count as an H.264 preference
    assert names(in_offer_order(prefs, offered("H264/0/42001f", "VP8", "H264/1/42001f")))[0] == ("video/VP8", None)
    # a codec the offer lacks keeps its place after those it has
    assert names(in_offer_order(prefs, offered("H264/1/42e01f")))[:2] == [("video/H264", "42e01f"), ("video/VP8", None)]


def test_media_config_refuses_unknown_video_codecs():
    from media import MediaConfig
    assert MediaConfig(video_codecs=["H264", "VP8"]).video_codecs == ["H264", "VP8"]
    for bad in (["AV1"], [], ["VP8", "vp9"]):
        with pytest.raises(ValueError):
            MediaConfig(video_codecs=bad)
