"""Checking remote SDP before aiortc sees it, so that a bad description never half-applies."""

from __future__ import annotations

from aiortc import sdp as aiortc_sdp
from aiortc.codecs import CODECS
from aiortc.rtcpeerconnection import filter_preferred_codecs, find_common_codecs, is_codec_compatible
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from .errors import SdpError
from .ice import filter_remote_candidates

MAX_SDP_LENGTH = 100_000
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MEDIA_KINDS = ("audio", "video")


def codec_capability(codec) -> RTCRtpCodecCapability:
    """The capability (as ``setCodecPreferences`` wants it) for negotiated codec parameters."""
    return RTCRtpCodecCapability(
        mimeType=codec.mimeType, clockRate=codec.clockRate, channels=codec.channels,
        parameters=dict(codec.parameters),
    )


def rtx_capability() -> RTCRtpCodecCapability:
    return RTCRtpCodecCapability(mimeType="video/rtx", clockRate=90000)


def forwardable_preferences(kind: str, video_codecs: list[str]) -> list[RTCRtpCodecCapability]:
    """What a publisher may send us: Opus; VP8 and/or H.264 (constrained baseline, mode 1)."""
    wanted = ["opus"] if kind == "audio" else [name.lower() for name in video_codecs]
    prefs = []
    for name in wanted:
        for codec in CODECS[kind]:
            if codec.name.lower() == name:
                prefs.append(codec_capability(codec))
    if kind == "video":
        prefs.append(rtx_capability())
    return prefs


def in_offer_order(prefs: list[RTCRtpCodecCapability], offered: list) -> list[RTCRtpCodecCapability]:
    """``prefs`` reordered as the offer lists them (a codec the offer lacks goes last, RTX stays
    last): the answer's first codec is what the publisher sends, so this lets the publisher
    choose among the codecs we forward (Safari lists H.264 first; a client can prefer one with
    ``setCodecPreferences``)."""
    media = [c for c in offered if c.mimeType.lower() != "video/rtx" and c.mimeType.lower() != "audio/rtx"]

    def position(pref: RTCRtpCodecCapability) -> int:
        if pref.mimeType.lower().endswith("/rtx"):
            return len(media) + 1
        return next((i for i, c in enumerate(media) if is_codec_compatible(pref, c)), len(media))

    return sorted(prefs, key=position)  # stable: the server's order among equals


def check_remote(text, kind: str, allowed, preferences: dict | None = None):
    """Parse and check a remote description of ``kind`` (offer/answer); return the SDP text
    with disallowed candidates removed and the parsed description. Raises :class:`SdpError`."""
    if not isinstance(text, str) or not text.strip():
        raise SdpError("SDP must be a non-empty string")
    if len(text) > MAX_SDP_LENGTH:
        raise SdpError("SDP too long")
    if allowed is not None:
        text = filter_remote_candidates(text, allowed)
    try:
        description = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # the aiortc parser raises whatever it trips on
        raise SdpError(f"unparsable SDP: {exc}") from None
    if not description.media:
        raise SdpError("SDP has no media sections")
    bundle = next((g for g in description.group if g.semantic == "BUNDLE"), None)
    mids = []
    for media in description.media:
        if media.kind not in MEDIA_KINDS:
            raise SdpError(f"unsupported media kind {media.kind!r}")
        mid = media.rtp.muxId
        if not mid:
            raise SdpError("media section without a=mid")
        if mid in mids:
            raise SdpError(f"duplicate mid {mid!r}")
        mids.append(mid)
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise SdpError("ICE username fragment or password is missing")
        if media.dtls is None or not media.dtls.fingerprints:
            raise SdpError("DTLS fingerprint is missing")
        if kind == "answer" and media.dtls.role not in ("client", "server"):
            raise SdpError("DTLS setup attribute must be 'active' or 'passive' in an answer")
        if not media.rtcp_mux:
            raise SdpError("RTCP mux is required")
        if media.direction is not None and media.direction not in aiortc_sdp.DIRECTIONS:
            raise SdpError(f"bad direction {media.direction!r}")
        prefs = (preferences or {}).get(media.kind, [])
        common = filter_preferred_codecs(find_common_codecs(CODECS[media.kind], media.rtp.codecs), prefs)
        if not [c for c in common if c.name.lower() != "rtx"]:
            raise SdpError(f"no supported codec in {media.kind} section {mid!r}")
    if bundle is None or set(bundle.items) != set(mids):
        raise SdpError("all media sections must be in one BUNDLE group")
    if bundle.items[0] != mids[0]:
        raise SdpError("the first media section must carry the BUNDLE transport")
    return text, description


def accept_offered_extension(answer: str, offer, uri: str, feedback: str | None = None) -> tuple[str, int | None]:
    """Accept in ``answer`` (SDP text) the header extension ``uri`` wherever the parsed ``offer``
    carried it (same id), and the RTCP feedback type ``feedback`` for the answer's codecs that
    offered it. For what aiortc does not know but the SFU handles itself (transport-cc).
    Returns the new text and the extension's id (None if nothing was offered)."""
    offered = {}
    for media in offer.media:
        ext = next((e for e in media.rtp.headerExtensions if e.uri == uri), None)
        if ext is not None:
            fb_pts = {c.payloadType for c in media.rtp.codecs
                      if feedback and any(f.type == feedback for f in c.rtcpFeedback)}
            offered[media.rtp.muxId] = (ext.id, fb_pts)
    if not offered:
        return answer, None
    head, *sections = answer.split("\r\nm=")
    ext_id = None
    out = [head]
    for section in sections:
        lines = section.split("\r\n")
        mid = next((line[6:] for line in lines if line.startswith("a=mid:")), None)
        if mid in offered and not lines[0].split(" ")[1] == "0":
            ident, fb_pts = offered[mid]
            ext_id = ident
            if not any(line.startswith("a=extmap:") and line.endswith(" " + uri) for line in lines):
                at = max((i for i, line in enumerate(lines) if line.startswith("a=extmap:")),
                         default=next(i for i, line in enumerate(lines) if line.startswith("a=mid:")))
                lines.insert(at + 1, f"a=extmap:{ident} {uri}")
            for pt in lines[0].split(" ")[3:]:
                if not pt.isdigit() or int(pt) not in fb_pts:
                    continue
                line = f"a=rtcp-fb:{pt} {feedback}"
                if line in lines:
                    continue
                anchor = [i for i, x in enumerate(lines)
                          if x.startswith(f"a=rtcp-fb:{pt} ") or x.startswith(f"a=rtpmap:{pt} ")]
                if anchor:
                    lines.insert(anchor[-1] + 1, line)
        out.append("\r\n".join(lines))
    return "\r\nm=".join(out), ext_id


def add_rtcp_feedback(sdp: str, kind: str, feedback: str) -> str:
    """``sdp`` (text) with ``a=rtcp-fb:<pt> <feedback>`` for every codec but RTX of every ``kind``
    media section (after that codec's last rtcp-fb line, or its rtpmap), where not already there."""
    head, *sections = sdp.split("\r\nm=")
    out = [head]
    for section in sections:
        lines = section.split("\r\n")
        if lines[0].startswith(kind + " "):
            for pt in lines[0].split(" ")[3:]:
                rtpmap = next((x for x in lines if x.startswith(f"a=rtpmap:{pt} ")), "")
                line = f"a=rtcp-fb:{pt} {feedback}"
                if not rtpmap or " rtx/" in rtpmap or line in lines:
                    continue
                anchor = [i for i, x in enumerate(lines) if x.startswith(f"a=rtcp-fb:{pt} ") or x == rtpmap]
                lines.insert(anchor[-1] + 1, line)
        out.append("\r\n".join(lines))
    return "\r\nm=".join(out)

