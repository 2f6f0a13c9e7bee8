"""Two server processes share Socket.IO rooms through Redis (python-socketio's AsyncRedisManager).

A chat message sent to a room on one process reaches a client of the same room connected to the
other, because every emit goes through Redis pub/sub. Media and the live meeting state stay in the
process that holds the room (see docs/architecture.md, "Running more than one process").
"""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.conftest import start_server, stop_server, unavailable
from tests.sio_helpers import connected

REDIS = ("127.0.0.1", 6379)


def redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def two_servers(tmp_path):
    if not redis_up():
        unavailable("Redis on 127.0.0.1:6379")
    # One database and one secret for both processes; a fresh Redis channel for this test.
    shared = ["--redis", "redis://127.0.0.1:6379/0", "--redis-channel", f"sitroom-test-{uuid.uuid4().hex[:8]}",
              "--database", f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"]
    a = start_server(tmp_path / "a", *shared)
    b = None
    try:
        b = start_server(tmp_path / "b", *shared)
        yield a, b
    finally:
        stop_server(a)
        if b is not None:
            stop_server(b)


async def test_chat_crosses_processes_through_redis(two_servers):
    a, b = two_servers
    room = a.create_room("Two processes")
    token = room["links"]["participant"].split("?t=")[1]
    alice = await connected(a.base_url)
    bob = await connected(b.base_url)
    try:
        await alice.join(token, "Alice")
        await bob.join(token, "Bob")
        ack = await alice.request("chat_send", {"text": "hello from process A"})
        assert ack["ok"], ack
        message = await bob.next_event("chat_message")
        assert message["text"] == "hello from process A" and message["name"] == "Alice"
        # And back.
        assert (await bob.request("chat_send", {"text": "and from B"}))["ok"]
        while (await alice.next_event("chat_message"))["text"] != "and from B":
            pass
    finally:
        await alice.close()
        await bob.close()
