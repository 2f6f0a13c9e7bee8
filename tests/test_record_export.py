"""The meeting record (issue "records", "The meeting record"): after (and during) a meeting held over
real Socket.IO against a ``sitroom serve`` process, ``GET /api/rooms/{id}/record`` gives a ZIP whose
``record.json``, CSV files and printable report match the database row for row (attendance, chat,
timeline, read with sqlite3 from the server's file), with Korean and Portuguese names intact and
a ``<script>`` in the chat escaped; the recordings folder's files are packed as they are. Only the
organiser key and a host invite of the room open it; the route has its own rate limit. Plus the
domain's grouping of joins into people on SQLite and PostgreSQL (``rooms/record.py``)."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import os
import sqlite3
import zipfile
from contextlib import closing
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import aiohttp
import pytest

from rooms.meeting import LiveParticipant
from rooms.record import GROUPING, load_record, record_filename, write_zip
from rooms.timeline import Timeline
from tests.conftest import ORGANISER_KEY, start_server, stop_server
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures
from tests.sio_helpers import ProtocolClient

pytestmark = pytest.mark.timeout(120)

PANEL = {"title": "Traffic now", "kind": "kpi",
         "source": {"type": "simulated", "feed": "traffic", "interval_s": 5}, "options": {}}
HOST = ("김민지", "서울특별시청")
GUEST = ("João Conceição", "Câmara Municipal de Lisboa")
OTHER = ("Ana Ribeiro", "")
SCRIPT = "Olá <script>alert('x')</script> & \"aspas\""
FORMULA = "=HYPERLINK(\"http://127.0.0.1/\",\"click\")"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("record")
    srv = start_server(tmp, "--media-workers", "0")
    srv.data = tmp / "data"
    yield srv
    stop_server(srv)


def token_of(link: str) -> str:
    return link.split("?t=", 1)[1]


def new_room(server, title: str, city: str | None = None) -> dict:
    room = server.post_json("/api/rooms", {"title": title, **({"city": city} if city else {})}, ORGANISER_KEY)
    room["host"] = token_of(room["links"]["host"])
    room["participant"] = token_of(room["links"]["participant"])
    return room


async def fetch(server, path: str, token: str | None = None, query: dict | None = None) -> tuple[int, dict, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http:
        async with http.get(server.base_url + path, headers=headers, params=query or {}) as response:
            return response.status, dict(response.headers), await response.read()


# ---- the database, as the server wrote it --------------------------------------------------------------

def _rows(server, sql: str, *args) -> list[tuple]:
    with closing(sqlite3.connect(server.data / "sitroom.db", timeout=10)) as conn:
        return conn.execute(sql, args).fetchall()


def _time(text: str | None) -> datetime | None:
    """A timestamp as SQLite holds it (naive UTC text) -> aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def db_attendance(server, room_id: str) -> list[dict]:
    rows = _rows(server, "SELECT id, name, organisation, role, joined_at, left_at, removed FROM participants "
                         "WHERE room_id = ? ORDER BY joined_at, id", room_id)
    return [{"participant_id": pid, "name": name, "organisation": org, "role": role,
             "joined": _time(joined), "left": _time(left), "removed": bool(removed)}
            for pid, name, org, role, joined, left, removed in rows]


def db_chat(server, room_id: str) -> list[dict]:
    rows = _rows(server, "SELECT id, participant_id, author_name, author_role, text, created_at FROM chat_messages "
                         "WHERE room_id = ? ORDER BY id", room_id)
    return [{"id": f"m_{mid}", "participant_id": pid, "name": name, "role": role, "text": text,
             "sent_at": _iso(_time(at))} for mid, pid, name, role, text, at in rows]


def db_timeline(server, room_id: str) -> list[dict]:
    rows = _rows(server, "SELECT id, kind, actor_id, actor_name, target_id, target_name, details, created_at "
                         "FROM timeline_events WHERE room_id = ? ORDER BY id", room_id)
    return [{"id": eid, "kind": kind, "actor_id": aid, "actor_name": aname, "target_id": tid, "target_name": tname,
             "details": (json.loads(details) if details else None) or {}, "at": _iso(_time(at))}
            for eid, kind, aid, aname, tid, tname, details, at in rows]


def merged_seconds(intervals: list[tuple[datetime, datetime]]) -> int:
    """Seconds at least one interval covers (stated independently of rooms/record.py)."""
    covered, current = 0.0, None
    for start, end in sorted(intervals):
        if current and start <= current[1]:
            current = (current[0], max(current[1], end))
        else:
            if current:
                covered += (current[1] - current[0]).total_seconds()
            current = (start, end)
    if current:
        covered += (current[1] - current[0]).total_seconds()
    return round(covered)


# ---- reading the ZIP -------------------------------------------------------------------------------

def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict]:
    raw = archive.read(name)
    assert raw.startswith(b"\xef\xbb\xbf"), f"{name} has no UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def cell(text: str) -> str:
    """What the CSV holds for a text: formulas neutralised with a leading quote."""
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def check_against_database(server, room_id: str, archive: zipfile.ZipFile) -> dict:
    """Every file of the ZIP against the database; returns record.json."""
    record = json.loads(archive.read("record.json").decode("utf-8"))
    generated = datetime.strptime(record["generated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    attendance = db_attendance(server, room_id)
    assert [a["participant_id"] for a in record["attendance"]] == [a["participant_id"] for a in attendance]
    for got, row in zip(record["attendance"], attendance):
        assert (got["name"], got["organisation"], got["role"], got["removed"]) == \
            (row["name"], row["organisation"], row["role"], row["removed"])
        assert got["city"] == ""  # participants have no city yet
        assert (got["joined_at"], got["left_at"], got["still_in"]) == (_iso(row["joined"]), _iso(row["left"]),
                                                                       row["left"] is None)
        if row["left"] is not None:
            assert got["seconds"] == round((row["left"] - row["joined"]).total_seconds())
        else:  # counted until the record was made (generated_at is whole seconds)
            assert abs(got["seconds"] - (generated - row["joined"]).total_seconds()) <= 1.5
    rows_csv = read_csv(archive, "attendance.csv")
    assert [(r["participant_id"], r["name"], r["organisation"], r["role"], r["joined_utc"], r["left_utc"],
             int(r["seconds"]), r["still_in"], r["person"]) for r in rows_csv] == \
        [(a["participant_id"], cell(a["name"]), cell(a["organisation"]), a["role"], a["joined_at"],
          a["left_at"] or "", a["seconds"], "yes" if a["still_in"] else "no", str(a["person"]))
         for a in record["attendance"]]

    # people: same name and organisation, their time the union of their joins
    groups: dict[tuple, list] = {}
    for got, row in zip(record["attendance"], attendance):
        key = (row["name"].casefold(), row["organisation"].casefold())
        # an open join ends at "now", which generated_at gives to the second below
        groups.setdefault(key, []).append((row["joined"], row["left"] or max(generated, row["joined"]), got["person"]))
    assert len(record["people"]) == len(groups) == record["meeting"]["people"]
    for person, (key, spans) in zip(record["people"], groups.items()):
        assert {number for _, _, number in spans} == {person["person"]}
        assert (person["name"].casefold(), person["organisation"].casefold()) == key
        assert person["joins"] == len(spans)
        assert abs(person["seconds"] - merged_seconds([(s, e) for s, e, _ in spans])) <= 2

    chat = db_chat(server, room_id)
    assert record["chat"] == chat
    assert [(r["id"], r["sent_utc"], r["name"], r["role"], r["text"], r["participant_id"])
            for r in read_csv(archive, "chat.csv")] == \
        [(m["id"], m["sent_at"], cell(m["name"]), m["role"], cell(m["text"]), m["participant_id"] or "")
         for m in chat]

    timeline = db_timeline(server, room_id)
    assert [{k: v for k, v in e.items() if k != "category"} for e in record["timeline"]] == timeline
    rows_csv = read_csv(archive, "timeline.csv")
    assert [(int(r["id"]), r["at_utc"], r["kind"], r["actor_name"], r["target_name"],
             json.loads(r["details"]) if r["details"] else {}) for r in rows_csv] == \
        [(e["id"], e["at"], e["kind"], e["actor_name"] or "", e["target_name"] or "", e["details"])
         for e in timeline]
    assert record["meeting"]["chat_messages"] == len(chat) and record["meeting"]["timeline_events"] == len(timeline)
    return record


# ---- a meeting -----------------------------------------------------------------------------------

async def until(check, what: str):
    """Wait (bounded) for the server to have written what ``check`` looks for."""
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the database never showed {what}")


async def test_the_record_of_a_meeting_matches_the_database(server):
    room = new_room(server, "Conselho Municipal — 서울 <b>bold</b>", city="seoul")
    room_id = room["room"]["id"]
    clients: list[ProtocolClient] = []

    async def join(token: str, who: tuple[str, str], **extra) -> tuple[ProtocolClient, dict]:
        client = await ProtocolClient(server.base_url).connect()
        clients.append(client)
        ack = await client.request("join", {"token": token, "name": who[0], "organisation": who[1], **extra})
        assert ack["ok"], ack
        return client, ack

    try:
        host, _ = await join(room["host"], HOST)
        guest, guest_ack = await join(room["participant"], GUEST)
        other, other_ack = await join(room["participant"], OTHER)
        assert (await host.request("chat_send", {"text": "안녕하세요 여러분, 회의를 시작합니다"}))["ok"]
        assert (await guest.request("chat_send", {"text": SCRIPT}))["ok"]
        assert (await other.request("chat_send", {"text": FORMULA}))["ok"]
        assert (await guest.request("hand", {"raised": True}))["ok"]
        assert (await other.request("hand", {"raised": True}))["ok"]
        assert (await host.request("hand", {"raised": False, "participant_id": guest_ack["self"]["id"]}))["ok"]
        assert (await host.request("mute", {"participant_id": other_ack["self"]["id"], "kind": "audio"}))["changed"]
        panel = (await host.request("panel_create", PANEL))["panel"]
        assert (await host.request("stage_set", {"kind": "panel", "panel_id": panel["id"]}))["ok"]
        # the guest drops out and comes back on its resume key (the same row), and opens a second device
        assert (await guest.request("leave", {}))["ok"]
        guest, back = await join(room["participant"], GUEST, resume_key=guest_ack["resume_key"])
        assert back["self"]["id"] == guest_ack["self"]["id"]
        phone, phone_ack = await join(room["participant"], (GUEST[0].upper(), GUEST[1]))
        assert phone_ack["self"]["id"] != guest_ack["self"]["id"]
        assert (await phone.request("chat_send", {"text": "Do telemóvel: ç ã õ é"}))["ok"]
        assert (await other.request("leave", {}))["ok"]
        await until(lambda: _rows(server, "SELECT left_at FROM participants WHERE id = ?",
                                  other_ack["self"]["id"])[0][0] is not None, "Ana's leave")

        recordings = server.data / "recordings" / room_id
        (recordings / "audio").mkdir(parents=True)
        media = os.urandom(300_000)
        (recordings / "host-camera.webm").write_bytes(media)
        (recordings / "audio" / "mix.txt").write_text("mixed audio notes ✓\n" * 100, encoding="utf-8")
        manifest = {"room_id": room_id, "tracks": [{"file": "host-camera.webm", "participant": HOST[0]}]}
        (recordings / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        (recordings / "database.webm").symlink_to(server.data / "sitroom.db")  # never followed

        # -- during the meeting: the host and the guest's two devices are still in
        status, headers, body = await fetch(server, f"/api/rooms/{room_id}/record", ORGANISER_KEY)
        assert status == 200, body[:300]
        assert headers["Content-Type"] == "application/zip"
        assert headers["Cache-Control"] == "no-store"
        disposition = headers["Content-Disposition"]
        day = _iso(db_attendance(server, room_id)[0]["joined"])[:10]
        assert disposition.startswith(f'attachment; filename="conselho-municipal-b-bold-b-{day}-record.zip"')
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == \
            f"conselho-municipal-서울-b-bold-b-{day}-record.zip"
        archive = zipfile.ZipFile(io.BytesIO(body))
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted([
            "record.json", "attendance.csv", "chat.csv", "timeline.csv", "report.html",
            "recordings/host-camera.webm", "recordings/manifest.json", "recordings/audio/mix.txt"])
        record = check_against_database(server, room_id, archive)
        assert (record["room"]["id"], record["room"]["city"], record["room"]["time_zone"]) == \
            (room_id, "seoul", "Asia/Seoul")
        assert record["meeting"]["still_in"] == 3 and record["meeting"]["last_leave"] is None
        assert [p["name"] for p in record["people"]] == [HOST[0], GUEST[0], OTHER[0]]
        joao = record["people"][1]
        assert joao["joins"] == 2 and joao["still_in"] and joao["roles"] == ["participant"]
        assert record["grouping"] == GROUPING
        kinds = [e["kind"] for e in record["timeline"]]
        assert {"join", "leave", "lower_hand", "mute", "panel_create", "stage_panel"} <= set(kinds)
        assert {e["category"] for e in record["timeline"] if e["kind"] in ("mute", "lower_hand")} == {"moderation"}
        assert {e["category"] for e in record["timeline"] if e["kind"] == "stage_panel"} == {"stage"}
        # the recordings, as they are on disk; media stored, not deflated
        assert archive.read("recordings/host-camera.webm") == media
        assert archive.getinfo("recordings/host-camera.webm").compress_type == zipfile.ZIP_STORED
        assert archive.getinfo("recordings/audio/mix.txt").compress_type == zipfile.ZIP_DEFLATED
        assert json.loads(archive.read("recordings/manifest.json")) == manifest
        assert record["recordings"]["manifest"] == manifest
        assert {f["name"]: f["size"] for f in record["recordings"]["files"]} == {
            "host-camera.webm": len(media), "manifest.json": (recordings / "manifest.json").stat().st_size,
            "audio/mix.txt": (recordings / "audio" / "mix.txt").stat().st_size}

        # the report: names as they are, everything from the database escaped, no script at all
        report = archive.read("report.html").decode("utf-8")
        assert "<script" not in report.lower()
        assert "Olá &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;aspas&quot;" in report
        assert "Conselho Municipal — 서울 &lt;b&gt;bold&lt;/b&gt;" in report and "<b>" not in report
        for text in (*HOST, *GUEST, "안녕하세요 여러분, 회의를 시작합니다", "Do telemóvel: ç ã õ é", "Asia/Seoul", "KST"):
            assert text in report
        assert "@media print" in report and ">still in</td>" in report and html.escape(GROUPING) in report

        # the same record as JSON, for programs (made a moment later: open joins count on)
        status, headers, body = await fetch(server, f"/api/rooms/{room_id}/record.json", room["host"])
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        as_json = json.loads(body)
        for key in ("room", "chat", "timeline", "recordings", "grouping"):
            assert as_json[key] == record[key]
        assert [a["participant_id"] for a in as_json["attendance"]] == \
            [a["participant_id"] for a in record["attendance"]]

        # -- after the meeting: the host ends it for everyone
        assert (await host.request("end_meeting", {}))["ok"]
        await until(lambda: not _rows(server, "SELECT id FROM participants WHERE room_id = ? AND left_at IS NULL",
                                      room_id), "every join closed")
        status, _, body = await fetch(server, f"/api/rooms/{room_id}/record", room["host"])
        assert status == 200, body[:300]
        archive = zipfile.ZipFile(io.BytesIO(body))
        record = check_against_database(server, room_id, archive)
        assert record["meeting"]["still_in"] == 0 and record["room"]["ended_at"]
        assert record["meeting"]["last_leave"] == max(a["left_at"] for a in record["attendance"])
        assert "end" in [e["kind"] for e in record["timeline"]]
        assert ">still in</td>" not in archive.read("report.html").decode("utf-8")
    finally:
        for client in clients:
            await client.close()


# ---- who may download ------------------------------------------------------------------------------

async def test_only_the_organiser_and_the_rooms_hosts_may_download_it(server):
    room = new_room(server, "Access")
    elsewhere = new_room(server, "Another room")
    room_id = room["room"]["id"]
    path = f"/api/rooms/{room_id}/record"
    for route in (path, path + ".json"):
        assert (await fetch(server, route, ORGANISER_KEY))[0] == 200
        assert (await fetch(server, route, room["host"]))[0] == 200
        assert (await fetch(server, route, query={"t": room["host"]}))[0] == 200
        for token, query, status, code in [
            (None, None, 401, "invalid_token"),
            (room["participant"], None, 403, "forbidden"),
            (None, {"t": room["participant"]}, 403, "forbidden"),
            (elsewhere["host"], None, 403, "forbidden"),
            ("not-a-token", None, 401, "invalid_token"),
            (ORGANISER_KEY + "x", None, 401, "invalid_token"),
            (None, {"t": ORGANISER_KEY}, 400, "bad_request"),  # the key never goes in a URL
        ]:
            got, headers, body = await fetch(server, route, token, query)
            assert (got, json.loads(body)["error"]["code"]) == (status, code), body
            assert headers["Content-Type"].startswith("application/json")
            assert json.loads(body)["error"]["message"]
    # invites made in the meeting: staff run it but may not take everyone's record; a revoked host
    # invite opens nothing
    host = await ProtocolClient(server.base_url).connect()
    try:
        await host.join(room["host"], "Hana Host")
        made = {role: await host.request("invite_create", {"role": role}) for role in ("staff", "host", "viewer")}
        revoked = await host.request("invite_create", {"role": "host"})
        assert (await host.request("invite_revoke", {"invite_id": revoked["invite"]["id"]}))["ok"]
    finally:
        await host.close()
    for role, status, code in [("staff", 403, "forbidden"), ("viewer", 403, "forbidden")]:
        got, _, body = await fetch(server, path, token_of(made[role]["link"]))
        assert (got, json.loads(body)["error"]["code"]) == (status, code), body
    assert (await fetch(server, path, token_of(made["host"]["link"])))[0] == 200
    got, _, body = await fetch(server, path, token_of(revoked["link"]))
    assert (got, json.loads(body)["error"]["code"]) == (401, "invalid_token")
    assert "revoked" in json.loads(body)["error"]["message"]
    refused = json.loads((await fetch(server, path, room["participant"]))[2])["error"]["message"]
    assert "organiser" in refused and "host" in refused
    status, _, body = await fetch(server, "/api/rooms/no-such-room/record", ORGANISER_KEY)
    assert (status, json.loads(body)["error"]["code"]) == (404, "room_not_found")
    # an empty room has an empty record, not an error
    empty = f"/api/rooms/{elsewhere['room']['id']}/record"
    archive = zipfile.ZipFile(io.BytesIO((await fetch(server, empty, ORGANISER_KEY))[2]))
    record = json.loads(archive.read("record.json"))
    assert (record["attendance"], record["chat"], record["timeline"], record["recordings"]["files"]) == ([], [], [], [])
    assert read_csv(archive, "chat.csv") == []
    assert "Nobody joined." in archive.read("report.html").decode("utf-8")
    assert (await fetch(server, "/healthz"))[0] == 200


async def _start_download(server, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A download whose answer has begun (status line and headers read) and is then not read."""
    port = int(server.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ORGANISER_KEY}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 200"), head
    return reader, writer


async def test_zips_built_at_once_are_bounded_and_a_download_cut_off_frees_its_place(server):
    room = new_room(server, "Big recording")
    room_id = room["room"]["id"]
    folder = server.data / "recordings" / room_id
    folder.mkdir(parents=True)
    with open(folder / "composite.webm", "wb") as f:  # more than the sockets' buffers hold
        for _ in range(64):
            f.write(os.urandom(1024 * 1024))
    path = f"/api/rooms/{room_id}/record"
    stalled = [await _start_download(server, path) for _ in range(2)]
    try:
        status, headers, body = await fetch(server, path, ORGANISER_KEY)
        assert (status, json.loads(body)["error"]["code"]) == (503, "busy") and int(headers["Retry-After"]) > 0
        assert (await fetch(server, path + ".json", ORGANISER_KEY))[0] == 200  # the JSON takes no place
    finally:
        for _, writer in stalled:
            writer.transport.abort()  # cut off midway
    for _ in range(100):
        status, _, body = await fetch(server, path, ORGANISER_KEY)
        if status != 503:
            break
        await asyncio.sleep(0.1)
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.getinfo("recordings/composite.webm").file_size == 64 * 1024 * 1024
        assert archive.testzip() is None


def test_the_record_routes_have_a_stricter_rate_limit(tmp_path):
    srv = start_server(tmp_path, "--media-workers", "0", rate_limit_scale=None)
    try:
        room = srv.create_room("Limits")
        path = f"/api/rooms/{room['room']['id']}/record.json"
        statuses = [asyncio.run(fetch(srv, path, ORGANISER_KEY))[0] for _ in range(11)]
        assert statuses == [200] * 10 + [429]
        status, headers, body = asyncio.run(fetch(srv, path, ORGANISER_KEY))
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert json.loads(body)["error"]["code"] == "rate_limited"
        assert srv.get_json(f"/api/rooms/{room['room']['id']}",
                            token_of(room["links"]["host"]))["role"] == "host"  # the rest of the API is not spent
    finally:
        stop_server(srv)


# ---- the domain: people from joins -------------------------------------------------------------------

async def test_joins_are_grouped_into_people_and_open_joins_counted_until_now(service, clock, tmp_path):
    room, _ = await service.create_room("Grouping", city="lisbon")
    start = clock.now
    first = await service.record_join(room.id, None, "Maria  Silva", "Câmara", "participant")
    clock.advance(timedelta(seconds=60))
    second = await service.record_join(room.id, None, "maria silva", " câmara ", "participant")  # another device
    clock.advance(timedelta(seconds=30))
    await service.record_leave(first.id)  # 90 s
    clock.advance(timedelta(seconds=100))
    await service.record_leave(second.id)  # 130 s, overlapping: together 190 s
    clock.advance(timedelta(seconds=10))
    await service.record_join(room.id, None, "Maria Silva", "Porto", "staff")  # another organisation
    clock.advance(timedelta(seconds=5))
    host = await service.record_join(room.id, None, "Hal", "", "host")
    await Timeline(service.db, clock=clock).record(room.id, "mute", LiveParticipant(host.id, "Hal", "", "host"),
                                                   {"id": first.id, "name": "Maria  Silva"}, {"kind": "audio"})
    clock.advance(timedelta(seconds=45))
    record = await load_record(service.db, room.id, recordings_root=tmp_path / "none", clock=clock)
    people = record.data["people"]
    assert [(p["name"], p["organisation"], p["joins"], p["seconds"], p["still_in"]) for p in people] == [
        ("Maria  Silva", "Câmara", 2, 190, False), ("Maria Silva", "Porto", 1, 50, True), ("Hal", "", 1, 45, True)]
    assert people[0]["first_joined"] == _iso(start) and people[0]["last_left"] == _iso(start + timedelta(seconds=190))
    assert [a["seconds"] for a in record.data["attendance"]] == [90, 130, 50, 45]
    assert [a["person"] for a in record.data["attendance"]] == [1, 1, 2, 3]
    assert record.data["meeting"]["still_in"] == 2 and record.data["meeting"]["last_leave"] is None
    assert record.data["room"]["time_zone"] == "Europe/Lisbon"
    assert record_filename(record) == (f"grouping-{start:%Y-%m-%d}-record.zip", f"grouping-{start:%Y-%m-%d}-record.zip")
    korean, _ = await service.create_room("서울 회의 2026")
    korean_record = await load_record(service.db, korean.id, clock=clock)
    day = korean_record.data["room"]["created_at"][:10]
    assert record_filename(korean_record) == (f"2026-{day}-record.zip", f"서울-회의-2026-{day}-record.zip")
    assert [(e["kind"], e["category"], e["target_name"]) for e in record.data["timeline"]] == \
        [("mute", "moderation", "Maria  Silva")]
    out = io.BytesIO()
    write_zip(record, out)
    report = zipfile.ZipFile(out).read("report.html").decode("utf-8")
    assert "Europe/Lisbon" in report and "0:03:10" in report

