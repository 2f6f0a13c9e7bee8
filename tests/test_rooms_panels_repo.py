"""The panels and documents tables round trip on SQLite and PostgreSQL; migration 0002 on old data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import delete, func, inspect, select, text

from rooms.db import alembic_config
from rooms.errors import RoomNotFound, ValidationError
from rooms.models import Document, Panel, Room
from rooms.repository import DocumentRepository, PanelRepository, panel_spec_dict
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures

SHA = hashlib.sha256(b"slides").hexdigest()
SOURCE = {"type": "simulated", "feed": "air_quality", "interval_s": 2.0}
OPTIONS = {"thresholds": [{"value": 50, "status": "moderate"}], "unit": "µg/m³", "decimals": 1}


@pytest.fixture
async def panels(service, clock):
    return PanelRepository(service.db, clock=clock)


@pytest.fixture
async def documents(service, clock):
    return DocumentRepository(service.db, clock=clock)


# ---- panels -------------------------------------------------------------------------------------

async def test_panel_round_trip(service, panels, clock):
    room, _ = await service.create_room("Council")
    created = await panels.create(room.id, "Air quality — centre", "timeseries", SOURCE, OPTIONS,
                                  created_by="p_host")
    assert len(created["id"]) == 32 and created["created_at"] == created["updated_at"] == clock.now
    fetched = await panels.get(created["id"])
    assert fetched == created and fetched["source"] == SOURCE and fetched["options"] == OPTIONS
    assert panel_spec_dict(fetched) == {"id": created["id"], "room_id": room.id, "title": "Air quality — centre",
                                        "kind": "timeseries", "source": SOURCE, "options": OPTIONS}
    # A PanelSpec-shaped dict goes straight in.
    spec = {"id": "a" * 32, "room_id": room.id, "title": "KPIs", "kind": "kpi", "source": SOURCE, "options": {}}
    clock.advance(timedelta(seconds=1))
    await panels.create(**spec, created_by=None)
    assert [p["id"] for p in await panels.list(room.id)] == [created["id"], "a" * 32]
    with pytest.raises(ValidationError):
        await panels.create(**spec)  # the id is taken
    # Update.
    clock.advance(timedelta(minutes=5))
    updated = await panels.update(created["id"], title="Air quality", options={"decimals": 0})
    assert updated["title"] == "Air quality" and updated["options"] == {"decimals": 0}
    assert updated["source"] == SOURCE and updated["updated_at"] == clock.now
    assert updated["created_at"] == created["created_at"]
    assert (await panels.get(created["id"]))["options"] == {"decimals": 0}
    async with service.db.session() as session:
        raw = (await session.execute(text("SELECT title, kind, created_by FROM panels WHERE id = :id"),
                                     {"id": created["id"]})).one()
    assert tuple(raw) == ("Air quality", "timeseries", "p_host")
    # Scoping to another room hides it.
    other, _ = await service.create_room("Other")
    assert await panels.get(created["id"], room_id=other.id) is None
    assert await panels.update(created["id"], room_id=other.id, title="x") is None
    assert await panels.delete(created["id"], room_id=other.id) is False
    assert await panels.list(other.id) == []
    # Delete.
    assert await panels.delete(created["id"], room_id=room.id) is True
    assert await panels.delete(created["id"]) is False and await panels.get(created["id"]) is None
    assert await panels.update("nosuch", title="x") is None and await panels.get(None) is None


@pytest.mark.parametrize("kwargs", [
    {"title": ""}, {"title": "t" * 121}, {"kind": ""}, {"kind": "k" * 17}, {"source": "not a dict"},
    {"source": {"x": object()}}, {"options": [1, 2]}, {"options": {"big": "x" * 70_000}},
    {"created_by": "c" * 65}, {"id": "i" * 33}, {"title": "a\x00b"},
])
async def test_panel_validation(service, panels, kwargs):
    room, _ = await service.create_room("Council")
    args = {"title": "T", "kind": "kpi", "source": SOURCE, "options": {}} | kwargs
    with pytest.raises(ValidationError):
        await panels.create(room.id, **args)
    assert await panels.list(room.id) == []


async def test_panels_need_a_room_and_go_with_it(service, panels):
    with pytest.raises(RoomNotFound):
        await panels.create("nosuchroom", "T", "kpi", SOURCE)
    room, _ = await service.create_room("Council")
    await panels.create(room.id, "T", "kpi", SOURCE)
    async with service.db.session() as session:
        await session.execute(delete(Room).where(Room.id == room.id))
        assert await session.scalar(select(func.count()).select_from(Panel)) == 0


async def test_a_panel_stored_before_cities_still_runs_as_seoul(service, panels):
    """Rows written before sources had a ``city`` load, poll Seoul, and keep their city once saved."""
    from rooms.panels.cities import CITIES
    from rooms.panels.feed import CityFeed
    from rooms.panels.sources import make_source
    from rooms.panels.spec import PanelSpec

    room, _ = await service.create_room("Council")
    old = await panels.create(room.id, "PM2.5", "timeseries", SOURCE, {"pollutant": "pm25"})
    lisbon_spec = PanelSpec.new(room.id, "PM2.5, Lisbon", "timeseries", {**SOURCE, "city": "lisbon"})
    lisbon = await panels.create(**lisbon_spec.to_dict())
    world = CityFeed(0)
    by_title = {}
    for row in await panels.list(room.id):
        spec = PanelSpec.from_dict(panel_spec_dict(row))
        by_title[row["title"]] = (spec, await make_source(spec, world).fetch())
    spec, data = by_title["PM2.5"]
    assert "city" not in old["source"] and spec.source["city"] == "seoul"
    assert set(data["series"]) == set(CITIES["seoul"].districts)
    spec, data = by_title["PM2.5, Lisbon"]
    assert lisbon["source"]["city"] == "lisbon" and set(data["series"]) == set(CITIES["lisbon"].districts)


# ---- documents ----------------------------------------------------------------------------------

async def test_document_round_trip(service, documents, clock, tmp_path):
    room, _ = await service.create_room("Council")
    created = await documents.create(room.id, title="Budget 2027", filename="budget-2027.pdf", kind="pdf",
                                     size_bytes=12_345_678_901, sha256=SHA, storage_dir=str(tmp_path / "d"),
                                     mime="application/pdf", created_by="p_staff")
    assert created["id"].startswith("d_") and created["status"] == "processing"
    assert (created["page_count"], created["error"], created["created_at"]) == (0, None, clock.now)
    assert await documents.get(created["id"]) == created
    ready = await documents.update_status(created["id"], "ready", page_count=3,
                                          page_sizes=[[595.0, 842.0], [842.0, 595.0], [595.0, 842.0]])
    assert (ready["status"], ready["page_count"], ready["page_sizes"][1]) == ("ready", 3, [842.0, 595.0])
    assert (await documents.get(created["id"]))["size_bytes"] == 12_345_678_901  # a BIGINT
    clock.advance(timedelta(seconds=1))
    image = await documents.create(room.id, title="Map", filename="map.png", kind="image", size_bytes=10,
                                   sha256=SHA, storage_dir="/var/x", page_count=1, id="d_map")
    failed = await documents.update_status("d_map", "failed", error="broken_file: " + "x" * 600)
    assert failed["status"] == "failed" and len(failed["error"]) == 500
    assert (await documents.update_status("d_map", "processing"))["error"] is None
    assert [d["id"] for d in await documents.list(room.id)] == [created["id"], image["id"]]
    assert [d["id"] for d in await documents.list(room.id, status="ready")] == [created["id"]]
    async with service.db.session() as session:
        raw = (await session.execute(text("SELECT kind, status, page_count FROM documents ORDER BY created_at"))).all()
    assert [tuple(r) for r in raw] == [("pdf", "ready", 3), ("image", "processing", 1)]
    # Scoping and deleting.
    other, _ = await service.create_room("Other")
    assert await documents.get("d_map", room_id=other.id) is None
    assert await documents.update_status("d_map", "ready", room_id=other.id) is None
    assert await documents.delete("d_map", room_id=other.id) is None
    deleted = await documents.delete("d_map")
    assert deleted["storage_dir"] == "/var/x" and await documents.get("d_map") is None
    assert await documents.delete("d_map") is None
    assert await documents.update_status("nosuch", "ready") is None


@pytest.mark.parametrize("kwargs", [
    {"kind": "docx"}, {"status": "done"}, {"sha256": "abc"}, {"sha256": SHA.upper()}, {"size_bytes": -1},
    {"size_bytes": True}, {"page_count": -2}, {"filename": ""}, {"filename": "f" * 256},
    {"storage_dir": ""}, {"title": "t" * 121}, {"page_sizes": {"not": "a list"}},
])
async def test_document_validation(service, documents, kwargs):
    room, _ = await service.create_room("Council")
    args = {"title": "T", "filename": "t.pdf", "kind": "pdf", "size_bytes": 1, "sha256": SHA,
            "storage_dir": "/x"} | kwargs
    with pytest.raises(ValidationError):
        await documents.create(room.id, **args)
    assert await documents.list(room.id) == []


async def test_document_status_is_checked_in_the_database_too(service):
    room, _ = await service.create_room("Council")
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with service.db.session() as session:
            session.add(Document(room_id=room.id, title="T", filename="t", kind="pdf", status="bogus",
                                 size_bytes=1, sha256=SHA, storage_dir="/x", created_at=datetime.now(UTC)))
    with pytest.raises(ValidationError):
        await DocumentRepository(service.db).update_status("d_x", "bogus")


async def test_documents_need_a_room_and_go_with_it(service, documents):
    with pytest.raises(RoomNotFound):
        await documents.create("nosuchroom", title="T", filename="t.pdf", kind="pdf", size_bytes=1,
                               sha256=SHA, storage_dir="/x")
    room, _ = await service.create_room("Council")
    await documents.create(room.id, title="T", filename="t.pdf", kind="pdf", size_bytes=1, sha256=SHA,
                           storage_dir="/x")
    async with service.db.session() as session:
        await session.execute(delete(Room).where(Room.id == room.id))
        assert await session.scalar(select(func.count()).select_from(Document)) == 0


# ---- migration 0002 on a database with data -----------------------------------------------------

def _downgrade(connection, url, revision):
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_0002_upgrades_existing_data_and_downgrades_cleanly(db):
    await db.upgrade("0001")
    now = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    async with db.engine.begin() as connection:
        await connection.execute(text("INSERT INTO rooms (id, title, created_at, locked, lobby_enabled) "
                                      "VALUES ('old', 'Old room', :t, true, false)"), {"t": now})
        await connection.execute(text("INSERT INTO invites (id, room_id, role, created_at) "
                                      "VALUES ('i_old', 'old', 'participant', :t)"), {"t": now})
        await connection.execute(text("INSERT INTO participants (id, room_id, invite_id, name, role, joined_at) "
                                      "VALUES ('p_old', 'old', 'i_old', 'Ana', 'participant', :t)"), {"t": now})
    await db.upgrade()
    assert await db.current_revision() == "0006"
    async with db.session() as session:
        room = await session.get(Room, "old")
        assert (room.locked, room.allow_self_unmute, room.ended_at) == (True, True, None)
        assert (room.city, room.starts_at, room.ends_at) == (None, None, None)  # 0003
        assert (await session.execute(text("SELECT code FROM invites"))).scalar_one() is None
        assert (await session.execute(text("SELECT removed FROM participants"))).scalar_one() in (False, 0)
        # 0004: the invite's uses start with the joins already made on it
        assert (await session.execute(text("SELECT uses FROM invites"))).scalar_one() == 1
        # 0006: nothing scheduled, opened or kept for a while; no invite waits to open
        assert (room.agenda, room.time_zone, room.opened_at, room.record_retention_days) == (None,) * 4
        assert (await session.execute(text("SELECT not_before FROM invites"))).scalar_one() is None
    async with db.engine.begin() as connection:
        await connection.run_sync(_downgrade, db.url, "0001")
    assert await db.current_revision() == "0001"
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("rooms")})
        counts = [(await connection.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                  for t in ("rooms", "invites", "participants")]
    assert not tables & {"chat_messages", "timeline_events", "panels", "documents", "delegations"}
    assert "allow_self_unmute" not in columns and "ended_at" not in columns
    assert counts == [1, 1, 1]  # no cascade on the way down
    assert "city" not in columns and "agenda" not in columns and "opened_at" not in columns
    await db.upgrade()
    assert await db.current_revision() == "0006"
