"""InboundFastPath: SRTP/SRTCP taken straight from the nominated ICE pair's socket callback.

aiortc's receive path for each datagram is: aioice ``StunProtocol.datagram_received`` (a STUN
parse attempt), the ICE connection's ``asyncio.Queue``, a task awaiting it in
``RTCDtlsTransport._recv_next``, SRTP unprotect, then the packet handler. Once ICE has nominated
a pair and DTLS is connected, we wrap that pair's protocol instance's ``datagram_received``: a
datagram whose first byte is 128..191 (RTP/RTCP, RFC 7983) from the nominated remote address is
unprotected with the transport's SRTP session and handed, synchronously, to ``on_rtp`` /
``on_rtcp``; everything else (STUN, DTLS, other addresses) goes to the original method, and so
through aiortc's path, whose handlers are ours too. ``refresh`` re-reads the nominated pair (the
owner calls it when DTLS connects and whenever a packet arrives the slow way).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

import pylibsrtp

from .transport import srtp_functions

logger = logging.getLogger(__name__)

PacketHandler = Callable[[bytes, float], None]
_HOOK = "_sitroom_fastpath"
DRAIN_LIMIT = 16  # datagrams read per wake-up after the first, at most (then other sockets' turn)
RECV_SIZE = 65536  # like asyncio's datagram transport: a larger datagram would be truncated


class InboundFastPath:
    def __init__(self, dtls, on_rtp: Optional[PacketHandler], on_rtcp: PacketHandler) -> None:
        self.dtls = dtls
        self.on_rtp = on_rtp
        self.on_rtcp = on_rtcp
        self.packets = 0  # datagrams taken by the fast path
        self.errors = 0  # SRTP failures (replays, bad auth)
        self._pair = None
        self._protocol = None
        self._last_refresh = -1e9

    @property
    def active(self) -> bool:
        return self._protocol is not None

    def refresh(self) -> bool:
        """Follow the nominated pair; True if the hook moved."""
        dtls = self.dtls
        pair = None
        if dtls.state == "connected" and dtls._rx_srtp is not None:
            pair = dtls.transport._connection._nominated.get(1)
            if pair is not None and getattr(pair.protocol, "transport", None) is None:
                pair = None
        if pair is self._pair:
            return False
        self._unhook()
        if pair is not None:
            self._hook(pair)
        return True

    def refresh_from_slow_path(self, now: float) -> None:
        """A packet came through aiortc's path: maybe the pair changed (at most once a second)."""
        if now - self._last_refresh >= 1.0:
            self._last_refresh = now
            self.refresh()

    def _hook(self, pair) -> None:
        protocol = pair.protocol
        if getattr(protocol, _HOOK, None) is not None:
            return  # another path owns this socket: stay on the slow path
        original = protocol.datagram_received
        host, port = pair.remote_addr[0], pair.remote_addr[1]
        _, _, unprotect, unprotect_rtcp = srtp_functions(self.dtls._rx_srtp)
        on_rtp = self.on_rtp
        on_rtcp = self.on_rtcp
        monotonic = time.monotonic
        srtp_error = pylibsrtp.Error
        sock = getattr(getattr(protocol, "transport", None), "_sock", None)
        recvfrom = getattr(sock, "recvfrom", None)

        def handle(data, addr) -> None:
            if data and 127 < data[0] < 192 and addr[1] == port and addr[0] == host:
                self.packets += 1
                try:
                    if 191 < data[1] < 224:  # RTCP packet types 192..223 (RFC 5761)
                        on_rtcp(unprotect_rtcp(data), monotonic())
                    elif on_rtp is not None:
                        on_rtp(unprotect(data), monotonic())
                except srtp_error:
                    self.errors += 1
                except Exception:
                    logger.exception("inbound packet handler failed")
                return
            original(data, addr)

        def datagram_received(data, addr) -> None:
            handle(data, addr)
            if recvfrom is None:
                return
            # Whatever else has arrived meanwhile (the rest of a video frame, typically: a
            # publisher sends its packets back to back) is read here, without going back to
            # the event loop for each: no epoll_wait and no loop iteration per packet.
            for _ in range(DRAIN_LIMIT):
                try:
                    data, addr = recvfrom(RECV_SIZE)
                except OSError:  # BlockingIOError: nothing more; anything else: asyncio's business
                    return
                handle(data, addr)

        protocol.datagram_received = datagram_received
        setattr(protocol, _HOOK, self)
        self._protocol = protocol
        self._pair = pair

    def _unhook(self) -> None:
        protocol = self._protocol
        if protocol is not None and getattr(protocol, _HOOK, None) is self:
            try:
                del protocol.datagram_received  # back to the class's method
                delattr(protocol, _HOOK)
            except AttributeError:
                pass
        self._protocol = None
        self._pair = None

    def close(self) -> None:
        self._unhook()
