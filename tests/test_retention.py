"""Retention of meeting records (issue "records": "A retention setting per room deletes old records
and recordings"): ``rooms/retention.py`` on a real database (SQLite, and PostgreSQL where
reachable) and real folders, and the setting over HTTP and the server's periodic sweep against a
real ``sitroom serve``.

Old rows and recording folders go, recent ones and open joins stay, rooms without a retention keep
everything, the room's ``manifest.json`` loses the removed recordings, a symbolic link is never
followed out of the recordings folder, a broken manifest or a failing room does not stop the sweep.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
import urllib.error
import urllib.request
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rooms import retention
from rooms.db import Database
from rooms.errors import ValidationError
from rooms.models import ChatMessage, Participant, Room, TimelineEvent
from rooms.retention import sweep
from rooms.scheduling import MeetingRequest, Scheduler
from rooms.service import retention_days
from server.cli import _parser, build_config
from server.config import ConfigError, from_env
from tests.conftest import ORGANISER_KEY, organiser_header, start_server, stop_server
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures

pytestmark = pytest.mark.timeout(120)

DAY = timedelta(days=1)
BAD_DAYS = [0, -1, 3651, 10**9, True, "30", 30.5, [30], {"days": 30}]
WORDS = "'record_retention_days' must be a whole number of days from 1 to 3650, or null"


# ---- helpers: a room's record as rows, and its recordings as folders --------------------------------

async def add_rows(db: Database, room_id: str, when: datetime, *, text: str, left: bool = True) -> str:
    """One closed join (or an open one), one chat message and one timeline event, all at ``when``;
    returns the participant's id."""
    async with db.session() as session:
        participant = Participant(room_id=room_id, name=f"Person {text}", role="participant",
                                  joined_at=when - timedelta(hours=1), left_at=when if left else None)
        session.add(participant)
        await session.flush()
        session.add(ChatMessage(room_id=room_id, participant_id=participant.id, author_name=participant.name,
                                author_role="participant", text=text, created_at=when))
        session.add(TimelineEvent(room_id=room_id, kind="join", actor_id=participant.id, created_at=when,
                                  details={"text": text}))
        return participant.id


async def texts(db: Database, room_id: str) -> set[str]:
    async with db.session() as session:
        return set(await session.scalars(select(ChatMessage.text).where(ChatMessage.room_id == room_id)))


async def event_texts(db: Database, room_id: str) -> set[str]:
    async with db.session() as session:
        return {e["text"] for e in await session.scalars(
            select(TimelineEvent.details).where(TimelineEvent.room_id == room_id))}


async def participant_ids(db: Database, room_id: str) -> set[str]:
    async with db.session() as session:
        return set(await session.scalars(select(Participant.id).where(Participant.room_id == room_id)))


def age(path: Path, when: datetime) -> None:
    """Give ``path`` and everything under it ``when`` as modification time (links themselves)."""
    stamp = when.timestamp()
    for directory, subdirs, names in os.walk(path, topdown=False):
        for name in subdirs + names:
            os.utime(os.path.join(directory, name), (stamp, stamp), follow_symlinks=False)
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def recording(room_folder: Path, recording_id: str, stopped: datetime | None, *, sizes=(1000, 2345),
              written: datetime | None = None) -> int:
    """A recording folder as media/recorder.py leaves it (with its manifest if ``stopped`` is
    given, as an unfinished one has none), its files last written at ``written``; returns its bytes."""
    folder = room_folder / recording_id
    folder.mkdir(parents=True)
    tracks = []
    for i, size in enumerate(sizes):
        name = f"track{i}.webm"
        (folder / name).write_bytes(os.urandom(size))
        tracks.append({"file": name, "kind": "video" if i else "audio"})
    total = sum(sizes)
    if stopped is not None:
        data = {"id": recording_id, "room": room_folder.name,
                "started": (stopped - timedelta(hours=1)).isoformat(timespec="milliseconds"),
                "stopped": stopped.isoformat(timespec="milliseconds"), "duration": 3600.0, "tracks": tracks}
        (folder / "manifest.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
        total += (folder / "manifest.json").stat().st_size
    age(folder, written or stopped or datetime.now(UTC))
    return total


def room_manifest(room_folder: Path, recording_ids: list[str]) -> dict:
    """The room's own manifest.json listing ``recording_ids`` (as add_to_room_manifest writes it)."""
    data = {"room_id": room_folder.name, "recordings": [], "tracks": []}
    for rid in recording_ids:
        data["recordings"].append({"id": rid, "started": "x", "stopped": "y", "duration": 1.0})
        data["tracks"] += [{"file": f"{rid}/track{i}.webm", "recording": rid, "kind": "video"} for i in range(2)]
    (room_folder / "manifest.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data


# ---- the sweep, on a real database and real folders --------------------------------------------------

async def test_old_records_and_recordings_go_recent_ones_and_rooms_without_retention_stay(
        db, service, clock, tmp_path):
    root = tmp_path / "recordings"
    now = clock()
    kept_room, _ = await service.create_room("Council, 30 days", record_retention_days=30)
    forever, _ = await service.create_room("Council, kept for ever")
    assert forever.record_retention_days is None

    old, recent = now - 31 * DAY, now - 29 * DAY
    sizes, listed, joins = {}, {}, {}
    for room in (kept_room, forever):
        joins[room.id] = [await add_rows(db, room.id, old, text="old"),
                          await add_rows(db, room.id, old, text="old but still in", left=False),
                          await add_rows(db, room.id, recent, text="recent")]
        folder = root / room.id
        sizes[room.id] = {
            "rec_old": recording(folder, "rec_old", stopped=old),
            "rec_recent": recording(folder, "rec_recent", stopped=recent),
            # written to long ago and never finished (the server died): dated by its files
            "rec_abandoned": recording(folder, "rec_abandoned", stopped=None, written=now - 40 * DAY),
            # being written now: no manifest yet, its folder created long ago, its files written now
            "rec_running": recording(folder, "rec_running", stopped=None, written=now - 40 * DAY),
            # what the server says is running is never touched, however it looks
            "rec_live": recording(folder, "rec_live", stopped=None, written=now - 40 * DAY),
        }
        os.utime(folder / "rec_running" / "track1.webm")  # (written to just now)
        listed[room.id] = room_manifest(folder, ["rec_old", "rec_recent"])
    old_id, still_in, recent_id = joins[kept_room.id]
    # a chat message written after the cutoff by a join that ended before it keeps its text
    async with db.session() as session:
        session.add(ChatMessage(room_id=kept_room.id, participant_id=old_id, author_name="Person old",
                                author_role="participant", text="late", created_at=recent))

    report = await sweep(db, root, now, running={"rec_live"})

    assert report.rooms == 1 and report.failed == []
    # (the chat and timeline of a join still open are as old as they are: they go)
    assert (report.chat_messages, report.timeline_events, report.participants) == (2, 2, 1)
    assert report.recordings == 2
    assert report.bytes_freed == sizes[kept_room.id]["rec_old"] + sizes[kept_room.id]["rec_abandoned"]
    assert sorted(report.by_room[kept_room.id].recordings) == ["rec_abandoned", "rec_old"]
    assert set(report.by_room) == {kept_room.id}

    # the 30-day room: old rows gone; recent ones and the join still open kept
    assert await texts(db, kept_room.id) == {"recent", "late"}
    assert await event_texts(db, kept_room.id) == {"recent"}
    assert old_id not in await participant_ids(db, kept_room.id)
    assert {still_in, recent_id} <= await participant_ids(db, kept_room.id)
    async with db.session() as session:  # (the foreign key: ON DELETE SET NULL)
        late = await session.scalar(select(ChatMessage).where(ChatMessage.text == "late"))
        assert (late.participant_id, late.author_name) == (None, "Person old")
    folder = root / kept_room.id
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "rec_live", "rec_recent", "rec_running"]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in manifest["recordings"]] == ["rec_recent"]
    assert {t["recording"] for t in manifest["tracks"]} == {"rec_recent"} and len(manifest["tracks"]) == 2
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]

    # the room without a retention: everything is there
    assert await texts(db, forever.id) == {"old", "old but still in", "recent"}
    assert len(await participant_ids(db, forever.id)) == 3
    assert sorted(p.name for p in (root / forever.id).iterdir()) == [
        "manifest.json", "rec_abandoned", "rec_live", "rec_old", "rec_recent", "rec_running"]
    assert json.loads((root / forever.id / "manifest.json").read_text()) == listed[forever.id]

    # a second sweep finds nothing more; a day later's cutoff takes the recent ones too
    again = await sweep(db, root, now, running={"rec_live"})
    assert (again.rooms, again.by_room, again.bytes_freed) == (1, {}, 0)
    later = await sweep(db, root, now + 2 * DAY, running={"rec_live"})
    assert later.by_room[kept_room.id].recordings == ["rec_recent"]
    assert await texts(db, kept_room.id) == set()
    assert await participant_ids(db, kept_room.id) == {still_in}
    assert json.loads((folder / "manifest.json").read_text())["recordings"] == []


async def test_a_symbolic_link_is_never_followed_out_of_the_recordings(db, service, clock, tmp_path):
    root, outside = tmp_path / "data" / "recordings", tmp_path / "outside"
    outside.mkdir()
    precious = outside / "sitroom.db"
    precious.write_bytes(b"the database" * 1000)
    (outside / "folder").mkdir()
    (outside / "folder" / "keep.txt").write_text("keep me")
    now = clock()
    room, _ = await service.create_room("Links", record_retention_days=1)
    folder = root / room.id
    size = recording(folder, "rec_old", stopped=now - 10 * DAY)
    (folder / "rec_old" / "database.webm").symlink_to(precious)
    (folder / "rec_old" / "folder").symlink_to(outside / "folder", target_is_directory=True)
    (folder / "rec_linked").symlink_to(outside / "folder", target_is_directory=True)  # not a recording
    age(folder / "rec_old", now - 10 * DAY)
    # a room folder that is itself a link is not swept at all
    other, _ = await service.create_room("Linked room", record_retention_days=1)
    elsewhere = tmp_path / "elsewhere"
    recording(elsewhere, "rec_old", stopped=now - 10 * DAY)
    (root / other.id).symlink_to(elsewhere, target_is_directory=True)

    report = await sweep(db, root, now)

    assert report.failed == [] and report.by_room[room.id].recordings == ["rec_old"]
    assert report.bytes_freed == size  # the links' targets are not counted, nor deleted
    assert not (folder / "rec_old").exists()
    assert precious.read_bytes() == b"the database" * 1000
    assert (outside / "folder" / "keep.txt").read_text() == "keep me"
    assert (folder / "rec_linked").is_symlink()
    assert (elsewhere / "rec_old" / "manifest.json").is_file() and other.id not in report.by_room


async def test_a_broken_manifest_does_not_stop_the_sweep(db, service, clock, tmp_path):
    root, now = tmp_path / "recordings", clock()
    broken, _ = await service.create_room("Broken manifests", room_id="a-broken", record_retention_days=5)
    fine, _ = await service.create_room("Fine", room_id="b-fine", record_retention_days=5)
    folder = root / broken.id
    for name, text, written in [("rec_garbage_old", "{not json", now - 9 * DAY),
                                ("rec_garbage_new", "{not json", now - DAY),
                                ("rec_no_stop_old", json.dumps({"id": "x", "stopped": "last week"}), now - 9 * DAY),
                                ("rec_list_old", "[1, 2, 3]", now - 9 * DAY)]:
        recording(folder, name, stopped=None, written=written)
        (folder / name / "manifest.json").write_text(text, encoding="utf-8")
        age(folder / name, written)
    (folder / "manifest.json").write_text("[[[ not a manifest", encoding="utf-8")
    recording(root / fine.id, "rec_old", stopped=now - 9 * DAY)
    room_manifest(root / fine.id, ["rec_old"])
    await add_rows(db, fine.id, now - 9 * DAY, text="old")

    report = await sweep(db, root, now)

    assert report.failed == []
    assert sorted(report.by_room[broken.id].recordings) == ["rec_garbage_old", "rec_list_old", "rec_no_stop_old"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "rec_garbage_new"]
    assert (folder / "manifest.json").read_text() == "[[[ not a manifest"  # left as it was
    assert report.by_room[fine.id].recordings == ["rec_old"] and await texts(db, fine.id) == set()
    assert json.loads((root / fine.id / "manifest.json").read_text())["recordings"] == []


async def test_a_failing_room_is_logged_and_the_others_are_swept(db, service, clock, tmp_path, monkeypatch, caplog):
    root, now = tmp_path / "recordings", clock()
    first, _ = await service.create_room("First", room_id="a-first", record_retention_days=2)
    second, _ = await service.create_room("Second", room_id="b-second", record_retention_days=2)
    for room in (first, second):
        await add_rows(db, room.id, now - 3 * DAY, text="old")
        recording(root / room.id, "rec_old", stopped=now - 3 * DAY)
    real = retention._room_folder

    def failing(root_path, room_id):
        if room_id == first.id:
            raise RuntimeError("disk on fire")
        return real(root_path, room_id)

    monkeypatch.setattr(retention, "_room_folder", failing)
    with caplog.at_level("INFO", logger="sitroom.retention"):
        report = await sweep(db, root, now)
    assert report.failed == [first.id]
    assert "deleting the old recordings of room a-first failed" in caplog.text
    assert "disk on fire" in caplog.text
    # the failing room's rows went (that step worked), its recording stayed; the next room swept
    assert await texts(db, first.id) == set() and (root / first.id / "rec_old").is_dir()
    assert report.by_room[second.id].recordings == ["rec_old"] and not (root / second.id / "rec_old").exists()
    assert f"retention: room {second.id} (kept 2 days" in caplog.text


async def test_no_recordings_folder_and_no_rooms_with_a_retention(db, service, clock, tmp_path):
    await service.create_room("Kept for ever")
    report = await sweep(db, tmp_path / "missing", clock())
    assert (report.rooms, report.by_room, report.failed) == (0, {}, [])
    room, _ = await service.create_room("Kept a week", record_retention_days=7)
    await add_rows(db, room.id, clock() - 8 * DAY, text="old")
    report = await sweep(db, tmp_path / "missing", clock())
    assert report.rooms == 1 and report.chat_messages == 1 and report.recordings == 0
    with pytest.raises(ValueError, match="aware"):
        await sweep(db, tmp_path, clock().replace(tzinfo=None))


# ---- the setting, in the domain ------------------------------------------------------------------------

@pytest.mark.parametrize("value", BAD_DAYS)
def test_a_retention_is_whole_days_from_1_to_3650_or_null(value):
    with pytest.raises(ValidationError, match=WORDS.replace("(", r"\(")):
        retention_days(value)


def test_good_retentions():
    assert [retention_days(v) for v in (None, 1, 30, 3650)] == [None, 1, 30, 3650]


async def test_the_setting_is_stored_on_create_schedule_and_change(db, service):
    room, _ = await service.create_room("Stored", record_retention_days=30)
    with pytest.raises(ValidationError, match="from 1 to 3650"):
        await service.create_room("Refused", record_retention_days=0)
    assert (await service.set_retention(room.id, 7)).record_retention_days == 7
    with pytest.raises(ValidationError):
        await service.set_retention(room.id, 4000)
    assert (await service.get_room(room.id)).record_retention_days == 7
    assert (await service.set_retention(room.id, None)).record_retention_days is None
    request = MeetingRequest.parse(title="Scheduled", agenda="", duration_minutes=60, delegations=[],
                                   start={"date": "2027-03-10", "time": "09:00", "time_zone": "Europe/Lisbon"},
                                   record_retention_days=90)
    view = await Scheduler(service).schedule(request)
    assert view.room.record_retention_days == 90
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Room).where(Room.title == "Refused")) == 0
        assert (await session.get(Room, view.room.id)).record_retention_days == 90


def test_the_sweep_interval_by_flag_or_env():
    assert from_env({}).retention_interval_s == 3600.0  # an hour by default
    assert from_env({"SITROOM_RETENTION_INTERVAL": "0"}).retention_interval_s == 0.0  # off
    assert build_config(_parser().parse_args(["serve", "--retention-interval", "90"])).retention_interval_s == 90.0
    with pytest.raises(ConfigError, match="not a number"):
        from_env({"SITROOM_RETENTION_INTERVAL": "hourly"})
    for bad in ("-1", "nan", "1e9"):
        with pytest.raises(ConfigError, match="retention interval must be 0"):
            from_env({"SITROOM_RETENTION_INTERVAL": bad}).validate()


# ---- over HTTP, and the server's periodic sweep ----------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retention")
    srv = start_server(tmp, "--media-workers", "0", "--retention-interval", "0.5")
    srv.data = tmp / "data"
    yield srv
    stop_server(srv)


def call(server, path: str, method: str = "GET", body=None, key: str | None = ORGANISER_KEY):
    """-> (status, JSON answer)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base_url + path, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}), **organiser_header(key)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def rows(server, sql: str, *args) -> list[tuple]:
    with closing(sqlite3.connect(server.data / "sitroom.db", timeout=10)) as conn:
        return conn.execute(sql, args).fetchall()


def meeting_body(**more) -> dict:
    start = datetime.now(UTC) + 3 * DAY
    return {"title": "Budget hearing", "start": {"date": start.date().isoformat(), "time": "10:00",
                                                 "time_zone": "Europe/Lisbon"}, "duration_minutes": 60, **more}


def test_the_organiser_sets_the_retention_over_http(server):
    status, created = call(server, "/api/rooms", "POST", {"title": "Kept 30 days", "record_retention_days": 30})
    assert status == 201 and created["room"]["record_retention_days"] == 30
    room_id = created["room"]["id"]
    assert rows(server, "SELECT record_retention_days FROM rooms WHERE id = ?", room_id) == [(30,)]
    status, plain = call(server, "/api/rooms", "POST", {"title": "Kept for ever"})
    assert status == 201 and plain["room"]["record_retention_days"] is None

    rooms_before = rows(server, "SELECT COUNT(*) FROM rooms")
    for value in BAD_DAYS:
        for path, body in [("/api/rooms", {"title": "Refused", "record_retention_days": value}),
                           ("/api/meetings", meeting_body(record_retention_days=value))]:
            status, refused = call(server, path, "POST", body)
            assert (status, refused["error"]["code"]) == (400, "bad_request"), (path, value, refused)
            assert WORDS in refused["error"]["message"]
    assert rows(server, "SELECT COUNT(*) FROM rooms") == rooms_before

    status, meeting = call(server, "/api/meetings", "POST", meeting_body(record_retention_days=90))
    assert status == 201 and meeting["room"]["record_retention_days"] == 90
    meeting_id = meeting["room"]["id"]
    assert call(server, f"/api/meetings/{meeting_id}")[1]["room"]["record_retention_days"] == 90
    listed = call(server, "/api/meetings")[1]
    assert {r["id"]: r["record_retention_days"] for r in listed["upcoming"]}[meeting_id] == 90

    # changed later, on any room (the rooms made by POST /api/rooms are the organiser's "unscheduled")
    path = f"/api/meetings/{room_id}/retention"
    status, changed = call(server, path, "PATCH", {"record_retention_days": 7})
    assert (status, changed["room"]["id"], changed["room"]["record_retention_days"]) == (200, room_id, 7)
    assert rows(server, "SELECT record_retention_days FROM rooms WHERE id = ?", room_id) == [(7,)]
    assert call(server, f"/api/meetings/{room_id}")[1]["room"]["record_retention_days"] == 7
    for body, words in [({}, "'record_retention_days' is required"), ({"record_retention_days": 0}, WORDS),
                        ({"record_retention_days": "7"}, WORDS), ({"days": 7}, "is required")]:
        status, refused = call(server, path, "PATCH", body)
        assert (status, refused["error"]["code"]) == (400, "bad_request") and words in refused["error"]["message"]
    status, refused = call(server, path, "PATCH", {"record_retention_days": 1}, key=None)
    assert (status, refused["error"]["code"]) == (401, "organiser_key_required")
    status, refused = call(server, path, "PATCH", {"record_retention_days": 1}, key="not-the-key")
    assert (status, refused["error"]["code"]) == (403, "organiser_key_invalid")
    host_token = created["links"]["host"].split("?t=")[1]
    assert call(server, path, "PATCH", {"record_retention_days": 1}, key=host_token)[0] == 403
    assert rows(server, "SELECT record_retention_days FROM rooms WHERE id = ?", room_id) == [(7,)]
    status, missing = call(server, "/api/meetings/no-such-room/retention", "PATCH", {"record_retention_days": 1})
    assert (status, missing["error"]["code"]) == (404, "room_not_found")
    status, cleared = call(server, path, "PATCH", {"record_retention_days": None})
    assert status == 200 and cleared["room"]["record_retention_days"] is None
    assert rows(server, "SELECT record_retention_days FROM rooms WHERE id = ?", room_id) == [(None,)]
    assert call(server, "/healthz", key=None) == (200, {"ok": True})


async def test_the_server_sweeps_on_its_own_every_interval(server):
    status, created = call(server, "/api/rooms", "POST", {"title": "Swept", "record_retention_days": 1})
    assert status == 201
    room_id = created["room"]["id"]
    now = datetime.now(UTC)
    # added after the server's first sweep (at start): only a later, periodic one can remove them
    database = Database(f"sqlite+aiosqlite:///{server.data / 'sitroom.db'}")
    try:
        await add_rows(database, room_id, now - 2 * DAY, text="old")
        await add_rows(database, room_id, now - timedelta(hours=2), text="recent")
    finally:
        await database.dispose()
    folder = server.data / "recordings" / room_id
    recording(folder, "rec_old", stopped=now - 3 * DAY)
    recording(folder, "rec_recent", stopped=now - timedelta(hours=3))
    room_manifest(folder, ["rec_old", "rec_recent"])

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (folder / "rec_old").exists() or rows(server, "SELECT COUNT(*) FROM chat_messages WHERE room_id = ? AND "
                                                         "text = 'old'", room_id) != [(0,)]:
            await asyncio.sleep(0.2)
            continue
        break
    assert not (folder / "rec_old").exists(), server.log()[-3000:]
    assert rows(server, "SELECT text FROM chat_messages WHERE room_id = ?", room_id) == [("recent",)]
    assert rows(server, "SELECT COUNT(*) FROM participants WHERE room_id = ?", room_id) == [(1,)]
    assert (folder / "rec_recent" / "manifest.json").is_file()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [r["id"] for r in manifest["recordings"]] == ["rec_recent"]
    deadline = time.monotonic() + 10  # (the log line follows the deletion)
    while f"retention: room {room_id}" not in server.log() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert f"retention: room {room_id} (kept 1 days" in server.log()
