"""ICE policy: which local addresses are gathered and announced, which remote ones are accepted.

aioice looks ``aioice.ice.get_host_addresses`` up when it gathers, and deliberately skips
127.0.0.1 and ::1; :func:`use_host_addresses` substitutes the configured list, process-wide
(aiortc test peers in the same process gather the same addresses).
"""

from __future__ import annotations

import ipaddress
from typing import Callable

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from .config import MediaConfig

_GUARDED = "_sitroom_guarded"


def use_host_addresses(addresses: list[str]) -> None:
    """Make aioice gather host candidates on exactly ``addresses`` (no-op if empty)."""
    if not addresses:
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        result = []
        for address in fixed:
            version = ipaddress.ip_address(address).version
            if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
                result.append(address)
        return result

    aioice.ice.get_host_addresses = get_host_addresses


def rtc_configuration(config: MediaConfig) -> RTCConfiguration:
    servers = []
    for server in config.ice_servers:
        servers.append(RTCIceServer(
            urls=server["urls"], username=server.get("username"), credential=server.get("credential"),
        ))
    return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def _candidate_address(line: str) -> str | None:
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
    bits = line.split()
    return bits[4] if len(bits) >= 8 else None


def filter_remote_candidates(sdp: str, allowed: Callable[[str], bool]) -> str:
    """Drop ``a=candidate`` lines whose address is not allowed (mDNS names never are)."""
    lines = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            address = _candidate_address(line)
            if address is None or not allowed(address):
                continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def announce_addresses(sdp: str, announce: dict[str, str]) -> str:
    """Rewrite local addresses to their announced public addresses in an SDP we send."""
    if not announce:
        return sdp
    lines = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            bits = line.split(" ")
            if len(bits) >= 8 and bits[4] in announce:
                bits[4] = announce[bits[4]]
                line = " ".join(bits)
        elif line.startswith("c=IN IP"):
            bits = line.split(" ")
            if len(bits) == 3 and bits[2] in announce:
                public = announce[bits[2]]
                bits[1] = "IP6" if ":" in public else "IP4"
                bits[2] = public
                line = " ".join(bits)
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def guard_connection(connection: aioice.ice.Connection, allowed: Callable[[str], bool]) -> None:
    """Ignore STUN requests from sources that are not allowed, so that aioice never learns a
    peer-reflexive candidate off the allowed networks (wraps the instance's handler once)."""
    if getattr(connection, _GUARDED, False):
        return
    original = connection.request_received

    def request_received(message, addr, protocol) -> None:
        if allowed(addr[0]):
            original(message, addr, protocol)

    connection.request_received = request_received
    setattr(connection, _GUARDED, True)
