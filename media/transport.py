"""SrtpWire: synchronous SRTP/SRTCP sending on an aiortc DTLS transport's nominated ICE pair.

aiortc sends with ``await dtls._send_rtp(data)`` (a coroutine per packet). Once DTLS is up we
protect with the transport's SRTP session and write to the datagram transport of the ICE pair
aioice nominated, with no await: the fast path's last step.
"""

from __future__ import annotations

from typing import Callable, Optional


class SrtpWire:
    def __init__(self, dtls) -> None:
        self.dtls = dtls
        self.protect: Optional[Callable[[bytes], bytes]] = None
        self.protect_rtcp: Optional[Callable[[bytes], bytes]] = None
        self.sendto: Optional[Callable] = None
        self.addr = None
        self._pair = None

    def refresh(self) -> bool:
        """Re-read session and nominated pair; True if anything changed."""
        dtls = self.dtls
        pair = None
        if dtls.state == "connected" and dtls._tx_srtp is not None:
            pair = dtls.transport._connection._nominated.get(1)
        if pair is self._pair:
            return False
        self._pair = pair
        if pair is None or getattr(pair.protocol, "transport", None) is None:
            self.protect = self.protect_rtcp = self.sendto = self.addr = None
        else:
            self.protect = dtls._tx_srtp.protect
            self.protect_rtcp = dtls._tx_srtp.protect_rtcp
            self.sendto = pair.protocol.transport.sendto
            self.addr = pair.remote_addr
        return True

    def close(self) -> None:
        self._pair = None
        self.protect = self.protect_rtcp = self.sendto = self.addr = None

    def send_rtcp(self, data: bytes) -> bool:
        if self.sendto is None:
            self.refresh()
            if self.sendto is None:
                return False
        try:
            self.sendto(self.protect_rtcp(data), self.addr)
        except Exception:
            return False
        return True
