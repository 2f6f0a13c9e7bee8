"""Several ``sitroom serve`` nodes on one PostgreSQL and one Redis, as docs/deploy.md runs them
(tests/test_two_nodes.py, tests/test_proxy.py): a database made for the test on the suite's
PostgreSQL, a Redis channel of the test's own, and the nodes on 127.0.0.1 ports of their own."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
import uuid
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import AsyncIterator, Iterator, Sequence

from tests.conftest import ServerProcess, redis_up, start_server, stop_server, unavailable
from tests.rooms_fixtures import _pg_admin

REDIS_URL = "redis://127.0.0.1:6379/0"


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a new, empty database on the suite's PostgreSQL, dropped afterwards."""
    admin, admin_url = await _pg_admin()
    name = f"sitroom_nodes_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        admin, _ = await _pg_admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def node_args(database_url: str) -> list[str]:
    """What every node of one installation shares: the database and a Redis channel (and the
    secret and organiser key, which tests/conftest.py gives every test server)."""
    if not redis_up():
        unavailable("Redis on 127.0.0.1:6379")
    return ["--redis", REDIS_URL, "--redis-channel", f"sitroom-test-{uuid.uuid4().hex[:8]}",
            "--database", database_url]


@contextmanager
def running_nodes(tmp_path: Path, database_url: str, *extra: str, count: int = 2,
                  own: Sequence[Sequence[str]] = ()) -> Iterator[list[ServerProcess]]:
    """``count`` nodes (data folders ``tmp_path/a``, ``b``, ...) sharing ``database_url`` and one
    Redis channel; ``extra`` goes to each, ``own[i]`` to node i only. Each node's ``restart()``
    starts it again (after it died) with the same data, arguments and port. Stopped (SIGTERM)
    afterwards, those still running."""
    shared = [*node_args(database_url), *extra]
    nodes: list[ServerProcess] = []

    def starter(index: int):
        args = [*shared, *(own[index] if index < len(own) else ())]

        def start(port: int | None = None) -> ServerProcess:
            node = start_server(tmp_path / "abcdefgh"[index], *args, port=port)
            node.restart = lambda: _restarted(nodes, node, start)
            return node
        return start

    try:
        for index in range(count):
            nodes.append(starter(index)())
        yield nodes
    finally:
        for node in nodes:
            if node.proc.poll() is None:
                stop_server(node)


def _restarted(nodes: list[ServerProcess], node: ServerProcess, start) -> ServerProcess:
    assert node.proc.poll() is not None, "restart() is for a node that has stopped"
    again = start(int(node.base_url.rsplit(":", 1)[1]))
    nodes[nodes.index(node)] = again
    return again


def redirect_of(url: str) -> tuple[int, str | None]:
    """The status and Location of a GET, without following redirects."""
    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    try:
        with urllib.request.build_opener(NoFollow).open(url, timeout=10) as response:
            return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location")
