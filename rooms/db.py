"""The database: one async engine, a session factory, and the Alembic migrations run in code.

SQLite through aiosqlite by default (foreign keys switched on for every connection); the same code
runs on PostgreSQL through asyncpg. There is no ``alembic.ini``: :func:`alembic_config` builds the
configuration, with ``script_location`` the repository's ``migrations/`` directory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite+aiosqlite:///var/sitroom.db"
REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"
# pg_advisory_xact_lock key: processes starting together migrate one after the other.
_MIGRATION_LOCK_KEY = 0x5174_0001

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and give plain ``sqlite://`` / ``postgresql://`` URLs their async driver."""
    parsed = make_url(url)
    if parsed.drivername in _DRIVERS:
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported database URL {parsed.drivername!r}: use sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    return parsed


def _sqlite_in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic ``Config`` for Sitroom's migrations, built without an ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("prepend_sys_path", str(REPO_ROOT))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        rendered = normalize_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _private_file(path: Path) -> None:
    """The SQLite file, made if missing, readable and writable by the server's user only (it
    holds the meeting records and the invites' secrets); SQLite gives its journal files the same
    mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


class Database:
    """An async engine and session factory for one database URL."""

    def __init__(self, url: str | URL = DEFAULT_URL, *, echo: bool = False, **engine_kwargs: Any):
        self.url = normalize_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if _sqlite_in_memory(self.url):
                # One shared connection, or every session would see its own empty database.
                engine_kwargs.setdefault("poolclass", StaticPool)
            elif not self.url.query.get("uri"):
                _private_file(Path(self.url.database).expanduser())
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, **engine_kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on normal exit, rolled back on error."""
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session

    async def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (the newest by default). Safe to call on every start."""
        cfg = alembic_config(self.url)
        async with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                         {"key": _MIGRATION_LOCK_KEY})
            await connection.run_sync(_run_upgrade, cfg, revision)

    async def current_revision(self) -> str | None:
        """The revision the database is at (None before the first upgrade)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()


def _run_upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
