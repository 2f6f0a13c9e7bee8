"""Configuration of the SFU."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass
class MediaConfig:
    """What the SFU gathers, announces and accepts.

    - ``ice_addresses``: local addresses to gather host candidates on (aioice skips 127.0.0.1
      otherwise); empty means aioice's own choice (every interface but loopback).
    - ``announce``: local address -> public address, for 1:1 NAT; host candidates in the SDP we
      send are rewritten.
    - ``ice_servers``: STUN/TURN servers, as in the protocol (``{"urls": [...], "username"?,
      "credential"?}``); handed to aiortc (never ``None``: aiortc would use a public STUN server).
    - ``allowed_remote_networks``: if set, remote candidates and STUN sources outside these
      networks are ignored (test mode: loopback only).
    - ``video_codecs``: forwardable video codecs (VP8, H264), in the server's order of preference.
    - ``publisher_codec_order``: the publisher's offer order chooses among ``video_codecs`` (the
      browser's own order: Chrome and Firefox VP8, Safari H.264; or a client preference set with
      ``setCodecPreferences``). False: the order of ``video_codecs`` chooses, e.g. ``["H264",
      "VP8"]`` to have every publisher send H.264 (iPhones decode it in hardware).
    - ``max_incoming_bitrate``: what REMB tells each video publisher it may send.
    - ``opus_dtx``: ask publishers for Opus DTX (``usedtx=1`` in the answer's fmtp): a silent
      microphone sends a comfort-noise packet every 400 ms instead of 50 packets a second.
    - ``opus_red``: answer a publisher's offer of RED for Opus (RFC 2198 ``audio/red``) with red
      first, so that it sends each audio frame again in the next packet (media/red.py).
    - ``simulcast``: answer a publisher's simulcast offer (``a=simulcast``, media/simulcast.py):
      each subscriber then gets the layer its tile and link call for. False: publishers send one
      layer (the browser drops the others when the answer does not list them).
    - ``span_cpu``, ``span_cpu_publishers``, ``span_peers``: when a room's router extends to other
      media workers (media/workers.py): when its home worker's CPU (load reports, percent of a
      core) is above ``span_cpu``, new viewers go to the least-loaded other live worker; above
      ``span_cpu_publishers``, new publishers too. ``span_peers`` (None: off): once the home
      worker's leg of the room has this many peers, every new peer goes to the least-loaded
      other worker (deterministic: tests, benchmarks).
    """

    ice_addresses: list[str] = field(default_factory=list)
    announce: dict[str, str] = field(default_factory=dict)
    ice_servers: list[dict] = field(default_factory=list)
    allowed_remote_networks: list[str] | None = None
    video_codecs: list[str] = field(default_factory=lambda: ["VP8", "H264"])
    publisher_codec_order: bool = True
    max_incoming_bitrate: int = 2_500_000
    opus_red: bool = True
    opus_dtx: bool = True
    simulcast: bool = True
    span_cpu: float = 70.0
    span_cpu_publishers: float = 85.0
    span_peers: int | None = None

    def __post_init__(self) -> None:
        self.ice_addresses = [str(ipaddress.ip_address(a)) for a in self.ice_addresses]
        unknown = [c for c in self.video_codecs if c.upper() not in ("VP8", "H264")]
        if unknown or not self.video_codecs:
            raise ValueError(f"video_codecs must list VP8 and/or H264, not {self.video_codecs!r}")
        self._networks = (
            None if self.allowed_remote_networks is None
            else [ipaddress.ip_network(n, strict=False) for n in self.allowed_remote_networks]
        )

    def remote_allowed(self, host: str) -> bool:
        """Whether a remote address may be used (always, unless allowed_remote_networks is set)."""
        if self._networks is None:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False  # hostnames, mDNS .local names
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)
