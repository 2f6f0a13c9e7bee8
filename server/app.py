"""The aiohttp application factory.

Shared objects live on a ``Hub`` under one typed ``web.AppKey``; the database engine, the SFU and
the Socket.IO namespace start and stop with the app through ``cleanup_ctx``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import AsyncIterator

import socketio
from aiohttp import web

import media
from rooms.chat import ChatService
from rooms.db import Database
from rooms.meeting import MeetingRegistry
from rooms.service import RoomService
from rooms.timeline import Timeline

from . import api
from .config import Config

log = logging.getLogger("sitroom")

DEMO_ROOM_ID = "demo"
DEMO_ROOM_TITLE = "City Situation Room (demo)"


@dataclass
class Hub:
    """Everything a request handler may need, built once per app."""

    config: Config
    db: Database
    rooms: RoomService
    chat: ChatService
    timeline: Timeline
    meetings: MeetingRegistry
    sfu: media.SFU
    sio: socketio.AsyncServer
    signaling: object = None  # server.signaling.Signaling
    demo_links: dict | None = None


HUB = web.AppKey("hub", Hub)


def create_app(config: Config) -> web.Application:
    config.validate()
    app = web.Application(client_max_size=api.MAX_JSON_BODY)
    manager = None
    if config.redis:
        manager = socketio.AsyncRedisManager(config.redis)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=[],  # same origin only
        max_http_buffer_size=256 * 1024,
        ping_interval=10,
        ping_timeout=10,
    )
    sio.attach(app)
    db = Database(config.database_url)
    hub = Hub(
        config=config,
        db=db,
        rooms=RoomService(db, config.secret_bytes()),
        chat=ChatService(db),
        timeline=Timeline(db),
        meetings=MeetingRegistry(),
        sfu=media.SFU(media.MediaConfig(
            ice_addresses=list(config.ice_addresses),
            announce=dict(config.announce),
            ice_servers=list(config.ice_servers),
            allowed_remote_networks=config.allowed_remote_networks,
        )),
        sio=sio,
    )
    from .signaling import Signaling

    hub.signaling = Signaling(hub)
    sio.register_namespace(hub.signaling)
    app[HUB] = hub
    api.setup_routes(app, config)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    await hub.db.upgrade()
    if hub.config.demo:
        room, tokens = await hub.rooms.ensure_room(DEMO_ROOM_ID, DEMO_ROOM_TITLE)
        hub.demo_links = api.invite_links(hub.config, room.id, tokens)
        log.info("demo room %r: host link %s", room.title, hub.demo_links["host"])
        log.info("demo room %r: participant link %s", room.title, hub.demo_links["participant"])
    yield
    await hub.signaling.close()
    await hub.sfu.close()
    await hub.db.dispose()
