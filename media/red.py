"""RED for Opus (RFC 2198 ``audio/red``, as Chromium and LiveKit use it): the payload format and
the SDP munging that negotiates it past aiortc, which knows no ``red`` codec. Pure functions.

A RED payload is a list of block headers, then the blocks in the same order. Each redundant
block's header is 4 bytes: F=1 and the block's payload type (1 byte), a 14-bit timestamp offset
(how much older than the packet's timestamp the block is) and a 10-bit block length; the last
header is 1 byte, F=0 and the primary block's payload type, and the primary block (the packet's
own frame) is the rest of the payload. Chromium sends one redundant block (the previous packet's
frame): the SDP says so with ``a=fmtp:63 111/111`` (one payload type per encoding).

Adding ``red`` to aiortc's global ``aiortc.codecs.CODECS`` would make every aiortc peer in the
process (test clients too) negotiate it and fail to decode it, so the SFU rewrites SDP text
instead: the publish answer gets red first (so the browser sends RED), the subscribe offer offers
red before Opus for consumers of a RED producer, and the subscriber's answer is read for whether
it kept red (aiortc's ``setRemoteDescription`` drops codecs it does not know).
"""

from __future__ import annotations

from typing import Iterable, Optional

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

RED_MIME = "audio/red"
RED_CLOCK_RATE = 48000
PREFERRED_PT = 63  # Chromium's; any free dynamic payload type will do
MAX_RECOVERED = 4  # lost packets rebuilt from one packet's redundant blocks, at most


def red_codec(payload_type: int) -> RTCRtpCodecParameters:
    """The codec a Producer is told about (with aiortc's negotiated ones) when its publisher
    sends RED under ``payload_type``."""
    return RTCRtpCodecParameters(mimeType=RED_MIME, clockRate=RED_CLOCK_RATE, channels=2,
                                 payloadType=payload_type)


# payload


def primary(data: bytes, start: int, end: int) -> Optional[tuple[int, int]]:
    """The primary block of the RED payload ``data[start:end]``: ``(payload type, offset)``; it
    runs to ``end``. None if the payload is malformed: a header runs past the payload, the
    redundant blocks' lengths reach past it, or the primary block is empty."""
    i = start
    total = 0
    while i < end:
        b = data[i]
        if b < 0x80:
            first = i + 1 + total
            return (b, first) if first < end else None
        if i + 4 > end:
            return None
        total += ((data[i + 2] & 0x03) << 8) | data[i + 3]
        i += 4
    return None


def blocks(data: bytes, start: int, end: int) -> Optional[list[tuple[int, int, int, int]]]:
    """Every block of the RED payload ``data[start:end]`` as ``(payload type, timestamp offset,
    start, end)``, in the payload's order: redundant blocks first (oldest first), the primary
    last (offset 0). None if malformed (as :func:`primary`)."""
    headers = []
    i = start
    while True:
        if i >= end:
            return None
        b = data[i]
        if b < 0x80:
            headers.append((b, 0, -1))
            i += 1
            break
        if i + 4 > end:
            return None
        headers.append((b & 0x7F, (data[i + 1] << 6) | (data[i + 2] >> 2), ((data[i + 2] & 0x03) << 8) | data[i + 3]))
        i += 4
    result = []
    for pt, ts_offset, length in headers:
        stop = end if length < 0 else i + length
        if stop > end or (length < 0 and stop <= i):
            return None
        result.append((pt, ts_offset, i, stop))
        i = stop
    return result


def set_block_pt(data: bytes, start: int, end: int, from_pt: int, to_pt: int) -> Optional[bytes]:
    """The RED payload ``data[start:end]`` with every block's payload type ``from_pt`` (the
    publisher's Opus) written as ``to_pt`` (the subscriber's); None if malformed (as
    :func:`primary`) or if a block carries another payload type (one the subscriber was not
    offered)."""
    i = start
    total = 0
    while i < end:
        b = data[i]
        if (b & 0x7F) != from_pt:
            return None
        if b < 0x80:
            if i + 1 + total >= end:
                return None
            if from_pt == to_pt:
                return data[start:end]
            header = bytearray(data[start:i + 1])
            for j in range(0, i - start, 4):  # the redundant blocks' 4-byte headers
                header[j] = 0x80 | to_pt
            header[i - start] = to_pt
            return bytes(header) + data[i + 1:end]
        if i + 4 > end:
            return None
        total += ((data[i + 2] & 0x03) << 8) | data[i + 3]
        i += 4
    return None


def redundant_for_gap(data: bytes, start: int, end: int, missing: int) -> list[tuple[int, int, int, bytes]]:
    """What a packet's redundant blocks hold of the ``missing`` packets just before it (the
    newest redundant block is the packet before, the one before it the packet before that):
    ``(packets back, payload type, timestamp offset, payload)``, oldest first, at most
    ``MAX_RECOVERED``; empty blocks and a malformed payload give nothing."""
    parsed = blocks(data, start, end)
    if not parsed or missing <= 0:
        return []
    redundant = parsed[:-1]
    count = min(missing, MAX_RECOVERED, len(redundant))
    found = []
    for back in range(count, 0, -1):
        pt, ts_offset, s, e = redundant[-back]
        if e > s:
            found.append((back, pt, ts_offset, data[s:e]))
    return found


def pack(primary_pt: int, primary_payload: bytes, redundant: Iterable[tuple[int, int, bytes]] = ()) -> bytes:
    """A RED payload: ``redundant`` blocks ``(payload type, timestamp offset, payload)``, oldest
    first, then the primary block (tests craft publishers' packets with it)."""
    redundant = list(redundant)
    header = bytearray()
    for pt, ts_offset, payload in redundant:
        if not (0 <= ts_offset < 1 << 14 and len(payload) < 1 << 10):
            raise ValueError("timestamp offset or block length out of range")
        length = len(payload)
        header += bytes((0x80 | pt, ts_offset >> 6, ((ts_offset & 0x3F) << 2) | (length >> 8), length & 0xFF))
    header.append(primary_pt & 0x7F)
    return bytes(header) + b"".join(p for _, _, p in redundant) + primary_payload


# SDP


def _split(sdp: str) -> tuple[str, list[str], list[list[str]]]:
    eol = "\r\n" if "\r\n" in sdp else "\n"
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    session: list[str] = []
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    return eol, session, sections


def _join(eol: str, session: list[str], sections: list[list[str]]) -> str:
    return eol.join(session + [line for section in sections for line in section]) + eol


class _Section:
    """The parts of one media section that RED negotiation needs."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        m = lines[0].split()
        self.kind = m[0][2:] if m else ""
        self.port = m[1] if len(m) > 1 else "0"
        self.formats = m[3:]
        self.mid = None
        self.rtpmap: dict[str, str] = {}
        self.fmtp: dict[str, str] = {}
        for line in lines[1:]:
            if line.startswith("a=mid:"):
                self.mid = line[6:].strip()
            elif line.startswith("a=rtpmap:"):
                pt, _, encoding = line[9:].partition(" ")
                self.rtpmap[pt] = encoding.strip().lower()
            elif line.startswith("a=fmtp:"):
                pt, _, value = line[7:].partition(" ")
                self.fmtp[pt] = value.strip()

    @property
    def active(self) -> bool:
        return self.kind == "audio" and self.port != "0" and self.mid is not None

    def pts(self, encoding: str) -> list[str]:
        """The payload types of an encoding name (``opus``, ``red``) at 48 kHz, in m-line order."""
        return [pt for pt in self.formats if self.rtpmap.get(pt, "").startswith(f"{encoding}/48000")]

    def red(self, require_fmtp: bool) -> Optional[tuple[int, int]]:
        """(red PT, Opus PT) if the section carries red over one of its Opus payload types."""
        opus = self.pts("opus")
        for red_pt in self.pts("red"):
            value = self.fmtp.get(red_pt)
            if value is None:
                if not require_fmtp and len(opus) == 1:
                    return int(red_pt), int(opus[0])
                continue
            names = set(value.split("/"))
            if len(names) == 1 and next(iter(names)) in opus:
                return int(red_pt), int(next(iter(names)))
        return None

    def codec_end(self, pt: str) -> int:
        """The index after the last line describing ``pt`` (rtpmap, rtcp-fb, fmtp)."""
        last = 0
        prefixes = (f"a=rtpmap:{pt} ", f"a=rtcp-fb:{pt} ", f"a=fmtp:{pt} ")
        for index, line in enumerate(self.lines):
            if line.startswith(prefixes):
                last = index
        return last + 1

    def index_of(self, prefix: str) -> int:
        return next((i for i, line in enumerate(self.lines) if line.startswith(prefix)), len(self.lines))

    def put_first(self, pt: str, before: str) -> None:
        """List ``pt`` in the m-line right before ``before``."""
        formats = [f for f in self.formats if f != pt]
        formats.insert(formats.index(before), pt)
        m = self.lines[0].split()
        self.lines[0] = " ".join(m[:3] + formats)
        self.formats = formats

    def add_red(self, red_pt: int, opus_pt: int, blocks: int = 2) -> None:
        """red ``red_pt`` over ``opus_pt`` before Opus: in the m-line and in the attributes."""
        self.put_first(str(red_pt), str(opus_pt))
        at = self.index_of(f"a=rtpmap:{opus_pt} ")
        self.lines[at:at] = [f"a=rtpmap:{red_pt} red/48000/2", f"a=fmtp:{red_pt} " + "/".join([str(opus_pt)] * blocks)]
        self.rtpmap[str(red_pt)] = "red/48000/2"

    def want_opus(self, **wanted: str) -> None:
        """Every Opus payload type's fmtp with these parameters (``useinbandfec="1"``...), set or
        replaced, the others kept."""
        for pt in self.pts("opus"):
            value = self.fmtp.get(pt)
            params = [p.strip() for p in (value or "").split(";") if p.strip()]
            for name, setting in wanted.items():
                pair = f"{name}={setting}"
                if any(p.split("=", 1)[0].lower() == name for p in params):
                    params = [pair if p.split("=", 1)[0].lower() == name else p for p in params]
                else:
                    params.append(pair)
            value_new = ";".join(params)
            if value is None:
                self.lines.insert(self.codec_end(pt), f"a=fmtp:{pt} {value_new}")
            else:
                self.lines[self.index_of(f"a=fmtp:{pt} ")] = f"a=fmtp:{pt} {value_new}"
            self.fmtp[pt] = value_new


def red_by_mid(sdp: str, require_fmtp: bool = True) -> dict[str, tuple[int, int]]:
    """``mid -> (red PT, Opus PT)`` for each audio section of ``sdp`` that lists ``red/48000/2``
    over an Opus payload type of the same section (its fmtp, e.g. ``111/111``, naming that Opus
    payload type only; without ``require_fmtp`` a red without fmtp counts too, over the
    section's one Opus). Sections that are rejected (port 0) or without a mid are left out."""
    found = {}
    for lines in _split(sdp)[2]:
        section = _Section(lines)
        if section.active:
            red = section.red(require_fmtp)
            if red is not None:
                found[section.mid] = red
    return found


def answer_with_red(answer: str, offered: dict[str, tuple[int, int]],
                    dtx: bool = False) -> tuple[str, dict[str, tuple[int, int]]]:
    """The publish answer with, in each audio section whose mid ``offered`` names (from
    :func:`red_by_mid` of the offer) and whose answer kept that Opus payload type, red first
    with the offer's payload type (a browser sends the first codec of the answer); and every
    Opus fmtp with ``useinbandfec=1`` (a browser sends Opus in-band FEC when the remote
    description asks for it) and, with ``dtx``, ``usedtx=1`` (a silent microphone then sends a
    packet every 400 ms instead of 50 a second). Returns the text and the mids that got red."""
    eol, session, sections = _split(answer)
    added = {}
    for lines in sections:
        section = _Section(lines)
        if not section.active:
            continue
        red = offered.get(section.mid)
        if red is not None and str(red[1]) in section.pts("opus") and str(red[0]) not in section.formats:
            section.add_red(*red)
            added[section.mid] = red
        section.want_opus(useinbandfec="1", **({"usedtx": "1"} if dtx else {}))
    return _join(eol, session, sections), added


def _free_pt(sections: list[list[str]]) -> int:
    used = set()
    for lines in sections:
        used.update(lines[0].split()[3:])
    for pt in [PREFERRED_PT, *range(96, 128), *range(35, 63)]:
        if str(pt) not in used:
            return pt
    raise ValueError("no free payload type")


def offer_with_red(offer: str, mids: Iterable[str]) -> tuple[str, dict[str, tuple[int, int]]]:
    """The subscribe offer with red offered before Opus in the audio sections of ``mids`` (the
    consumers of RED producers), its fmtp naming the Opus payload type of that section (the one
    aiortc assigned, read from the text); one red payload type for the whole offer, unused by any
    section (they are bundled). Returns the text and ``mid -> (red PT, Opus PT)`` offered."""
    mids = set(mids)
    if not mids:
        return offer, {}
    eol, session, sections = _split(offer)
    red_pt = None
    offered = {}
    for lines in sections:
        section = _Section(lines)
        if not section.active or section.mid not in mids or section.pts("red"):
            continue
        opus = section.pts("opus")
        if not opus:
            continue
        if red_pt is None:
            red_pt = _free_pt(sections)
        section.add_red(red_pt, int(opus[0]))
        offered[section.mid] = (red_pt, int(opus[0]))
    if not offered:
        return offer, {}
    return _join(eol, session, sections), offered


def accepted_red(answer: str, offered: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Of the red ``offered`` (mid -> (red PT, Opus PT)), what the subscriber's answer kept:
    the same red payload type over the same Opus payload type (an fmtp is not required)."""
    answered = red_by_mid(answer, require_fmtp=False)
    return {mid: red for mid, red in answered.items() if offered.get(mid) == red}
