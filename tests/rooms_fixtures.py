"""Fixtures shared by the ``tests/test_rooms_*.py`` database tests: a real SQLite file and a freshly
created PostgreSQL database per test (``sitroom_test_<random>``, dropped after).

PostgreSQL is looked for at 127.0.0.1:5432 as user ``postgres`` or ``root`` (trust authentication),
or at ``$SITROOM_TEST_POSTGRES_URL``. If it is unreachable the PostgreSQL tests are skipped, except
with ``CI=true``, where that is a failure.

Use: ``from tests.rooms_fixtures import clock, db, service  # noqa: F401`` (pytest finds fixtures
imported into a test module).
"""

from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from typing import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from rooms.db import Database
from rooms.service import RoomService

SECRET = b"persistence-test-secret"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_CANDIDATES = [
    f"postgresql://{user}@127.0.0.1:5432/{database}"
    for user in ("postgres", "root") for database in ("test", "postgres")
]


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class Clock:
    """A settable clock for RoomService (aware UTC, with microseconds)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=654321)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def _pg_admin():
    """A connection to an existing PostgreSQL database that may CREATE DATABASE, and its URL."""
    import asyncpg

    candidates = [os.environ["SITROOM_TEST_POSTGRES_URL"]] if os.environ.get("SITROOM_TEST_POSTGRES_URL") \
        else PG_CANDIDATES
    errors = []
    for dsn in candidates:
        url = make_url(dsn).set(drivername="postgresql")
        try:
            connection = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
            return connection, url
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            errors.append(f"{url.render_as_string(hide_password=True)}: {type(exc).__name__}: {exc}")
    unavailable("PostgreSQL is unreachable: " + "; ".join(errors))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db(request, tmp_path):
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'sitroom.db'}")
        yield database
        await database.dispose()
        return
    async with postgres_database("sitroom_test") as url:
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()


@asynccontextmanager
async def postgres_database(prefix: str = "sitroom_test") -> AsyncIterator[str]:
    """The URL (asyncpg) of a new, empty database on the suite's PostgreSQL, dropped afterwards."""
    admin, admin_url = await _pg_admin()
    name = f"{prefix}_{secrets.token_hex(6)}"
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


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def service(db, clock):
    await db.upgrade()
    return RoomService(db, SECRET, clock=clock)
