"""The aiohttp application factory.

Shared objects live on a ``Hub`` (``server.hub``) under one typed ``web.AppKey``; the database
engine, the SFU and the Socket.IO namespace start and stop with the app through ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlsplit

import socketio
from aiohttp import web

import media
from rooms import retention
from rooms.chat import ChatService
from rooms.db import Database
from rooms.panels.spec import PanelSpec
from rooms.repository import DocumentRepository, PanelRepository, RoomStateRepository
from rooms.service import RoomService
from rooms.timeline import Timeline

from . import api, documents_api, record_api, schedule_api
from .cluster import Cluster
from .config import Config
from .errors import RequestError
from .hub import HUB, Hub
from .signaling import Signaling

log = logging.getLogger("sitroom")

HEARTBEAT_S = 10.0  # how often the server notes that it is alive (Heartbeat)
DEMO_ROOM_ID = "demo"
DEMO_ROOM_TITLE = "City Situation Room (demo)"
DEMO_CITY = "seoul"


class WholeBody:
    """``wsgi.input`` for python-engineio on aiohttp: ``read(n)`` gives the n bytes of the body (or
    all there are), not whatever one network read brought. python-engineio 4.15.1 reads a
    long-polling POST with one ``request.content.read(length)``, which on a lossy link returned 1448
    or 2896 of 6022 bytes of a ``publish``; the rest was lost and the join never got its media."""

    def __init__(self, content) -> None:
        self._content = content

    async def read(self, length: int = -1) -> bytes:
        if length is None or length < 0:
            return await self._content.read()
        try:
            return await self._content.readexactly(length)
        except asyncio.IncompleteReadError as exc:  # the client went away mid-body
            return exc.partial


def read_whole_bodies(sio: socketio.AsyncServer) -> None:
    """Make the Engine.IO server read each long-polling POST whole (see WholeBody)."""
    translate = sio.eio._async["translate_request"]

    def translate_request(request: web.Request) -> dict:
        environ = translate(request)
        environ["wsgi.input"] = WholeBody(request.content)
        return environ

    sio.eio._async = {**sio.eio._async, "translate_request": translate_request}


def origin_check(config: Config):
    """Which pages may open a Socket.IO connection (python-engineio calls this with the request's
    ``Origin``; a request without one, from a program rather than a page, is not checked): the
    server's own origin, as the browser reached it (``Host``), ``public_url``'s, ``node_url``'s
    and ``allowed_origins``. Any other page (a site a city employee visits, reaching an intranet
    server through their browser) is refused before it can join."""
    fixed = {_origin(url) for url in [config.public_url, config.node_url, *config.allowed_origins] if url}

    def allowed(origin: str | None, environ: dict) -> bool:
        if not isinstance(origin, str):
            return False  # (asked for CORS headers on a request without Origin: none are due)
        origin = _origin(origin)
        if origin in fixed:
            return True
        host = environ.get("HTTP_HOST", "")
        return bool(host) and origin == _origin(f"{environ.get('wsgi.url_scheme', 'http')}://{host}")

    return allowed


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower case, without a default port."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return ""
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}" if scheme and host else ""


def create_app(config: Config) -> web.Application:
    config.validate()
    config.metrics_token()  # made (and kept) now if not configured: the operator is told where
    config.organiser_key()  # the same for the key creating rooms takes
    app = web.Application(client_max_size=api.MAX_JSON_BODY)
    manager = None
    if config.redis:
        manager = socketio.AsyncRedisManager(config.redis, channel=config.redis_channel)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        # (an empty list would turn python-engineio's origin check off altogether)
        cors_allowed_origins=origin_check(config),
        max_http_buffer_size=256 * 1024,
        ping_interval=10,
        ping_timeout=10,
    )
    sio.attach(app)
    read_whole_bodies(sio)
    db = Database(config.database_url)
    hub = Hub(
        config=config,
        db=db,
        rooms=RoomService(db, config.secret_bytes()),
        chat=ChatService(db),
        timeline=Timeline(db),
        media=_media_service(config),
        sio=sio,
        panels=PanelRepository(db),
        documents=DocumentRepository(db),
        room_states=RoomStateRepository(db),
        cluster=Cluster(config.redis or None, config.cluster_url, prefix=config.redis_channel),
    )
    hub.signaling = Signaling(hub)
    hub.media.on_worker_lost = hub.live.media_lost
    hub.cluster.on_lost = hub.live.lost
    sio.register_namespace(hub.signaling)
    hub.signaling.guard_packets()
    hub.signaling.guard_idle_connections()
    app[HUB] = hub
    api.setup_routes(app, config)
    documents_api.setup_routes(app)
    schedule_api.setup_routes(app)
    record_api.setup_routes(app)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_stopping)
    return app


def _media_service(config: Config):
    """The SFU: in media worker processes (``--media-workers``, one per core by default), or in this
    process with ``--media-workers 0``. Both are driven through the same async API."""
    media_config = media.MediaConfig(
        ice_addresses=list(config.ice_addresses),
        announce=dict(config.announce),
        ice_servers=list(config.ice_servers),
        allowed_remote_networks=config.allowed_remote_networks,
        **({"video_codecs": list(config.video_codecs), "publisher_codec_order": False}
           if config.video_codecs else {}),
        opus_dtx=config.opus_dtx,
        simulcast=config.simulcast,
        span_cpu=config.media_span_cpu,
        span_cpu_publishers=min(100.0, config.media_span_cpu + 15.0),
        span_peers=config.media_span_peers,
    )
    workers = config.media_worker_count
    if workers == 0:
        return media.LocalMedia(media_config)
    return media.WorkerPool(media_config, workers, rx_batch_ms=config.rx_batch_ms)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    await hub.db.upgrade()
    # Nobody is in a meeting when the server starts: what a crashed run left open is closed, as
    # left when that run was last seen alive (its heartbeat file), and the heartbeat starts anew.
    heartbeat = Heartbeat(Path(hub.config.data_dir) / "alive")
    await hub.cluster.start()
    elsewhere = await hub.cluster.leased_rooms()  # (several nodes: rooms live on another node now)
    closed = await hub.rooms.close_open_joins(heartbeat.last_seen() or datetime.now(timezone.utc),
                                              except_rooms=elsewhere)
    if closed:
        log.warning("closed %d join(s) a previous run left open (it did not stop cleanly)", closed)
    heartbeat.start()
    await _unfinished_documents(hub, elsewhere)
    await hub.media.start()
    if hub.config.demo:
        room, tokens = await hub.rooms.ensure_room(DEMO_ROOM_ID, DEMO_ROOM_TITLE, city=DEMO_CITY)
        hub.demo_links = api.invite_links(hub.config, room.id, tokens)
        hub.demo_code = await hub.rooms.invite_code(room.id)
        await _demo_panels(hub, room.id)
        log.info("demo room %r: host link %s", room.title, hub.demo_links["host"])
        log.info("demo room %r: participant link %s", room.title, hub.demo_links["participant"])
    sweeps = asyncio.ensure_future(retention_sweeps(hub)) if hub.config.retention_interval_s > 0 else None
    yield
    if sweeps is not None:  # (before the database closes: a sweep under way stops at its next await)
        sweeps.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeps
    heartbeat.stop()
    await hub.cluster.close()
    await hub.signaling.close()
    for task in list(hub.tasks):
        task.cancel()
    await hub.media.close()
    await hub.db.dispose()


async def retention_sweeps(hub: Hub) -> None:
    """Apply the rooms' record retention (rooms/retention.py) now and then every
    ``retention_interval_s``, until cancelled. A sweep that fails is logged and the next one comes
    as planned; the recordings this node's rooms are making now are never touched."""
    root = Path(hub.config.data_dir) / "recordings"
    while True:
        try:
            running = {room.recording["id"] for room in hub.live if room.recording is not None}
            report = await retention.sweep(hub.db, root, datetime.now(timezone.utc), running=running)
            if report.by_room or report.failed:
                log.info("retention sweep: %d room(s) with a retention, %d lost something (%d recording(s), "
                         "%d bytes, %d chat message(s), %d timeline event(s), %d participant row(s)); "
                         "%d failed", report.rooms, len(report.by_room), report.recordings, report.bytes_freed,
                         report.chat_messages, report.timeline_events, report.participants, len(report.failed))
        except Exception:  # noqa: BLE001 - the database away for a moment: the next sweep tries again
            log.exception("the retention sweep failed; the next one is in %g s", hub.config.retention_interval_s)
        await asyncio.sleep(hub.config.retention_interval_s)


async def _stopping(app: web.Application) -> None:
    """A graceful stop (SIGTERM, Ctrl-C), before the connections are closed: every room's state is
    written as it is, and every client is told to come back as soon as the server is (it
    otherwise waits out its reconnection back-off, and the server waits out its connections)."""
    hub = app[HUB]
    hub.stopping = True
    await hub.live.flush()
    await hub.cluster.close()  # another node may take the rooms as their clients come back
    await hub.signaling.stop()


async def _unfinished_documents(hub: Hub, elsewhere: set[str]) -> None:
    """Documents a previous run was still rendering when it stopped: their rendering died with it
    (it runs in a child process), so they are failed, with a message the room's list shows (not
    those of rooms another node holds: it may be rendering them)."""
    for row in await hub.documents.unfinished():
        if row["room_id"] in elsewhere:
            continue
        log.warning("document %s of room %s was being rendered when the server stopped; marked failed",
                    row["id"], row["room_id"])
        await hub.documents.update_status(
            row["id"], "failed", error="the server restarted while this document was being prepared; "
                                       "please upload it again")


DEMO_PANELS = [
    ("Air quality: PM2.5 by district", "timeseries",
     {"type": "simulated", "feed": "air_quality", "interval_s": 5}, {"pollutant": "pm25"}),
    ("Traffic now", "kpi", {"type": "simulated", "feed": "traffic", "interval_s": 5}, {}),
    ("Open incidents", "table", {"type": "simulated", "feed": "incidents", "interval_s": 5}, {"max_rows": 12}),
]


async def _demo_panels(hub: Hub, room_id: str) -> None:
    """The demo room comes with live panels, the first of them on stage."""
    existing = await hub.panels.list(room_id)
    if not existing:
        for title, kind, source, options in DEMO_PANELS:
            spec = PanelSpec.new(room_id, title, kind, source, options)
            existing.append(await hub.panels.create(**spec.to_dict(), created_by=None))
    try:
        live = await hub.live.load(room_id)
    except RequestError:
        return  # another node holds the demo room now (and it has its stage)
    if live.stage.state.kind == "empty":
        live.stage.set_panel(existing[0]["id"], by="system")
        live.remember()
        await live.flush()
    if live.idle:
        await hub.cluster.release(room_id)  # (held only to set it up)


class Heartbeat:
    """A file whose modification time says when this server was last alive (touched every
    HEARTBEAT_S seconds): after a crash, the next start knows when the meetings ended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._task: asyncio.Task | None = None

    def last_seen(self) -> datetime | None:
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, timezone.utc)
        except OSError:
            return None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.touch()
            except OSError:
                log.warning("cannot touch %s", self.path, exc_info=True)
            await asyncio.sleep(HEARTBEAT_S)

    def stop(self) -> None:
        """Stop touching the file, touching it a last time: a clean stop was last seen now."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            self.path.touch()
        except OSError:
            pass
