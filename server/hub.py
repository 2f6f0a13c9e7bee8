"""The ``Hub``: the objects a request handler may need, built once per app by
``server.app.create_app`` and kept on the app under the typed key ``HUB``. A module of its own so
that the handlers' modules (``api``, ``documents_api``) import it at module level without importing
``app``, which imports them."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Coroutine

import socketio
from aiohttp import web

from media import LocalMedia, WorkerPool
from rooms.chat import ChatService
from rooms.db import Database
from rooms.meeting import iso_utc
from rooms.panels.feed import CityFeed
from rooms.panels.urlpolicy import UrlPolicy
from rooms.repository import DocumentRepository, PanelRepository, RoomStateRepository
from rooms.service import RoomService
from rooms.timeline import Timeline

from .cluster import Cluster
from .config import Config


@dataclass
class UploadSlots:
    """The uploads whose body is being received, per room (``server.documents_api`` takes and
    releases them; ``/api/metrics`` shows them)."""

    by_room: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> int:
        return sum(self.by_room.values())

    def take(self, room_id: str, per_room: int, total: int) -> str | None:
        """Take a slot for ``room_id``: None if taken, else what is full (``"room"``, ``"server"``)."""
        if self.by_room.get(room_id, 0) >= per_room:
            return "room"
        if self.active >= total:
            return "server"
        self.by_room[room_id] = self.by_room.get(room_id, 0) + 1
        return None

    def release(self, room_id: str) -> None:
        left = self.by_room.get(room_id, 0) - 1
        if left > 0:
            self.by_room[room_id] = left
        else:
            self.by_room.pop(room_id, None)


@dataclass
class Hub:
    """Everything a request handler may need, built once per app."""

    config: Config
    db: Database
    rooms: RoomService
    chat: ChatService
    timeline: Timeline
    media: LocalMedia | WorkerPool  # the SFU, in this process or in media workers
    sio: socketio.AsyncServer
    panels: PanelRepository = None
    documents: DocumentRepository = None
    room_states: RoomStateRepository = None  # each room's stage, hands and held mutes, kept across restarts
    cluster: Cluster = None  # which node holds which room (leases in Redis; one node without Redis)
    signaling: Any = None  # server.signaling.Signaling (which imports this module)
    # server.live_room.LiveRooms (which imports this module): every open room's live state
    live: Any = None
    listener: Any = None  # server.listener.Listener: the TCP connections (set by server.cli)
    demo_links: dict | None = None
    demo_code: str | None = None
    city_feed: CityFeed = field(default_factory=CityFeed)  # one simulated city for every room
    # Which URLs HTTP panels may fetch, parsed once from the config (server.handlers.stage).
    panel_url_policy: UrlPolicy | None = None
    render_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    uploads: UploadSlots = field(default_factory=UploadSlots)
    tasks: set = field(default_factory=set)
    # The server is stopping (SIGTERM): clients have been told; the rooms' kept state is left as
    # it is, for the next start, rather than emptied as everyone's connection closes.
    stopping: bool = False

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a task the app owns (kept referenced, cancelled at shutdown)."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def document_view(self, row: dict) -> dict:
        """A document as the protocol shows it (no storage paths)."""
        base = f"/api/rooms/{row['room_id']}/documents/{row['id']}"
        sizes = row.get("page_sizes") or []
        pages = []
        if row["status"] == "ready":
            pages = [{"index": i, "width": w, "height": h, "image": f"{base}/pages/{i}",
                      "thumb": f"{base}/thumbs/{i}"} for i, (w, h) in enumerate(sizes)]
        created = row.get("created_at")
        return {"id": row["id"], "title": row["title"], "filename": row["filename"], "kind": row["kind"],
                "status": row["status"], "error": row.get("error"), "page_count": row["page_count"],
                "pages": pages,
                "created_at": iso_utc(created) if created else None}

    def remove_document_files(self, row: dict) -> None:
        folder = Path(row["storage_dir"])
        root = (Path(self.config.data_dir) / "documents").resolve()
        if folder.resolve().is_relative_to(root):
            shutil.rmtree(folder, ignore_errors=True)


HUB = web.AppKey("hub", Hub)
