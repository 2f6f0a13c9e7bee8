"""Simulcast (RFC 8853): one video track sent as several encodings ("layers") of the same picture.

A browser publishes its camera as, say, three layers (rids ``q``, ``h``, ``f`` at 1/4, 1/2 and full
resolution), each an RTP stream of its own SSRC, and the SFU forwards each subscriber the one its
tile and its link call for. aiortc knows none of it: this module negotiates it past aiortc (the
offer's ``a=rid`` and ``a=simulcast`` lines answered with ``recv``), and holds the
:class:`SimulcastProducer`, the Producer a router sees for such a track, whose ``layers`` are
ordinary Producers, one per encoding: each keeps its own SSRC (learnt from the RID header
extension), RTX SSRC (learnt from the repaired-RID extension), NACKs, keyframe requests, receive
statistics and sender reports. A DownTrack forwards one layer at a time and switches on a keyframe
of the new one (downtrack.py); which layer, the subscriber's allocator decides (allocation.py).

Layers are numbered in the order of the offer's ``a=simulcast:send`` line, which the client lists
lowest resolution first (docs/protocol.md).
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from .feedback import REMB_FLOOR
from .producer import Producer
from . import rtp

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MAX_LAYERS = 4
_RID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")

# Nominal bitrates of layers 0, 1, 2... (bits/s) until a layer's own is measured.
NOMINAL_BITRATES = (150_000, 500_000, 1_500_000, 2_500_000)
RATE_WINDOW = 1.0  # seconds over which a layer's bitrate and liveness are measured
LIVE_WINDOW = 1.5  # a layer that sent nothing for this long is not live (stopped or paused)
# A layer nobody has received for this long is paused at the publisher (publish_layers), where
# the browser allows it; the lowest stays on (a new subscriber starts from it at once).
UNUSED_PAUSE = 5.0


# ---- SDP ----------------------------------------------------------------------------------------

def _sections(sdp: str) -> tuple[str, list[list[str]]]:
    eol = "\r\n" if "\r\n" in sdp else "\n"
    head, *rest = sdp.split(eol + "m=")
    return eol, [head.split(eol)] + [("m=" + s).split(eol) for s in rest]


def offered_layers(offer: str) -> dict[str, list[str]]:
    """The simulcast layers a publish offer sends, by mid: the rids of its ``a=simulcast:send``
    line (the first of each list of alternatives; a ``~`` paused prefix is ignored), each of
    which must be a send rid declared by ``a=rid``. Sections with fewer than two usable rids, or
    that are not video, are left out."""
    _, sections = _sections(offer)
    found: dict[str, list[str]] = {}
    for lines in sections[1:]:
        if not lines[0].startswith("m=video ") or lines[0].split(" ")[1] == "0":
            continue
        mid = next((line[6:].strip() for line in lines if line.startswith("a=mid:")), None)
        declared = set()
        order: list[str] = []
        for line in lines:
            if line.startswith("a=rid:"):
                parts = line[6:].split()
                if len(parts) >= 2 and parts[1] == "send" and _RID.match(parts[0]):
                    declared.add(parts[0])
            elif line.startswith("a=simulcast:"):
                words = line[12:].split()
                if len(words) >= 2 and words[0] == "send":
                    order = [alt.split(",")[0].lstrip("~") for alt in words[1].split(";")]
        rids = []
        for rid in order:
            if rid in declared and rid not in rids:
                rids.append(rid)
        if mid is not None and len(rids) >= 2:
            found[mid] = rids[:MAX_LAYERS]
    return found


def answer_with_simulcast(answer: str, layers: dict[str, list[str]]) -> str:
    """The publish answer with ``a=rid:<rid> recv`` and ``a=simulcast:recv`` for each mid of
    ``layers`` (from :func:`offered_layers`) that the answer accepted."""
    if not layers:
        return answer
    eol, sections = _sections(answer)
    for lines in sections[1:]:
        if lines[0].split(" ")[1:2] == ["0"]:
            continue
        mid = next((line[6:].strip() for line in lines if line.startswith("a=mid:")), None)
        rids = layers.get(mid)
        if not rids or any(line.startswith("a=simulcast:") for line in lines):
            continue
        while lines and lines[-1] == "":
            lines.pop()
        lines.extend(f"a=rid:{rid} recv" for rid in rids)
        lines.append("a=simulcast:recv " + ";".join(rids))
    out = eol.join(sections[0])
    for lines in sections[1:]:
        out += eol + eol.join(lines)
    return out if out.endswith(eol) else out + eol


# ---- the producer -------------------------------------------------------------------------------

class SimulcastProducer(Producer):
    """The Producer a router sees for a simulcast track; packets arrive at its ``layers``.

    Subscribers bind their DownTracks to it (it lists them, for pauses and closing); each
    DownTrack puts itself on the fan-out of the one layer it forwards. The publisher is allowed
    the full bitrate (``remb_bitrate``): a subscriber's poor link picks it a lower layer, it no
    longer lowers the picture for everyone."""

    def __init__(self, *, rids: list[str], **kwargs) -> None:
        kwargs.update(ssrc=None, rtx_ssrc=None)
        super().__init__(**kwargs)
        layers = []
        for index, rid in enumerate(rids):
            layer = Producer(**kwargs)
            layer.rid = rid
            layer.index = index
            layer.layer_of = self
            layers.append(layer)
        self.layers = tuple(layers)
        self.rids = list(rids)
        # measured per layer: bits/s over the last RATE_WINDOW, and whether it is sending
        self.bitrates = [0] * len(layers)
        self.live = [False] * len(layers)
        self._measured_at: Optional[float] = None
        self._measured_octets = [0] * len(layers)
        self._last_growth = [-1e9] * len(layers)
        # layers active at the publisher (publish_layers), and since when each is unused
        self.active = [True] * len(layers)
        self._unused_since: list[Optional[float]] = [None] * len(layers)
        # called when a subscriber starts waiting for a layer paused at the publisher (the
        # publish connection resumes it at once rather than at its next report)
        self.on_wanted: Optional[Callable[[], None]] = None

    # what the rest of the SFU asks a producer

    def set_codecs(self, codecs: list) -> None:
        super().set_codecs(codecs)
        for layer in self.layers:
            layer.set_codecs(codecs)

    @property
    def pipes(self) -> tuple:
        return tuple(p for layer in self.layers for p in layer.pipes)

    def set_paused(self, paused: bool) -> None:
        for layer in self.layers:
            layer.set_paused(paused)
        super().set_paused(paused)

    def close(self) -> None:
        super().close()
        for layer in self.layers:
            layer.close()

    def set_rtt(self, rtt: float) -> None:
        super().set_rtt(rtt)
        for layer in self.layers:
            layer.set_rtt(rtt)

    def request_keyframe(self, now: Optional[float] = None) -> None:
        for layer in self.layers:
            if layer.ssrc is not None and layer.downtracks:
                layer.request_keyframe(now)

    def subscriber_keyframe_request(self, now: float) -> bool:
        self.request_keyframe(now)
        return True

    def remb_bitrate(self, now: float) -> int:
        return self.max_bitrate

    def remb_due(self, now: float, changed_only: bool = False) -> Optional[bytes]:
        ssrcs = [layer.ssrc for layer in self.layers if layer.ssrc is not None]
        if not ssrcs or now - self._last_remb < 1.0 or changed_only:
            return None
        self._last_remb = now
        self.remb_sent = max(REMB_FLOOR, self.max_bitrate)
        return rtp.pack_remb(self._rtcp_ssrc, self.remb_sent, ssrcs)

    def on_consumer_remb(self, now: float) -> None:
        pass  # a subscriber's estimate picks its layer; it does not lower the publisher's rate

    def report_block(self, local_ntp: int) -> Optional[tuple]:
        return None  # each layer reports for its own SSRC

    def describe(self) -> dict:
        description = super().describe()
        description["layers"] = [layer.rid for layer in self.layers]
        return description

    # measurements (once per interval, whoever asks first)

    def measure(self, now: float) -> None:
        """Refresh ``bitrates`` and ``live`` (each layer's bits/s and whether it is sending)."""
        last = self._measured_at
        if last is not None and now - last < RATE_WINDOW / 2:
            return
        for i, layer in enumerate(self.layers):
            octets = layer.octets + 40 * layer.packets  # with headers, roughly
            if octets != self._measured_octets[i]:
                self._last_growth[i] = now
            if last is not None and now > last:
                rate = (octets - self._measured_octets[i]) * 8 / (now - last)
                self.bitrates[i] = int(rate if not self.bitrates[i] else 0.5 * self.bitrates[i] + 0.5 * rate)
            self._measured_octets[i] = octets
            self.live[i] = now - self._last_growth[i] < LIVE_WINDOW
        self._measured_at = now

    def layer_bitrate(self, index: int) -> int:
        """A layer's bitrate: measured, else its nominal one (never less than what is below it)."""
        measured = self.bitrates[index] if self.live[index] else 0
        nominal = NOMINAL_BITRATES[min(index, len(NOMINAL_BITRATES) - 1)]
        return measured if measured > nominal // 4 else nominal

    def update_active(self, now: float) -> Optional[list[bool]]:
        """The layers to keep active at the publisher: each one somebody receives or waits for
        (or a recording writes: recorder.py), and the lowest; one unused for UNUSED_PAUSE seconds
        is paused. Returns the new list when it changed (for ``publish_layers``), else None."""
        changed = False
        for i, layer in enumerate(self.layers):
            used = i == 0 or bool(layer.downtracks) or bool(layer.pipes) or layer.recorder is not None
            if used:
                self._unused_since[i] = None
                if not self.active[i]:
                    self.active[i] = changed = True
            elif self._unused_since[i] is None:
                self._unused_since[i] = now
            elif self.active[i] and now - self._unused_since[i] >= UNUSED_PAUSE:
                self.active[i] = False
                changed = True
        return list(self.active) if changed else None

    def reset_active(self) -> None:
        """The publisher offered again: it sends every layer until told otherwise."""
        self.active = [True] * len(self.layers)
        self._unused_since = [None] * len(self.layers)

    def want(self, index: int) -> None:
        """A subscriber waits for layer ``index``: resume it now if it is paused at the publisher."""
        if not self.active[index] and self.on_wanted is not None:
            self.on_wanted()

    def usable(self, index: int) -> bool:
        """Whether a subscriber can be switched to a layer: it is sending, or it was paused at
        the publisher and will be resumed when wanted."""
        return self.live[index] or not self.active[index]
