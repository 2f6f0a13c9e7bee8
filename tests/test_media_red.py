"""RED for Opus (RFC 2198, media/red.py): the payload format, the SDP munging, and the Producer
forwarding each subscriber the form it negotiated, from bytes (no network). The SFU end to end
with RED is in tests/test_media_red_sfu.py."""

from __future__ import annotations

import random

import pytest
from aiortc import sdp as aiortc_sdp

from media import red, rtp
from media.downtrack import DownTrack
from media.producer import Producer
from media.sdp import check_remote
from tests.test_media_rtp import attached, codec, fields, packet

# payload format


def payload(data: bytes):
    """(data, start, end) of a payload placed inside a larger buffer, as in a packet."""
    return b"HDR" + data + b"TAIL", 3, 3 + len(data)


def test_pack_and_parse_one_redundant_block():
    body = red.pack(111, b"primary", [(111, 960, b"older")])
    assert body[:5] == bytes((0x80 | 111, 960 >> 6, ((960 & 0x3F) << 2) | 0, 5, 111))
    data, start, end = payload(body)
    assert red.primary(data, start, end) == (111, start + 5 + 5)
    assert data[start + 10:end] == b"primary"
    assert red.blocks(data, start, end) == [(111, 960, start + 5, start + 10), (111, 0, start + 10, end)]


def test_parse_without_redundancy_and_with_several_blocks():
    data, start, end = payload(red.pack(111, b"p"))
    assert red.primary(data, start, end) == (111, start + 1)
    assert red.blocks(data, start, end) == [(111, 0, start + 1, end)]

    body = red.pack(111, b"now", [(111, 1920, b"two ago"), (111, 960, b""), (110, 16383, b"x" * 1023)][::-1])
    data, start, end = payload(body)
    parsed = red.blocks(data, start, end)
    assert [(pt, offset, data[s:e]) for pt, offset, s, e in parsed] == [
        (110, 16383, b"x" * 1023), (111, 960, b""), (111, 1920, b"two ago"), (111, 0, b"now")]
    assert red.primary(data, start, end) == (111, parsed[-1][2])


@pytest.mark.parametrize("body", [
    b"",  # nothing
    bytes((0x80 | 111, 0, 0)),  # a redundant header cut short
    bytes((0x80 | 111, 15, 0, 5)) + b"abcde",  # no final header
    bytes((0x80 | 111, 15, 0, 5, 111)) + b"abcd",  # the block reaches past the payload
    bytes((0x80 | 111, 15, 0, 5, 111)) + b"abcde",  # the primary is empty
    bytes((111,)),  # the final header alone: an empty primary
    bytes((0x80 | 111, 15, 3, 0xFF, 111)) + b"short",  # a 1023-byte length
])
def test_malformed_red_is_refused_by_every_function(body):
    data, start, end = payload(body)
    assert red.primary(data, start, end) is None
    assert red.blocks(data, start, end) is None
    assert red.set_block_pt(data, start, end, 111, 96) is None
    assert red.redundant_for_gap(data, start, end, 1) == []


def test_block_payload_types_are_rewritten_in_the_headers_only():
    body = red.pack(111, b"\x80primary", [(111, 1920, b"\x6f\xef"), (111, 960, b"\xffone")])
    data, start, end = payload(body)
    rewritten = red.set_block_pt(data, start, end, 111, 96)
    assert rewritten == red.pack(96, b"\x80primary", [(96, 1920, b"\x6f\xef"), (96, 960, b"\xffone")])
    # F bits kept: the result parses the same, with the new payload type
    assert [(pt, offset) for pt, offset, _, _ in red.blocks(rewritten, 0, len(rewritten))] == [
        (96, 1920), (96, 960), (96, 0)]
    assert red.set_block_pt(data, start, end, 111, 111) == body
    # a block of another payload type cannot be offered to the subscriber as Opus
    other = red.pack(111, b"p", [(13, 960, b"cn")])
    assert red.set_block_pt(other, 0, len(other), 111, 96) is None
    assert red.set_block_pt(body, 0, len(body), 96, 111) is None


def test_redundant_blocks_for_a_gap():
    body = red.pack(111, b"now", [(111, 1920, b"two ago"), (111, 960, b"one ago")])
    data, start, end = payload(body)
    assert red.redundant_for_gap(data, start, end, 0) == []
    assert red.redundant_for_gap(data, start, end, 1) == [(1, 111, 960, b"one ago")]
    assert red.redundant_for_gap(data, start, end, 2) == [(2, 111, 1920, b"two ago"), (1, 111, 960, b"one ago")]
    assert red.redundant_for_gap(data, start, end, 5) == red.redundant_for_gap(data, start, end, 2)
    empty = red.pack(111, b"now", [(111, 960, b"")])
    assert red.redundant_for_gap(empty, 0, len(empty), 1) == []
    plain = red.pack(111, b"now")
    assert red.redundant_for_gap(plain, 0, len(plain), 1) == []


def test_pack_refuses_what_the_headers_cannot_say():
    with pytest.raises(ValueError):
        red.pack(111, b"p", [(111, 1 << 14, b"x")])
    with pytest.raises(ValueError):
        red.pack(111, b"p", [(111, 960, b"x" * 1024)])


def test_random_bytes_never_raise_and_the_functions_agree():
    rng = random.Random(2198)
    for _ in range(5000):
        body = bytes(rng.choice((rng.randrange(256), 0x80 | 111, 111, 0, 1, 2)) for _ in range(rng.randrange(12)))
        data, start, end = payload(body)
        found = red.primary(data, start, end)
        parsed = red.blocks(data, start, end)
        assert (found is None) == (parsed is None)
        if parsed is not None:
            assert found == (parsed[-1][0], parsed[-1][2]) and parsed[-1][3] == end > parsed[-1][2]
        rewritten = red.set_block_pt(data, start, end, 111, 96)
        assert rewritten is None or found is not None
        red.redundant_for_gap(data, start, end, rng.randrange(4))


# forwarding: each subscriber gets the form it negotiated

PUBLISHER_SSRC = 0x1234
RED_PT = 63
OPUS_PT = 111
LEVEL = rtp.build_extension_block([(1, bytes([0x80 | 30]))])


def red_producer() -> Producer:
    return Producer(
        peer_id="alice", source="microphone", kind="audio", mid="0",
        codecs=[codec("audio/opus", OPUS_PT, clock=48000), red.red_codec(RED_PT)],
        ssrc=PUBLISHER_SSRC, rtx_ssrc=None, audio_level_id=1, send_rtcp=lambda data: None, rtcp_ssrc=2,
    )


def plain_track(producer, ssrc=9) -> tuple[DownTrack, list]:
    track = DownTrack("audio", ssrc=ssrc)
    wire = attached(track)
    track.set_payload_types({OPUS_PT: 96}, None)
    track.bind(producer)
    return track, wire.sent


def red_track(producer, ssrc=10, subscriber_red_pt=100) -> tuple[DownTrack, list]:
    track = DownTrack("audio", ssrc=ssrc)
    wire = attached(track)
    track.set_payload_types({OPUS_PT: 96, RED_PT: subscriber_red_pt}, None, red_block_pt=96)
    track.bind(producer)
    return track, wire.sent


def frame(n: int) -> bytes:
    return bytes([0x78, n & 0xFF]) + b"opus frame %d" % n


def red_packet(n: int, redundancy: bool = True, extension: bytes = LEVEL) -> bytes:
    body = red.pack(OPUS_PT, frame(n), [(OPUS_PT, 960, frame(n - 1))] if redundancy and n > 0 else [])
    return packet(1000 + n, 960 * n, ssrc=PUBLISHER_SSRC, pt=RED_PT, extension=extension, payload=body)


def body_of(data: bytes) -> bytes:
    return data[rtp.header_length(data):]


def test_the_producer_learns_red_from_its_codecs():
    producer = red_producer()
    assert producer.red_pt == RED_PT and producer.codec.payloadType == OPUS_PT
    assert [c.mimeType for c in producer.codecs] == ["audio/opus"]  # what subscribers are offered
    assert set(producer.payload_types) == {OPUS_PT, RED_PT}  # an unannounced SSRC is learnt by either
    plain = Producer(peer_id="bob", source="microphone", kind="audio", mid="0",
                     codecs=[codec("audio/opus", OPUS_PT, clock=48000)], ssrc=1, rtx_ssrc=None,
                     audio_level_id=None, send_rtcp=lambda data: None, rtcp_ssrc=2)
    assert plain.red_pt == -1
    producer.set_codecs([codec("audio/opus", OPUS_PT, clock=48000)])  # renegotiated without red
    assert producer.red_pt == -1 and set(producer.payload_types) == {OPUS_PT}


def test_each_subscriber_gets_red_or_the_primary_as_plain_opus():
    producer = red_producer()
    _, plain = plain_track(producer)
    _, with_red = red_track(producer)
    for n in range(3):
        producer.receive(red_packet(n), PUBLISHER_SSRC, now=1.0 + n * 0.02)
    assert len(plain) == len(with_red) == 3
    for n, (out_plain, out_red) in enumerate(zip(plain, with_red)):
        # plain: the subscriber's Opus payload type, the primary block alone, the level kept
        assert fields(out_plain)[1] == 96
        assert body_of(out_plain) == frame(n)
        assert rtp.extension_elements(out_plain) == {2: bytes([0x80 | 30])}
        # red: the subscriber's red payload type, the blocks' payload type its Opus
        assert fields(out_red)[1] == 100
        expected = red.pack(96, frame(n), [(96, 960, frame(n - 1))] if n else [])
        assert body_of(out_red) == expected
        assert rtp.extension_elements(out_red) == {2: bytes([0x80 | 30])}
    # the same sequence numbers and timestamps (each subscriber's own offsets)
    for out in (plain, with_red):
        assert [(fields(p)[2] - fields(out[0])[2]) & 0xFFFF for p in out] == [0, 1, 2]
        assert [(fields(p)[3] - fields(out[0])[3]) & 0xFFFFFFFF for p in out] == [0, 960, 1920]
    assert producer.packets == 3 and producer._level_count == 3  # levels are still read


def test_each_form_is_built_once_per_packet(monkeypatch):
    producer = red_producer()
    outs = [plain_track(producer, ssrc=20 + i)[1] for i in range(3)]
    outs += [red_track(producer, ssrc=30 + i)[1] for i in range(3)]
    calls = []
    original = red.set_block_pt
    monkeypatch.setattr(red, "set_block_pt", lambda *args: calls.append(args) or original(*args))
    producer.receive(red_packet(5), PUBLISHER_SSRC, now=1.0)
    assert len(calls) == 1
    assert all(len(out) == 1 for out in outs)
    assert len({body_of(out[0]) for out in outs}) == 2


def test_red_toward_a_subscriber_with_the_publishers_opus_payload_type_is_not_rewritten():
    producer = red_producer()
    track = DownTrack("audio", ssrc=11)
    sent = attached(track).sent
    track.set_payload_types({OPUS_PT: OPUS_PT, RED_PT: RED_PT}, None, red_block_pt=OPUS_PT, audio_level=False)
    track.bind(producer)
    data = red_packet(7)
    producer.receive(data, PUBLISHER_SSRC, now=1.0)
    assert fields(sent[0])[1] == RED_PT and sent[0][0] == 0x80  # the level declined: stripped
    assert body_of(sent[0]) == body_of(data)


def test_malformed_red_is_dropped_and_counted():
    producer = red_producer()
    _, plain = plain_track(producer)
    _, with_red = red_track(producer)
    bad = [bytes((0x80 | OPUS_PT, 15, 0, 50, OPUS_PT)) + b"short", bytes((0x80 | OPUS_PT,)), bytes((OPUS_PT,))]
    for n, body in enumerate(bad):
        producer.receive(packet(2000 + n, 960 * n, ssrc=PUBLISHER_SSRC, pt=RED_PT, payload=body),
                         PUBLISHER_SSRC, now=1.0)
    assert plain == [] and with_red == []
    assert producer.red_malformed == len(bad)
    # a block of another payload type: no RED form for it, the primary still goes as Opus
    body = red.pack(OPUS_PT, frame(1), [(13, 960, b"cn")])
    producer.receive(packet(2010, 9600, ssrc=PUBLISHER_SSRC, pt=RED_PT, payload=body), PUBLISHER_SSRC, now=1.1)
    assert with_red == [] and [body_of(p) for p in plain] == [frame(1)]


def test_frames_lost_on_the_way_in_are_rebuilt_for_plain_subscribers():
    producer = red_producer()
    _, plain = plain_track(producer)
    _, with_red = red_track(producer)
    for n in (0, 1, 3, 4, 5, 8):  # 2 lost: in 3's redundancy; 6 and 7 lost: only 7 in 8's
        producer.receive(red_packet(n), PUBLISHER_SSRC, now=1.0 + n * 0.02)
    first_seq, first_ts = fields(plain[0])[2:4]
    got = [((fields(p)[2] - first_seq) & 0xFFFF, (fields(p)[3] - first_ts) & 0xFFFFFFFF, body_of(p)) for p in plain]
    assert got == [(n, 960 * n, frame(n)) for n in (0, 1, 2, 3, 4, 5, 7, 8)]
    assert all(fields(p)[0] == 0 for p in plain)
    assert producer.red_recovered == 2
    # a recovered frame carries no level (it is not known); the others keep theirs
    assert [rtp.extension_elements(p) != {} for p in plain] == [True, True, False, True, True, True, False, True]
    # RED subscribers recover themselves, from the same packets
    assert [(fields(p)[2] - fields(with_red[0])[2]) & 0xFFFF for p in with_red] == [0, 1, 3, 4, 5, 8]


def test_late_and_duplicate_red_packets_recover_nothing():
    producer = red_producer()
    _, plain = plain_track(producer)
    for n in (0, 1, 3, 2, 3, 4):  # 2 arrives late after 3 rebuilt it; 3 again is a duplicate
        producer.receive(red_packet(n), PUBLISHER_SSRC, now=1.0 + n * 0.02)
    first = fields(plain[0])[2]
    assert [(fields(p)[2] - first) & 0xFFFF for p in plain] == [0, 1, 2, 3, 2, 4]
    assert producer.red_recovered == 1


def test_plain_opus_from_a_red_producer_and_a_producer_without_red():
    producer = red_producer()
    _, plain = plain_track(producer)
    _, with_red = red_track(producer)
    producer.receive(packet(1, 0, ssrc=PUBLISHER_SSRC, pt=OPUS_PT, payload=frame(1)), PUBLISHER_SSRC, now=1.0)
    assert [fields(p)[1] for p in plain + with_red] == [96, 96]
    assert body_of(plain[0]) == body_of(with_red[0]) == frame(1)
    # renegotiated without red, the RED payload type is nothing a plain subscriber was offered
    producer.set_codecs([codec("audio/opus", OPUS_PT, clock=48000)])
    producer.receive(red_packet(2), PUBLISHER_SSRC, now=1.02)
    assert len(plain) == 1


def test_frames_lost_at_5_percent_per_leg():
    """The design's arithmetic through the real Producer and DownTracks, seeded: 5% of packets
    lost on the way in and, independently per subscriber, 5% on the way out. A RED subscriber
    misses a frame only if its packet and the next are both lost; a plain one gets the frames the
    SFU rebuilt, and misses what its own link loses (bench/red_loss.py measures the same in
    Chromium, as concealed samples)."""
    rng = random.Random(2198)
    producer = red_producer()
    _, plain = plain_track(producer)
    _, with_red = red_track(producer)
    count = 3000
    for n in range(count):
        if rng.random() >= 0.05:
            producer.receive(red_packet(n), PUBLISHER_SSRC, now=1.0 + n * 0.02)
    frames = {frame(n) for n in range(count)}

    def missing(out: list, in_red: bool) -> float:
        playable = set()
        for data in out:
            if rng.random() < 0.05:
                continue
            body = body_of(data)
            if in_red:
                playable.update(body[s:e] for _, _, s, e in red.blocks(body, 0, len(body)))
            else:
                playable.add(body)
        return 1 - len(playable & frames) / count

    lost_red, lost_plain = missing(with_red, True), missing(plain, False)
    assert lost_red < 0.02  # ~1%: the target is under 5%
    assert lost_plain < 0.075  # ~5%: the link to it alone (~10% without the SFU's rebuilding)
    assert producer.red_recovered > 0.03 * count


# SDP

CHROMIUM_AUDIO = (
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=rtcp:9 IN IP4 127.0.0.1\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=sendonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:1111 cname:x\r\n"
)
SESSION = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE {mids}\r\n"


def chromium_offer(audio: str = CHROMIUM_AUDIO) -> str:
    return SESSION.format(mids="0") + audio


def test_red_is_found_in_an_offer_only_over_that_sections_opus():
    assert red.red_by_mid(chromium_offer()) == {"0": (63, 111)}
    assert red.red_by_mid(chromium_offer().replace("\r\n", "\n")) == {"0": (63, 111)}
    without_fmtp = chromium_offer().replace("a=fmtp:63 111/111\r\n", "")
    assert red.red_by_mid(without_fmtp) == {}
    assert red.red_by_mid(without_fmtp, require_fmtp=False) == {"0": (63, 111)}
    for fmtp in ("9/9", "111/110", "abc", "", "110/110"):
        assert red.red_by_mid(chromium_offer().replace("a=fmtp:63 111/111", f"a=fmtp:63 {fmtp}")) == {}, fmtp
    assert red.red_by_mid(chromium_offer().replace("a=fmtp:63 111/111", "a=fmtp:63 111/111/111")) == {"0": (63, 111)}
    assert red.red_by_mid(chromium_offer().replace("m=audio 9 ", "m=audio 0 ")) == {}
    assert red.red_by_mid(chromium_offer().replace(" 111 63 9", " 111 9")) == {}  # not in the m-line
    assert red.red_by_mid(chromium_offer().replace("red/48000/2", "red/8000")) == {}


def aiortc_answer(opus_fmtp: str | None = None) -> str:
    """An answer as aiortc writes it to the offer above: Opus only, no fmtp."""
    audio = (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "a=sendrecv\r\na=mid:0\r\n"
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=rtcp:9 IN IP4 127.0.0.1\r\na=rtcp-mux\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        + (f"a=fmtp:111 {opus_fmtp}\r\n" if opus_fmtp is not None else "")
        + "a=ice-ufrag:efgh\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
        "a=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\n"
        "a=setup:active\r\n"
    )
    return SESSION.format(mids="0") + audio


def audio_codecs(sdp: str, mid: str = "0") -> list[tuple[int, str, dict]]:
    media = next(m for m in aiortc_sdp.SessionDescription.parse(sdp).media if m.rtp.muxId == mid)
    return [(c.payloadType, c.mimeType, c.parameters) for c in media.rtp.codecs]


def test_the_publish_answer_lists_red_first_and_asks_for_inband_fec():
    answer, added = red.answer_with_red(aiortc_answer(), red.red_by_mid(chromium_offer()))
    assert added == {"0": (63, 111)}
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 63 111\r\n" in answer
    assert audio_codecs(answer) == [(63, "audio/red", {"111/111": None}),
                                    (111, "audio/opus", {"useinbandfec": 1})]
    lines = answer.split("\r\n")
    assert lines.index("a=rtpmap:63 red/48000/2") + 2 == lines.index("a=rtpmap:111 opus/48000/2")
    assert answer.endswith("a=setup:active\r\n")
    check_remote(answer, "answer", None)  # still a description the SFU itself would take
    # applied twice: nothing more (red is already there)
    again, added_again = red.answer_with_red(answer, {"0": (63, 111)})
    assert again == answer and added_again == {}


@pytest.mark.parametrize("fmtp, expected", [
    ("minptime=10", "minptime=10;useinbandfec=1"),
    ("useinbandfec=0;stereo=1", "useinbandfec=1;stereo=1"),
    ("minptime=10;useinbandfec=1", "minptime=10;useinbandfec=1"),
])
def test_inband_fec_joins_an_existing_opus_fmtp(fmtp, expected):
    answer, added = red.answer_with_red(aiortc_answer(fmtp), {})
    assert added == {}  # red was not offered: Opus alone
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" in answer
    assert f"a=fmtp:111 {expected}\r\n" in answer and answer.count("a=fmtp:111") == 1


@pytest.mark.parametrize("fmtp, expected", [
    (None, "useinbandfec=1;usedtx=1"),
    ("minptime=10", "minptime=10;useinbandfec=1;usedtx=1"),
    ("usedtx=0;useinbandfec=0", "usedtx=1;useinbandfec=1"),
])
def test_opus_dtx_is_asked_for_in_the_publish_answer(fmtp, expected):
    answer, _ = red.answer_with_red(aiortc_answer(fmtp), {"0": (63, 111)}, dtx=True)
    assert f"a=fmtp:111 {expected}\r\n" in answer and answer.count("a=fmtp:111") == 1
    assert "a=fmtp:63 111/111\r\n" in answer  # red's fmtp untouched
    check_remote(answer, "answer", None)


def test_red_is_not_answered_over_an_opus_the_answer_does_not_have():
    answer, added = red.answer_with_red(aiortc_answer().replace("111", "96"), {"0": (63, 111)})
    assert added == {} and "red" not in answer
    answer, added = red.answer_with_red(aiortc_answer(), {"1": (63, 111)})
    assert added == {} and "red" not in answer


def aiortc_offer() -> str:
    """A subscribe offer as aiortc writes it: two audio sections (Opus 96) and a video one."""
    def audio(mid: str) -> str:
        return (f"m=audio 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 127.0.0.1\r\na=sendonly\r\na=mid:{mid}\r\n"
                "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=rtcp-mux\r\n"
                f"a=ssrc:{mid}1 cname:x\r\na=rtpmap:96 opus/48000/2\r\n"
                "a=ice-ufrag:efgh\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
                "a=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\na=setup:actpass\r\n")
    video = ("m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\nc=IN IP4 127.0.0.1\r\na=sendonly\r\na=mid:2\r\n"
             "a=rtcp-mux\r\na=rtpmap:97 VP8/90000\r\na=rtcp-fb:97 nack\r\na=rtpmap:98 rtx/90000\r\n"
             "a=fmtp:98 apt=97\r\na=ice-ufrag:efgh\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
             "a=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\na=setup:actpass\r\n")
    return SESSION.format(mids="0 1 2") + audio("0") + audio("1") + video


def test_the_subscribe_offer_offers_red_before_opus_for_the_mids_asked():
    offer, offered = red.offer_with_red(aiortc_offer(), ["1"])
    assert offered == {"1": (63, 96)}
    assert audio_codecs(offer, "1") == [(63, "audio/red", {"96/96": None}), (96, "audio/opus", {})]
    assert audio_codecs(offer, "0") == [(96, "audio/opus", {})]
    assert red.red_by_mid(offer) == {"1": (63, 96)}
    check_remote(offer, "offer", None)
    # nothing asked, or nothing that can carry it: the offer as it was
    assert red.offer_with_red(aiortc_offer(), []) == (aiortc_offer(), {})
    assert red.offer_with_red(aiortc_offer(), ["2", "9"]) == (aiortc_offer(), {})
    # both audio sections: one red payload type for the whole (bundled) offer
    offer, offered = red.offer_with_red(aiortc_offer(), ["0", "1"])
    assert offered == {"0": (63, 96), "1": (63, 96)}


def test_the_red_payload_type_offered_is_one_no_section_uses():
    taken = aiortc_offer().replace("97 98", "63 98").replace("rtpmap:97", "rtpmap:63").replace(
        "rtcp-fb:97", "rtcp-fb:63").replace("apt=97", "apt=63")
    offer, offered = red.offer_with_red(taken, ["0"])
    assert offered == {"0": (97, 96)}
    assert audio_codecs(offer, "0")[0] == (97, "audio/red", {"96/96": None})


def test_what_the_subscriber_accepted_is_read_from_its_answer():
    offer, offered = red.offer_with_red(aiortc_offer(), ["0", "1"])
    # Chromium keeps red (with or without repeating the fmtp); aiortc drops it
    kept = offer.replace("a=setup:actpass", "a=setup:active")
    assert red.accepted_red(kept, offered) == {"0": (63, 96), "1": (63, 96)}
    no_fmtp = kept.replace("a=fmtp:63 96/96\r\n", "")
    assert red.accepted_red(no_fmtp, offered) == {"0": (63, 96), "1": (63, 96)}
    assert red.accepted_red(aiortc_offer(), offered) == {}
    assert red.accepted_red(kept, {"0": (63, 96)}) == {"0": (63, 96)}  # only what was offered
    assert red.accepted_red(kept, {"0": (62, 96)}) == {}
