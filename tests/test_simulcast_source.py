"""The simulcast test publisher (tests/simulcast_source.py) on its own: its offer, its packets,
its answers to PLI, FIR and NACK. No SFU here (tests/test_media_simulcast_sfu.py has it)."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.sdp import SessionDescription

from media import rtp as media_rtp
from media import simulcast as sfu_simulcast
from media.sdp import check_remote
from tests.simulcast_source import (
    LAYERS, REPAIRED_RID_URI, RID_URI, Negotiated, SimulcastSender, _SilentTrack, encode_layers, read_answer,
    rtc_config, simulcast_offer,
)
from tests.vp8_clip import rtp_payload_offset, vp8_payload_is_keyframe, vp8_picture_id

MID_ID, RID_ID, RRID_ID, PT, RTX_PT = 1, 10, 11, 97, 98


def test_the_extension_uris_are_the_sfus():
    """The publisher writes the URIs a browser writes (its own literals); the SFU reads the same."""
    assert (RID_URI, REPAIRED_RID_URI) == (sfu_simulcast.RID_URI, sfu_simulcast.REPAIRED_RID_URI)


async def aiortc_offer() -> tuple[str, str]:
    pc = RTCPeerConnection(rtc_config())
    audio = pc.addTransceiver(_SilentTrack("audio"), direction="sendonly")
    video = pc.addTransceiver(_SilentTrack("video"), direction="sendonly")
    video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                               if c.mimeType.lower() in ("video/vp8", "video/rtx")])
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    assert audio.mid != video.mid
    return sdp, video.mid


def section_lines(sdp: str, mid: str) -> list[str]:
    sections, current = [], []
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            current = []
            sections.append(current)
        current.append(line)
    return next(s for s in sections if f"a=mid:{mid}" in s)


async def test_offer_is_munged_like_chromes():
    sdp, mid = await aiortc_offer()
    munged = simulcast_offer(sdp, mid)
    video = section_lines(munged, mid)
    assert not [line for line in video if line.startswith(("a=ssrc:", "a=ssrc-group:"))]
    assert f"a=extmap:{RID_ID} {RID_URI}" in video
    assert f"a=extmap:{RRID_ID} {REPAIRED_RID_URI}" in video
    assert any(line.endswith("urn:ietf:params:rtp-hdrext:sdes:mid") for line in video)
    rids = [line for line in video if line.startswith("a=rid:")]
    assert rids == ["a=rid:q send", "a=rid:h send", "a=rid:f send"]
    assert [line for line in video if line][-1] == "a=simulcast:send q;h;f"
    # the audio section keeps its SSRC; the SDP still parses and passes the SFU's checks
    audio = next(m for m in SessionDescription.parse(munged).media if m.kind == "audio")
    assert audio.ssrc
    check_remote(munged, "offer", None)
    assert munged.endswith("\r\n")
    parsed = read_answer(munged, mid)  # the same reader works on either side's SDP
    assert (parsed.rid_id, parsed.repaired_id) == (RID_ID, RRID_ID)


def test_answer_reader_finds_rids_and_simulcast():
    answer = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
              "m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\nc=IN IP4 127.0.0.1\r\na=recvonly\r\n"
              f"a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:{RID_ID} {RID_URI}\r\n"
              f"a=extmap:{RRID_ID} {REPAIRED_RID_URI}\r\na=mid:0\r\na=rtcp-mux\r\n"
              "a=rtpmap:97 VP8/90000\r\na=rtpmap:98 rtx/90000\r\na=fmtp:98 apt=97\r\n"
              "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n")
    n = read_answer(answer, "0")
    assert (n.pt, n.rtx_pt, n.mid_id, n.rid_id, n.repaired_id) == (97, 98, 1, RID_ID, RRID_ID)
    assert n.simulcast_answered and n.answer_rids == ["q", "h", "f"]


class Wire:
    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def sendto(self, data: bytes, addr) -> None:
        self.packets.append(data)


def make_sender(loop) -> tuple[SimulcastSender, Wire]:
    negotiated = Negotiated(mid="1", pt=PT, rtx_pt=RTX_PT, mid_id=MID_ID, rid_id=RID_ID, repaired_id=RRID_ID,
                            simulcast_answered=True, answer_rids=["q", "h", "f"])
    sender = SimulcastSender(encode_layers(LAYERS, 1.0), LAYERS, negotiated, loop)
    wire = Wire()
    sender._protect = sender._protect_rtcp = lambda data: data
    sender._sendto, sender._addr = wire.sendto, ("127.0.0.1", 9)
    return sender, wire


def frames_by_ssrc(packets: list[bytes]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for p in packets:
        out.setdefault(int.from_bytes(p[8:12], "big"), []).append(p)
    return out


async def test_three_layers_with_their_own_ssrcs_sequence_numbers_and_rid():
    sender, wire = make_sender(asyncio.get_running_loop())
    for _ in range(20):
        sender._tick()
    streams = frames_by_ssrc(wire.packets)
    assert set(streams) == {s.ssrc for s in sender.layers}
    clips = encode_layers(LAYERS, 1.0)
    for state, clip in zip(sender.layers, clips):
        packets = streams[state.ssrc]
        assert len(packets) == sum(len(chunks) for chunks, _ in clip[:20])
        seqs = [int.from_bytes(p[2:4], "big") for p in packets]
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
        for p in packets:
            assert p[0] == 0x90 and p[1] & 0x7F == PT
            ext = media_rtp.extension_elements(p)
            assert ext[MID_ID] == b"1" and ext[RID_ID] == state.rid.encode()
        firsts = [p[rtp_payload_offset(p):] for p in packets if p[rtp_payload_offset(p)] & 0x10]
        pids = [vp8_picture_id(payload) for payload in firsts]
        assert len(pids) == 20 and all((b - a) & 0x7FFF == 1 for a, b in zip(pids, pids[1:]))
        assert vp8_payload_is_keyframe(firsts[0]) and not any(vp8_payload_is_keyframe(f) for f in firsts[1:])
        assert sum(p[1] >> 7 for p in packets) == 20  # one marker per frame
    # one RTP clock: frame k has the same timestamp in every layer
    stamps = [sorted({int.from_bytes(p[4:8], "big") for p in streams[s.ssrc]}) for s in sender.layers]
    assert stamps[0] == stamps[1] == stamps[2]
    sender.stop()


async def test_pli_and_fir_restart_that_layer_at_its_keyframe_and_nack_is_answered_on_rtx():
    sender, wire = make_sender(asyncio.get_running_loop())
    for _ in range(5):
        sender._tick()
    low, mid, top = sender.layers
    wire.packets.clear()
    sender.handle_rtcp(media_rtp.pack_pli(1234, top.ssrc) + media_rtp.pack_fir(1234, low.ssrc, 1))
    sender._tick()
    firsts = {int.from_bytes(p[8:12], "big"): p[rtp_payload_offset(p):] for p in wire.packets
              if p[rtp_payload_offset(p)] & 0x10}
    assert vp8_payload_is_keyframe(firsts[top.ssrc]) and vp8_payload_is_keyframe(firsts[low.ssrc])
    assert not vp8_payload_is_keyframe(firsts[mid.ssrc])
    assert (low.keyframe_requests, mid.keyframe_requests, top.keyframe_requests) == (1, 0, 1)
    # the PictureID keeps counting through the restart
    assert vp8_picture_id(firsts[top.ssrc]) == (top.picture_id - 1) & 0x7FFF

    original = next(p for p in wire.packets if int.from_bytes(p[8:12], "big") == mid.ssrc)
    seq = int.from_bytes(original[2:4], "big")
    wire.packets.clear()
    sender.handle_rtcp(media_rtp.pack_nack(1234, mid.ssrc, [seq]))
    assert len(wire.packets) == 1
    rtx = wire.packets[0]
    assert int.from_bytes(rtx[8:12], "big") == mid.rtx_ssrc and rtx[1] & 0x7F == RTX_PT
    ext = media_rtp.extension_elements(rtx)
    assert ext[RRID_ID] == b"h" and RID_ID not in ext and ext[MID_ID] == b"1"
    assert media_rtp.unwrap_rtx(rtx, PT, mid.ssrc)[rtp_payload_offset(original):] == original[rtp_payload_offset(original):]

    sender.handle_rtcp(media_rtp.pack_remb(1234, 1_500_000, [low.ssrc, mid.ssrc, top.ssrc]))
    assert sender.remb[-1][1] == 1_500_000
    sender.stop()


async def test_inactive_layers_are_not_sent_and_resume_at_a_keyframe():
    sender, wire = make_sender(asyncio.get_running_loop())
    for _ in range(3):
        sender._tick()
    sender.set_active([True, True, False])
    wire.packets.clear()
    sender._tick()
    assert sender.layers[2].ssrc not in frames_by_ssrc(wire.packets)
    sender.set_active([True, True, True])
    wire.packets.clear()
    sender._tick()
    top = frames_by_ssrc(wire.packets)[sender.layers[2].ssrc]
    assert vp8_payload_is_keyframe(top[0][rtp_payload_offset(top[0]):])
    sender.stop()
