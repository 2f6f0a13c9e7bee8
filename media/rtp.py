"""RTP and RTCP at the byte level: pure functions, no asyncio, no aiortc objects.

Everything here works on ``bytes`` exactly as they leave SRTP. The per-packet functions avoid
building objects: they return plain ints and slices.
"""

from __future__ import annotations

import struct
from typing import Optional

RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
RTP_REWRITE = struct.Struct("!BHII")  # M/PT, sequence, timestamp, SSRC (bytes 1..11)
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_EXT_HEADER = struct.Struct("!HH")
_RTCP_HEADER = struct.Struct("!BBH")

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_RTPFB = 205
RTCP_PSFB = 206
RTCP_XR = 207
XR_RRTR = 4  # receiver reference time (RFC 3611 4.4)
XR_DLRR = 5  # delay since last receiver report (RFC 3611 4.5)
RTCP_RTPFB_TWCC = 15  # transport-wide congestion control feedback
RTCP_PSFB_PLI = 1
RTCP_PSFB_FIR = 4
RTCP_PSFB_APP = 15
RTCP_RTPFB_NACK = 1

ONE_BYTE_PROFILE = 0xBEDE


def seq_newer(a: int, b: int) -> bool:
    """True if 16-bit sequence number ``a`` comes after ``b`` (RFC 1982 arithmetic)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


def header_length(data: bytes) -> int:
    """Length of the fixed header, CSRCs and header extension; -1 if the packet is truncated."""
    n = len(data)
    if n < 12:
        return -1
    b0 = data[0]
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if offset + 4 > n:
            return -1
        offset += 4 + 4 * _U16.unpack_from(data, offset + 2)[0]
    return offset if offset <= n else -1


def payload_end(data: bytes) -> int:
    """Index where the payload ends (padding removed); may be <= header length for padding only."""
    if data[0] & 0x20:
        return len(data) - data[-1]
    return len(data)


def abs_send_time(now: float) -> int:
    """A send time in seconds as the abs-send-time header extension's value: 24 bits, 6.18
    fixed point (wraps every 64 s; receivers use differences only, so any clock will do)."""
    return int(now * 262144.0) & 0xFFFFFF


def extension_elements(data: bytes) -> dict[int, bytes]:
    """The header extension elements of a packet, by id (one-byte and two-byte forms)."""
    b0 = data[0]
    if not b0 & 0x10:
        return {}
    offset = 12 + 4 * (b0 & 0x0F)
    profile, words = _EXT_HEADER.unpack_from(data, offset)
    return parse_extension_block(profile, data[offset + 4 : offset + 4 + 4 * words])


def parse_extension_block(profile: int, block: bytes) -> dict[int, bytes]:
    elements: dict[int, bytes] = {}
    i, n = 0, len(block)
    if profile == ONE_BYTE_PROFILE:
        while i < n:
            b = block[i]
            if b == 0:  # padding
                i += 1
                continue
            ext_id, length = b >> 4, (b & 0x0F) + 1
            if ext_id == 15:
                break
            elements[ext_id] = block[i + 1 : i + 1 + length]
            i += 1 + length
    elif (profile & 0xFFF0) == 0x1000:
        while i + 1 < n:
            ext_id = block[i]
            if ext_id == 0:
                i += 1
                continue
            length = block[i + 1]
            elements[ext_id] = block[i + 2 : i + 2 + length]
            i += 2 + length
    return elements


def build_extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """A one-byte-header extension block (with its 4-byte header) for ids 1..14, 1..16 bytes."""
    if not elements:
        return b""
    body = bytearray()
    for ext_id, value in elements:
        body.append((ext_id << 4) | (len(value) - 1))
        body += value
    body += b"\x00" * (-len(body) % 4)
    return _EXT_HEADER.pack(ONE_BYTE_PROFILE, len(body) // 4) + bytes(body)


def vp8_payload(data: bytes, offset: int, end: int) -> Optional[tuple[bool, bool, int]]:
    """The VP8 payload descriptor (RFC 7741 4.2) at ``data[offset:end]``: ``(start, keyframe,
    payload offset)``; ``start``: the first packet of a frame (S=1, PID=0); ``keyframe``: such a
    packet of a key frame. None if malformed."""
    if end - offset < 2:
        return None
    b = data[offset]
    i = offset + 1
    if b & 0x80:  # X
        x = data[i]
        i += 1
        if x & 0x80:  # I: picture id, 7 or 15 bits
            if i >= end:
                return None
            i += 2 if data[i] & 0x80 else 1
        if x & 0x40:  # L
            i += 1
        if x & 0x30:  # T or K
            i += 1
    if i >= end:
        return None
    start = (b & 0x17) == 0x10
    return start, start and not data[i] & 0x01, i


def vp8_is_keyframe(data: bytes, offset: int, end: int) -> bool:
    """True if the VP8 payload at ``data[offset:end]`` starts a key frame: the first packet of
    partition 0 (S=1, PID=0) whose VP8 payload header has P = 0 (see ``vp8_payload``)."""
    if end - offset < 2 or (data[offset] & 0x17) != 0x10:  # (most packets: not a frame's first)
        return False
    parsed = vp8_payload(data, offset, end)
    return parsed is not None and parsed[1]


def h264_is_keyframe(data: bytes, offset: int, end: int) -> bool:
    """True if the H.264 payload (RFC 6184) carries an IDR slice start or an SPS."""
    if end - offset < 1:
        return False
    nal_type = data[offset] & 0x1F
    if nal_type == 5 or nal_type == 7:
        return True
    if nal_type == 24:  # STAP-A
        i = offset + 1
        while i + 2 < end:
            size = (data[i] << 8) | data[i + 1]
            if size == 0:
                break
            t = data[i + 2] & 0x1F
            if t == 5 or t == 7:
                return True
            i += 2 + size
        return False
    if nal_type == 28:  # FU-A: start fragment of an IDR
        if end - offset < 2:
            return False
        fu = data[offset + 1]
        return bool(fu & 0x80) and (fu & 0x1F) in (5, 7)
    return False


def vp8_keyframe_size(data: bytes, offset: int, end: int) -> Optional[tuple[int, int]]:
    """Width and height from the first packet of a VP8 keyframe (RFC 6386 section 9.1: the
    payload header's 3 bytes, the start code 9d 01 2a, then 14-bit width and height), or None."""
    i = offset + 1
    if data[offset] & 0x80:  # X
        x = data[i]
        i += 1
        if x & 0x80:
            i += 2 if i < end and data[i] & 0x80 else 1
        if x & 0x40:
            i += 1
        if x & 0x30:
            i += 1
    if i + 10 > end or data[i + 3:i + 6] != b"\x9d\x01\x2a":
        return None
    width = (data[i + 6] | (data[i + 7] << 8)) & 0x3FFF
    height = (data[i + 8] | (data[i + 9] << 8)) & 0x3FFF
    return (width, height) if width and height else None


def keyframe_detector(codec_name: str):
    """The keyframe test for a codec name (``VP8``, ``H264``), or None if unknown."""
    name = codec_name.upper()
    if name == "VP8":
        return vp8_is_keyframe
    if name == "H264":
        return h264_is_keyframe
    return None


def unwrap_rtx(data: bytes, payload_type: int, ssrc: int) -> bytes:
    """Turn an RTX packet (RFC 4588) back into the original packet."""
    offset = header_length(data)
    if offset < 0 or payload_end(data) - offset < 2:
        raise ValueError("RTX packet too short")
    osn = _U16.unpack_from(data, offset)[0]
    out = bytearray(data[:offset])
    out += data[offset + 2 :]
    RTP_REWRITE.pack_into(out, 1, (data[1] & 0x80) | payload_type, osn, _U32.unpack_from(data, 4)[0], ssrc)
    return bytes(out)


def wrap_rtx(packet: bytes, payload_type: int, sequence_number: int, ssrc: int) -> bytes:
    """Wrap a packet for retransmission on an RTX stream (RFC 4588)."""
    offset = header_length(packet)
    osn = packet[2:4]
    out = bytearray(packet[:offset])
    RTP_REWRITE.pack_into(out, 1, (packet[1] & 0x80) | payload_type, sequence_number, _U32.unpack_from(packet, 4)[0], ssrc)
    out += osn
    out += packet[offset:]
    return bytes(out)


# RTCP


def iter_rtcp(data: bytes):
    """Yield ``(packet_type, count_or_fmt, body)`` for each packet of a compound RTCP packet."""
    offset, n = 0, len(data)
    while offset + 4 <= n:
        b0, pt, words = _RTCP_HEADER.unpack_from(data, offset)
        end = offset + 4 + 4 * words
        if (b0 >> 6) != 2 or end > n:
            return
        yield pt, b0 & 0x1F, data[offset + 4 : end]
        offset = end


def parse_sender_report(body: bytes) -> tuple[int, int, int, int, int]:
    """``(ssrc, ntp, rtp_timestamp, packet_count, octet_count)`` of an SR body."""
    ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body, 0)
    return ssrc, (ntp_hi << 32) | ntp_lo, rtp_ts, packets, octets


def pack_sender_report(ssrc: int, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> bytes:
    return struct.pack(
        "!BBHIIIIII", 0x80, RTCP_SR, 6, ssrc, (ntp >> 32) & 0xFFFFFFFF, ntp & 0xFFFFFFFF,
        rtp_timestamp & 0xFFFFFFFF, packets & 0xFFFFFFFF, octets & 0xFFFFFFFF,
    )


def pack_receiver_report(ssrc: int, reports: list[tuple[int, int, int, int, int, int, int]]) -> bytes:
    """RR with blocks ``(ssrc, fraction_lost, cumulative_lost, highest_seq, jitter, lsr, dlsr)``."""
    out = bytearray(struct.pack("!BBHI", 0x80 | len(reports), RTCP_RR, 1 + 6 * len(reports), ssrc))
    for source, fraction, lost, highest, jitter, lsr, dlsr in reports:
        lost = max(-(1 << 23), min(lost, (1 << 23) - 1)) & 0xFFFFFF
        out += struct.pack("!IIIIII", source, (fraction << 24) | lost, highest & 0xFFFFFFFF, jitter, lsr, dlsr)
    return bytes(out)


def pack_sdes_cname(ssrc: int, cname: str) -> bytes:
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(text)) + text + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return struct.pack("!BBH", 0x81, RTCP_SDES, len(chunk) // 4) + chunk


def pack_sdes_cnames(ssrcs: list[int], cname: str) -> bytes:
    """One SDES packet with a CNAME chunk per SSRC (at most 31)."""
    text = cname.encode()[:255]
    chunks = b""
    for ssrc in ssrcs:
        chunk = struct.pack("!IBB", ssrc, 1, len(text)) + text + b"\x00"
        chunks += chunk + b"\x00" * (-len(chunk) % 4)
    return struct.pack("!BBH", 0x80 | len(ssrcs), RTCP_SDES, len(chunks) // 4) + chunks


REPORT_COMPOUND_BYTES = 1100  # RTCP bytes per compound packet before SRTCP (room for its trailer)


def pack_report_compounds(reports: list[tuple[int, bytes]], cname: str,
                          max_bytes: int = REPORT_COMPOUND_BYTES) -> list[bytes]:
    """Sender reports ``(ssrc, SR packet)`` of one connection as few compound RTCP packets as
    fit in ``max_bytes`` each: the SRs, then one SDES with a CNAME chunk per SSRC (RFC 3550
    6.1; several SRs in one compound as RFC 8108 describes). One SRTCP protect and one send per
    compound instead of per stream: a subscriber of 14 publishers has 28 streams."""
    cname_bytes = len(cname.encode()[:255])
    chunk_bytes = (6 + cname_bytes + 1 + 3) // 4 * 4
    packets, batch, size = [], [], 4  # 4: the SDES header
    for ssrc, report in reports:
        if batch and (size + len(report) + chunk_bytes > max_bytes or len(batch) == 31):
            packets.append(b"".join(r for _, r in batch) + pack_sdes_cnames([s for s, _ in batch], cname))
            batch, size = [], 4
        batch.append((ssrc, report))
        size += len(report) + chunk_bytes
    if batch:
        packets.append(b"".join(r for _, r in batch) + pack_sdes_cnames([s for s, _ in batch], cname))
    return packets


def pack_xr_rrtr(ssrc: int, ntp: int) -> bytes:
    """An XR packet with a receiver reference time block: a sender that receives it answers
    with a DLRR block, which gives a receive-only party the round trip (RFC 3611 4.4-4.5)."""
    return struct.pack("!BBHIBBHII", 0x80, RTCP_XR, 4, ssrc, XR_RRTR, 0, 2,
                       (ntp >> 32) & 0xFFFFFFFF, ntp & 0xFFFFFFFF)


def parse_xr_rrtr(body: bytes) -> tuple[int, int] | None:
    """``(sender ssrc, NTP time)`` of the first receiver reference time block in an XR body."""
    offset, n = 4, len(body)
    while offset + 4 <= n:
        end = offset + 4 + 4 * ((body[offset + 2] << 8) | body[offset + 3])
        if end > n:
            return None
        if body[offset] == XR_RRTR and end - offset >= 12:
            high, low = struct.unpack_from("!II", body, offset + 4)
            return _U32.unpack_from(body, 0)[0], (high << 32) | low
        offset = end
    return None


def pack_xr_dlrr(sender_ssrc: int, blocks: list[tuple[int, int, int]]) -> bytes:
    """An XR packet with one DLRR block: ``(receiver ssrc, last RR, delay since it)`` per sub-block."""
    body = b"".join(struct.pack("!III", ssrc, lrr & 0xFFFFFFFF, dlrr & 0xFFFFFFFF) for ssrc, lrr, dlrr in blocks)
    return struct.pack("!BBHIBBH", 0x80, RTCP_XR, 2 + len(body) // 4, sender_ssrc, XR_DLRR, 0,
                       len(body) // 4) + body


def parse_xr_dlrr(body: bytes) -> list[tuple[int, int, int]]:
    """``(receiver ssrc, last RR, delay since last RR)`` of every DLRR sub-block in an XR body."""
    out = []
    offset, n = 4, len(body)
    while offset + 4 <= n:
        block_type = body[offset]
        end = offset + 4 + 4 * ((body[offset + 2] << 8) | body[offset + 3])
        if end > n:
            break
        if block_type == XR_DLRR:
            for sub in range(offset + 4, end - 11, 12):
                out.append(struct.unpack_from("!III", body, sub))
        offset = end
    return out


def pack_bye(ssrc: int) -> bytes:
    return struct.pack("!BBHI", 0x81, RTCP_BYE, 1, ssrc)


def pack_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80 | RTCP_PSFB_PLI, RTCP_PSFB, 2, sender_ssrc, media_ssrc)


def pack_remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    exponent = 0
    mantissa = bitrate
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exponent += 1
    fci = b"REMB" + struct.pack("!BBH", len(ssrcs), (exponent << 2) | (mantissa >> 16), mantissa & 0xFFFF)
    fci += b"".join(_U32.pack(s) for s in ssrcs)
    words = 2 + len(fci) // 4
    return struct.pack("!BBHII", 0x80 | RTCP_PSFB_APP, RTCP_PSFB, words, sender_ssrc, 0) + fci


def pack_nack(sender_ssrc: int, media_ssrc: int, sequence_numbers: list[int]) -> bytes:
    """A generic NACK (RFC 4585 6.2.1): ``(PID, BLP)`` pairs, each PID followed by up to 16."""
    fci = bytearray()
    i, n = 0, len(sequence_numbers)
    while i < n:
        pid = sequence_numbers[i]
        blp = 0
        i += 1
        while i < n:
            distance = (sequence_numbers[i] - pid) & 0xFFFF
            if not 0 < distance <= 16:
                break
            blp |= 1 << (distance - 1)
            i += 1
        fci += struct.pack("!HH", pid, blp)
    words = 2 + len(fci) // 4
    return struct.pack("!BBHII", 0x80 | RTCP_RTPFB_NACK, RTCP_RTPFB, words, sender_ssrc, media_ssrc) + bytes(fci)


def parse_nack(body: bytes, limit: int = 1 << 16) -> list[int]:
    """Sequence numbers asked for by a NACK body (after the RTCP header), at most ``limit``."""
    lost: list[int] = []
    for offset in range(8, len(body) - 3, 4):
        pid, blp = struct.unpack_from("!HH", body, offset)
        lost.append(pid)
        for bit in range(16):
            if blp & (1 << bit):
                lost.append((pid + bit + 1) & 0xFFFF)
        if len(lost) >= limit:
            return lost[:limit]
    return lost


def parse_remb(body: bytes) -> tuple[int, list[int]] | None:
    """``(bitrate, ssrcs)`` of a REMB body (PSFB fmt 15, after the RTCP header), or None."""
    if len(body) < 16 or body[8:12] != b"REMB":
        return None
    count, b1, mantissa_lo = struct.unpack_from("!BBH", body, 12)
    bitrate = (((b1 & 0x03) << 16) | mantissa_lo) << (b1 >> 2)
    ssrcs = [_U32.unpack_from(body, 16 + 4 * i)[0] for i in range(count) if 20 + 4 * i <= len(body)]
    return bitrate, ssrcs


def pack_fir(sender_ssrc: int, media_ssrc: int, sequence_number: int) -> bytes:
    """A FIR (RFC 5104 4.3.1): media SSRC 0 in the common header, the target in the FCI."""
    return struct.pack("!BBHIIIB3x", 0x80 | RTCP_PSFB_FIR, RTCP_PSFB, 4, sender_ssrc, 0, media_ssrc,
                       sequence_number & 0xFF)
