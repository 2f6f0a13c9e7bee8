"""Every aiortc/aioice internal that media/ relies on, in one place.

aiortc and aioice are pinned (see pyproject.toml) because media/ takes the packet path away
from them. ``check()`` fails loudly, naming the internal, if an upgrade removed or renamed one.
"""

from __future__ import annotations

import asyncio.selector_events
import inspect

import aioice.ice
import aiortc
import aiortc.sdp
import pylibsrtp
import pylibsrtp._binding
from aiortc import codecs, rtcdtlstransport, rtcpeerconnection, rtcrtpreceiver, rtcrtpsender, rtcrtptransceiver, rtp

TESTED_VERSIONS = {"aiortc": "1.16.0", "aioice": "0.13.0"}


class CompatError(RuntimeError):
    pass


def _method(cls, name: str) -> tuple[str, bool]:
    return f"{cls.__module__}.{cls.__qualname__}.{name}", callable(getattr(cls, name, None))


def _assigned_in_init(cls, attribute: str) -> tuple[str, bool]:
    """Instance attributes set in ``__init__`` (private ones are name-mangled there)."""
    source = inspect.getsource(cls.__init__)
    return f"{cls.__module__}.{cls.__qualname__}().{attribute}", f"self.{attribute} " in source or f"self.{attribute}:" in source


def _in_source(function, needle: str, label: str) -> tuple[str, bool]:
    return label, needle in inspect.getsource(function)


def requirements() -> list[tuple[str, bool]]:
    Dtls = rtcdtlstransport.RTCDtlsTransport
    Sender = rtcrtpsender.RTCRtpSender
    Receiver = rtcrtpreceiver.RTCRtpReceiver
    Connection = aioice.ice.Connection
    return [
        # ICE: host address lookup (replaced), request handling (guarded), nominated pair (sent on)
        ("aioice.ice.get_host_addresses", callable(getattr(aioice.ice, "get_host_addresses", None))),
        _in_source(Connection.gather_candidates, "get_host_addresses(",
                   "aioice.ice.Connection.gather_candidates looks up get_host_addresses"),
        _method(Connection, "request_received"),
        # inbound fast path: the nominated pair's protocol's datagram callback is wrapped per
        # instance; what it does not take still goes the original way (STUN parse, else queue)
        _method(aioice.ice.StunProtocol, "datagram_received"),
        _in_source(aioice.ice.StunProtocol.datagram_received, "self.receiver.data_received(",
                   "aioice.ice.StunProtocol.datagram_received -> receiver.data_received"),
        _in_source(aioice.ice.StunProtocol.connection_made, "self.transport =",
                   "aioice.ice.StunProtocol.connection_made sets .transport"),
        _in_source(aioice.ice.StunProtocol.datagram_received, "self.receiver.request_received(",
                   "aioice.ice.StunProtocol.datagram_received -> receiver.request_received"),
        _assigned_in_init(Connection, "_nominated"),
        ("aioice.ice.CandidatePair.protocol/remote_addr",
         "self.protocol = protocol" in inspect.getsource(aioice.ice.CandidatePair.__init__)
         and isinstance(getattr(aioice.ice.CandidatePair, "remote_addr", None), property)),
        _assigned_in_init(aiortc.RTCIceGatherer, "_connection"),
        # DTLS / SRTP: packet hooks and sessions
        _method(Dtls, "_handle_rtp_data"),
        _method(Dtls, "_handle_rtcp_data"),
        _in_source(Dtls._recv_next, "await self._handle_rtp_data(",
                   "aiortc RTCDtlsTransport._recv_next -> self._handle_rtp_data"),
        _in_source(Dtls._recv_next, "await self._handle_rtcp_data(",
                   "aiortc RTCDtlsTransport._recv_next -> self._handle_rtcp_data"),
        _assigned_in_init(Dtls, "_tx_srtp"),
        _assigned_in_init(Dtls, "_rx_srtp"),
        _in_source(Dtls._recv_next, "self._rx_srtp.unprotect_rtcp(",
                   "aiortc RTCDtlsTransport._recv_next unprotects with self._rx_srtp"),
        ("pylibsrtp.Session.unprotect/unprotect_rtcp, pylibsrtp.Error",
         all(callable(getattr(pylibsrtp.Session, n, None)) for n in ("unprotect", "unprotect_rtcp", "protect", "protect_rtcp"))
         and isinstance(getattr(pylibsrtp, "Error", None), type)),
        _method(Dtls, "_send_rtp"),
        # receivers: anything reaching the decoder path is counted; the bandwidth estimator
        # (1000 objects per video receiver, never fed) is dropped (release_receiver)
        _method(Receiver, "_handle_rtp_packet"),
        _assigned_in_init(Receiver, "__remote_bitrate_estimator"),
        _in_source(Receiver._handle_rtp_packet, "if self.__remote_bitrate_estimator is not None",
                   "aiortc RTCRtpReceiver._handle_rtp_packet allows no bitrate estimator"),
        # SRTP without pylibsrtp's per-call wrapper (transport.srtp_functions), sockets directly
        ("pylibsrtp.Session()._srtp/_cdata/_buffer",
         all(f"self.{name} =" in inspect.getsource(pylibsrtp.Session.__init__) for name in ("_srtp", "_cdata", "_buffer"))),
        ("pylibsrtp._binding.lib.srtp_protect/_rtcp, srtp_unprotect/_rtcp",
         all(hasattr(pylibsrtp._binding.lib, n) for n in ("srtp_protect", "srtp_protect_rtcp", "srtp_unprotect",
                                                          "srtp_unprotect_rtcp", "srtp_err_status_ok"))),
        ("pylibsrtp.ERRORS, SRTP_MAX_TRAILER_LEN, SRTP_MAX_SRTCP_TRAILER_LEN",
         isinstance(getattr(pylibsrtp, "ERRORS", None), list)
         and all(isinstance(getattr(pylibsrtp, n, None), int) for n in ("SRTP_MAX_TRAILER_LEN", "SRTP_MAX_SRTCP_TRAILER_LEN"))),
        _in_source(asyncio.selector_events._SelectorTransport.__init__, "self._sock = sock",
                   "asyncio _SelectorTransport._sock"),
        # senders: SSRCs, stream/track id, RTCP handler, encode step and RTCP loop
        _assigned_in_init(Sender, "_ssrc"),
        _assigned_in_init(Sender, "_rtx_ssrc"),
        _assigned_in_init(Sender, "_stream_id"),
        ("aiortc RTCRtpSender._track_id", "self._track_id" in inspect.getsource(Sender.replaceTrack)),
        _method(Sender, "_handle_rtcp_packet"),
        _method(Sender, "_next_encoded_frame"),
        _in_source(Sender._run_rtp, "await self._next_encoded_frame(",
                   "aiortc RTCRtpSender._run_rtp -> self._next_encoded_frame"),
        _method(Sender, "_run_rtcp"),
        _in_source(Sender.send, "self._run_rtcp()", "aiortc RTCRtpSender.send -> self._run_rtcp()"),
        _assigned_in_init(Sender, "__rtcp_started"),
        _assigned_in_init(Sender, "__rtcp_exited"),
        # SDP and codecs
        _assigned_in_init(rtcrtptransceiver.RTCRtpTransceiver, "_codecs"),
        _assigned_in_init(rtcrtptransceiver.RTCRtpTransceiver, "_headerExtensions"),
        _in_source(rtcpeerconnection.RTCPeerConnection.setRemoteDescription, "transceiver._headerExtensions =",
                   "aiortc RTCPeerConnection.setRemoteDescription sets transceiver._headerExtensions"),
        ("aiortc.rtcpeerconnection.filter_preferred_codecs", callable(getattr(rtcpeerconnection, "filter_preferred_codecs", None))),
        ("aiortc.rtcpeerconnection.find_common_codecs", callable(getattr(rtcpeerconnection, "find_common_codecs", None))),
        ("aiortc.rtcpeerconnection.is_codec_compatible", callable(getattr(rtcpeerconnection, "is_codec_compatible", None))),
        ("aiortc.codecs.CODECS", isinstance(getattr(codecs, "CODECS", None), dict)),
        # RED (red.py) is negotiated by rewriting SDP text: aiortc must not know it, and must
        # parse (and drop) a red codec and its fmtp ("111/111") in a remote description
        ("aiortc.codecs.CODECS has no audio/red",
         not any(c.mimeType.lower() == "audio/red" for c in codecs.CODECS.get("audio", []))),
        ("aiortc.sdp.parameters_from_sdp takes an fmtp without '=' (red's 111/111)",
         _parses_red_fmtp()),
        ("aiortc.codecs.HEADER_EXTENSIONS audio-level id 2",
         any(e.id == 2 and e.uri.endswith("ssrc-audio-level") for e in codecs.HEADER_EXTENSIONS.get("audio", []))),
        ("aiortc.codecs.HEADER_EXTENSIONS video abs-send-time id 3",
         any(e.id == 3 and e.uri.endswith("/abs-send-time") for e in codecs.HEADER_EXTENSIONS.get("video", []))),
        _assigned_in_init(rtcpeerconnection.RTCPeerConnection, "__cname"),
    ]


def _parses_red_fmtp() -> bool:
    try:
        return aiortc.sdp.parameters_from_sdp("111/111") == {"111/111": None}
    except Exception:  # noqa: BLE001 - any failure means the parser changed
        return False


def check() -> None:
    """Raise :class:`CompatError` naming every internal that is missing."""
    missing = [name for name, ok in requirements() if not ok]
    if missing:
        raise CompatError(
            "aiortc/aioice internals used by media/ are missing (versions tested: "
            f"{TESTED_VERSIONS}): " + "; ".join(missing)
        )


def release_receiver(receiver) -> None:
    """Drop what an aiortc receiver allocates for a media path it never gets: the remote bitrate
    estimator of a video receiver holds 1000 ``RateBucket`` objects (so 225 000 objects for a
    15-participant meeting, which every full garbage collection then walks: 100-160 ms pauses
    of the event loop). aiortc audio receivers have none either."""
    receiver._RTCRtpReceiver__remote_bitrate_estimator = None
