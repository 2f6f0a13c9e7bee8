"""Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

A publisher's browser numbers every packet it sends on the connection (the transport-wide
sequence number header extension) and estimates its own uplink from the arrival times the
receiver reports back (RTCP RTPFB, FMT 15): Chromium's send-side estimator then drives its
bitrate (and, with simulcast, its layers) from the link it really has, not from a REMB value.
aiortc has none of this, so the SFU writes it: :class:`TransportFeedback` records arrivals on the
receive path (one list append per packet) and builds the feedback packets on a timer.

Packet layout (RFC draft section 3.1): base sequence number, packet status count, a 24-bit
reference time in multiples of 64 ms, a feedback packet count; then status chunks (run-length,
or vectors of 14 one-bit or 7 two-bit symbols: 0 not received, 1 received with a delta of
0..63.75 ms, 2 received with a larger or negative delta), then one receive delta per received
packet in 250 us units (1 byte for symbol 1, 2 signed bytes for symbol 2).
"""

from __future__ import annotations

import struct

from . import rtp

TWCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
FEEDBACK_INTERVAL = 0.1  # seconds between feedback packets (libwebrtc's default send interval)
MAX_STATUSES = 400  # packets reported per feedback packet (keeps it well under the MTU)
MAX_PENDING = 5000  # arrivals kept between two feedbacks (a flood is cut, not stored)

NOT_RECEIVED, SMALL, LARGE = 0, 1, 2
_HEADER = struct.Struct("!BBHIIHHI")


def _unwrap(seq: int, last: int) -> int:
    """``seq`` (16 bits) as the extended number closest to ``last``."""
    delta = (seq - last) & 0xFFFF
    return last + delta if delta < 0x8000 else last + delta - 0x10000


def encode_chunks(symbols: list[int]) -> bytes:
    """Status chunks for ``symbols``: a run of 7 or more equal symbols as one run-length chunk,
    otherwise a vector chunk (14 one-bit symbols when none is 2, else 7 two-bit ones); the last
    vector may be partly filled (the status count says where it ends)."""
    out = bytearray()
    i, n = 0, len(symbols)
    while i < n:
        symbol = symbols[i]
        run = 1
        while i + run < n and symbols[i + run] == symbol and run < 0x1FFF:
            run += 1
        if run >= 7:
            out += struct.pack("!H", (symbol << 13) | run)
            i += run
            continue
        window = symbols[i:i + 14]
        if LARGE not in window:
            bits = 0
            for k, s in enumerate(window):
                bits |= s << (13 - k)
            out += struct.pack("!H", 0x8000 | bits)
            i += len(window)
        else:
            window = symbols[i:i + 7]
            bits = 0
            for k, s in enumerate(window):
                bits |= s << (12 - 2 * k)
            out += struct.pack("!H", 0xC000 | bits)
            i += len(window)
    return bytes(out)


def pack_feedback(sender_ssrc: int, media_ssrc: int, base_seq: int, reference_64ms: int, count: int,
                  received: list[tuple[int, int]], total: int) -> bytes:
    """One feedback packet. ``received``: ``(offset from base, arrival in 250 us units since
    the reference time)`` in sequence order; ``total``: packets covered from the base."""
    symbols = [NOT_RECEIVED] * total
    deltas = bytearray()
    previous = 0
    for offset, arrival in received:
        delta = arrival - previous
        previous = arrival
        if 0 <= delta <= 0xFF:
            symbols[offset] = SMALL
            deltas.append(delta)
        else:
            symbols[offset] = LARGE
            deltas += struct.pack("!h", delta)
    body = encode_chunks(symbols) + bytes(deltas)
    padding = -len(body) % 4
    if padding:
        body += b"\x00" * (padding - 1) + bytes([padding])
    words = (_HEADER.size + len(body)) // 4 - 1
    b0 = 0x80 | (0x20 if padding else 0) | rtp.RTCP_RTPFB_TWCC
    header = _HEADER.pack(b0, rtp.RTCP_RTPFB, words, sender_ssrc, media_ssrc, base_seq & 0xFFFF,
                          total, ((reference_64ms & 0xFFFFFF) << 8) | (count & 0xFF))
    return header + body


def parse_feedback(body: bytes) -> tuple[int, list[tuple[int, float | None]]]:
    """``(base sequence number, [(sequence number, arrival in seconds since the reference
    epoch, or None if not received)])`` of a feedback body (after the common header): what a
    sender's estimator reads. Raises ValueError on a malformed packet."""
    if len(body) < 16:
        raise ValueError("transport feedback too short")
    base, count, ref_and_count = struct.unpack_from("!HHI", body, 8)
    reference = ref_and_count >> 8
    if reference & 0x800000:
        reference -= 0x1000000
    symbols: list[int] = []
    offset = 16
    while len(symbols) < count:
        if offset + 2 > len(body):
            raise ValueError("transport feedback chunks truncated")
        chunk = struct.unpack_from("!H", body, offset)[0]
        offset += 2
        if not chunk & 0x8000:
            symbols += [(chunk >> 13) & 3] * (chunk & 0x1FFF)
        elif not chunk & 0x4000:
            symbols += [(chunk >> (13 - k)) & 1 for k in range(14)]
        else:
            symbols += [(chunk >> (12 - 2 * k)) & 3 for k in range(7)]
    symbols = symbols[:count]
    time_250us = reference * 256  # 64 ms = 256 units of 250 us
    out: list[tuple[int, float | None]] = []
    for k, symbol in enumerate(symbols):
        seq = (base + k) & 0xFFFF
        if symbol == NOT_RECEIVED:
            out.append((seq, None))
            continue
        if symbol == SMALL:
            if offset + 1 > len(body):
                raise ValueError("transport feedback deltas truncated")
            time_250us += body[offset]
            offset += 1
        elif symbol == LARGE:
            if offset + 2 > len(body):
                raise ValueError("transport feedback deltas truncated")
            time_250us += struct.unpack_from("!h", body, offset)[0]
            offset += 2
        else:
            raise ValueError("reserved status symbol")
        out.append((seq, time_250us / 4000.0))
    return base, out


class TransportFeedback:
    """Arrival times of one connection's packets by transport-wide sequence number, reported in
    feedback packets. ``record`` is on the receive path; ``build`` runs on a timer.

    Each packet is reported once: the next feedback starts where the last one ended (a packet
    arriving after its number was reported as lost stays lost to the sender, as in libwebrtc).
    Times are kept relative to ``epoch`` (the first arrival), in 250 us units."""

    __slots__ = ("ext_id", "sender_ssrc", "media_ssrc", "_arrivals", "_epoch", "_last", "_next",
                 "_count", "packets", "feedbacks", "dropped")

    def __init__(self, ext_id: int, sender_ssrc: int) -> None:
        self.ext_id = ext_id
        self.sender_ssrc = sender_ssrc
        self.media_ssrc = 0
        self._arrivals: list[tuple[int, float]] = []
        self._epoch: float | None = None
        self._last: int | None = None  # highest extended sequence number seen
        self._next: int | None = None  # first extended number not yet reported
        self._count = 0  # feedback packet count (8 bits on the wire)
        self.packets = 0
        self.feedbacks = 0
        self.dropped = 0

    def record(self, seq: int, now: float) -> None:
        arrivals = self._arrivals
        if len(arrivals) < MAX_PENDING:
            arrivals.append((seq, now))
        else:
            self.dropped += 1

    def build(self) -> list[bytes]:
        """Feedback packets for everything recorded since the last call."""
        arrivals = self._arrivals
        if not arrivals:
            return []
        self._arrivals = []
        if self._epoch is None:
            self._epoch = arrivals[0][1]
        epoch = self._epoch
        last = self._last if self._last is not None else arrivals[0][0]
        by_seq: dict[int, int] = {}
        for seq, when in arrivals:
            ext = _unwrap(seq, last)
            if ext > last:
                last = ext
            if ext not in by_seq:
                by_seq[ext] = max(0, int((when - epoch) * 4000.0))
        self._last = last
        first = min(by_seq)
        if self._next is not None:
            if self._next - first > 0x4000:  # far behind what was reported: a restart
                self._next = None
            else:
                first = max(first, self._next)
        reported = sorted(s for s in by_seq if s >= first)
        if not reported:
            return []
        packets = []
        start = first
        end = reported[-1]
        index = 0
        while start <= end:
            stop = min(end, start + MAX_STATUSES - 1)
            received = []
            while index < len(reported) and reported[index] <= stop:
                received.append(reported[index])
                index += 1
            if received:
                # the reference time: the first arrival, floored to 64 ms; deltas must fit in
                # 16 signed bits (8 s): a packet that breaks it ends this feedback
                reference = by_seq[received[0]] // 256
                items = []
                previous = reference * 256
                cut = None
                for seq in received:
                    arrival = by_seq[seq]
                    if not -0x8000 <= arrival - previous <= 0x7FFF:
                        cut = seq
                        break
                    items.append((seq - start, arrival - reference * 256))
                    previous = arrival
                if cut is not None:
                    index -= len(received) - len(items)
                    stop = cut - 1
                packets.append(pack_feedback(self.sender_ssrc, self.media_ssrc, start, reference,
                                             self._count, items, stop - start + 1))
                self._count = (self._count + 1) & 0xFF
            start = stop + 1
        self._next = end + 1
        self.packets += len(by_seq)
        self.feedbacks += len(packets)
        return packets


def transport_sequence(data: bytes, ext: int, ext_id: int) -> int:
    """The transport-wide sequence number in a one- or two-byte header extension block at
    ``ext`` (as the receive path found it), or -1."""
    profile = (data[ext] << 8) | data[ext + 1]
    i = ext + 4
    end = i + 4 * ((data[ext + 2] << 8) | data[ext + 3])
    if end > len(data):
        return -1
    if profile == rtp.ONE_BYTE_PROFILE:
        while i < end:
            b = data[i]
            if b == 0:
                i += 1
                continue
            element = b >> 4
            if element == ext_id:
                return (data[i + 1] << 8) | data[i + 2] if i + 2 < end else -1
            if element == 15:
                return -1
            i += 2 + (b & 0x0F)
        return -1
    if (profile & 0xFFF0) == 0x1000:  # two-byte header
        while i + 1 < end:
            element = data[i]
            if element == 0:
                i += 1
                continue
            length = data[i + 1]
            if element == ext_id:
                return (data[i + 2] << 8) | data[i + 3] if length >= 2 and i + 3 < end else -1
            i += 2 + length
    return -1
