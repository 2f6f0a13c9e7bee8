"""A room harness for Socket.IO integration tests against a real server process: a host, a
participant to act on (the target) and an actor of any role, plus small helpers for acks.

Use in a test module::

    server = module_server("chat")
    room = room_fixture(Role.HOST)
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from typing import Any

import pytest

from rooms.authorize import Role
from tests.conftest import start_server, stop_server
from tests.sio_helpers import ProtocolClient


def token_of(link: str) -> str:
    return link.split("?t=", 1)[1]


class Client(ProtocolClient):
    name = ""
    self_id = ""

    def drain(self, event: str) -> list[Any]:
        queue, items = self.events[event], []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    async def barrier(self) -> None:
        """Every event the server sent this client before now has been received."""
        ack = await self.request("_barrier", {})
        assert ack["error"]["code"] == "unknown_event"

    async def until(self, event: str, predicate=lambda data: True, timeout: float = 15) -> Any:
        async def loop():
            while True:
                data = await self.next_event(event, timeout=timeout)
                if predicate(data):
                    return data
        return await asyncio.wait_for(loop(), timeout)


def module_server(name: str):
    """A module-scoped ``server`` fixture: one server process (SQLite) for the module, with
    ``db_path`` set so tests can check rows."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        tmp = tmp_path_factory.mktemp(name)
        srv = start_server(tmp)
        srv.db_path = tmp / "data" / "sitroom.db"
        yield srv
        stop_server(srv)

    return server


def db_count(server, sql: str, *args) -> int:
    with closing(sqlite3.connect(server.db_path, timeout=10)) as db:
        return db.execute(sql, args).fetchone()[0]


class Room:
    """A room with a host, a participant to act on (the target) and one actor per test."""

    def __init__(self, server):
        self.server = server
        self.clients: list[Client] = []
        self.tokens: dict[str, str] = {}

    async def client(self) -> Client:
        client = Client(self.server.base_url)
        self.clients.append(client)
        return await client.connect()

    async def join(self, role: str | None = None, name: str = "Someone", *, token: str | None = None,
                   device_id: str | None = None) -> tuple[Client, dict]:
        client = await self.client()
        payload = {"token": token or self.tokens[role], "name": name, "organisation": f"{name} City"}
        if device_id:
            payload["device_id"] = device_id
        ack = await client.request("join", payload)
        client.name = name
        if ack.get("ok") and "self" in ack:
            client.self_id = ack["self"]["id"]
        return client, ack

    async def setup(self, actor_role: Role, target_role: Role = Role.PARTICIPANT) -> None:
        """A new room: its host, the target (a participant, or ``target_role``: a host target is a
        second host) and the actor (the host itself when ``actor_role`` is host)."""
        room = self.server.create_room("Grants")
        self.id = room["room"]["id"]
        self.tokens = {"host": token_of(room["links"]["host"]),
                       "participant": token_of(room["links"]["participant"])}
        self.host, ack = await self.join("host", "Hana Host")
        assert ack["ok"], ack
        for role in ("staff", "viewer"):
            ack = await self.host.request("invite_create", {"role": role, "label": f"{role} link"})
            assert ack["ok"], ack
            self.tokens[role] = token_of(ack["link"])
        self.target_role = Role(target_role)
        self.target, ack = await self.join(self.target_role.value, "Tariq Target")
        assert ack["ok"] and ack["self"]["role"] == self.target_role.value, ack
        if actor_role == Role.HOST:
            self.actor = self.host
        else:
            self.actor, ack = await self.join(actor_role.value, f"Avery {actor_role.value}")
            assert ack["ok"] and ack["self"]["role"] == actor_role.value, ack

    async def snapshot(self) -> dict:
        """The meeting as a newcomer sees it (a viewer: nobody is told it joined)."""
        viewer, ack = await self.join("viewer", "Snap Shot")
        assert ack["ok"], ack
        await viewer.close()
        self.clients.remove(viewer)
        return {"participants": sorted(ack["participants"], key=lambda p: p["id"]),
                "settings": ack["settings"], "hands": ack["hands"]}

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


def room_fixture(actor_role: Role | None = None):
    """A function-scoped ``room`` fixture: a fresh :class:`Room` per test, set up with
    ``actor_role`` acting (host and target joined) or left empty when ``actor_role`` is None."""

    @pytest.fixture
    async def room(server):
        made = Room(server)
        if actor_role is not None:
            await made.setup(actor_role)
        yield made
        await made.close()

    return room


def refused(ack: dict, code: str = "forbidden") -> bool:
    return ack.get("ok") is False and ack["error"]["code"] == code


async def disconnected(client: ProtocolClient, timeout: float = 10) -> bool:
    """Wait (bounded) until the server has closed the client's connection."""
    for _ in range(int(timeout / 0.1)):
        if not client.sio.connected:
            return True
        await asyncio.sleep(0.1)
    return not client.sio.connected


async def end_meeting(client: ProtocolClient) -> None:
    """End the meeting; the ack arrives although the actor is disconnected right after (this used to
    race, see test_events_fuzz.test_end_meeting_ack_survives_a_slow_database)."""
    ack = await client.request("end_meeting", {})
    assert ack == {"ok": True, "changed": True}, ack
