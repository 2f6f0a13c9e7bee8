"""Sitroom media: a forwarding SFU on top of aiortc's ICE, DTLS, SRTP and SDP.

See docs/architecture.md. Public API: :class:`SFU`, :class:`MediaConfig`, :class:`SdpError`,
:class:`StaleRevision`; and the MediaService API
(media/service.py) over it: :class:`LocalMedia` (in-process) or :class:`WorkerPool` (worker processes).
"""

from .config import MediaConfig
from .errors import SdpError, StaleRevision
from .local import LocalMedia
from .peer import Peer
from .router import Router
from .service import MediaService, WorkerError, WorkerLost, WorkerTimeout
from .sfu import SFU
from .workers import WorkerPool

__all__ = [
    "SFU", "MediaConfig", "SdpError", "StaleRevision", "Router", "Peer",
    "MediaService", "LocalMedia", "WorkerPool", "WorkerError", "WorkerLost", "WorkerTimeout",
]
