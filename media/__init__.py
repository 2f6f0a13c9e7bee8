"""Sitroom media: a forwarding SFU on top of aiortc's ICE, DTLS, SRTP and SDP.

See docs/architecture.md. Public API: :class:`SFU`, :class:`MediaConfig`, :class:`SdpError`,
:class:`StaleRevision`.
"""

from .config import MediaConfig
from .errors import SdpError, StaleRevision
from .peer import Peer
from .router import Router
from .sfu import SFU

__all__ = ["SFU", "MediaConfig", "SdpError", "StaleRevision", "Router", "Peer"]
