"""Room codes, a room's city and planned time: in RoomService (SQLite and PostgreSQL) and over HTTP.

A room code is the short form of the room's participant link: typed on the start page ("Join with a
link or room code"), it resolves to that invite, and stops working when the invite is revoked.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rooms.errors import TokenError, ValidationError
from rooms.models import INVITE_CODE_ALPHABET, Invite
from rooms.service import normalize_code
from tests.conftest import organiser_header
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures


def test_normalize_code_accepts_what_people_type():
    assert normalize_code("k7m 4pd q2r") == "K7M-4PD-Q2R"
    assert normalize_code(" K7M-4PD-Q2R ") == "K7M-4PD-Q2R"
    assert normalize_code("k7m.4pd.q2r") == "K7M-4PD-Q2R"
    for bad in ("", "K7M-4PD", "K7M-4PD-Q2R-X", "O0M-4PD-Q2R", "K7M-4PD-Q2!", None, 42, "x" * 100):
        assert normalize_code(bad) is None, bad
    assert "O" not in INVITE_CODE_ALPHABET and "0" not in INVITE_CODE_ALPHABET and "1" not in INVITE_CODE_ALPHABET


async def test_a_room_code_is_stable_and_resolves_to_the_participant_invite(service):
    room, tokens = await service.create_room("Flood coordination")
    code = await service.invite_code(room.id)
    assert code == await service.invite_code(room.id)
    assert len(code) == 11 and code[3] == code[7] == "-"
    found, token = await service.resolve_code(code.lower().replace("-", " "))
    assert found.id == room.id
    claims = await service.verify_token(token)
    assert (claims.room_id, str(claims.role)) == (room.id, "participant")
    assert claims.invite_id == (await service.verify_token(tokens["participant"])).invite_id
    other, _ = await service.create_room("Another")
    assert await service.invite_code(other.id) != code


async def test_a_code_stops_with_its_invite_and_unknown_codes_are_refused(service):
    room, tokens = await service.create_room("Budget")
    code = await service.invite_code(room.id)
    for bad in ("AAA-AAA-AAA", "not a code", ""):
        with pytest.raises(TokenError) as info:
            await service.resolve_code(bad)
        assert info.value.code == "invalid_code"
    invite_id = (await service.verify_token(tokens["participant"])).invite_id
    await service.revoke_invite(invite_id)
    with pytest.raises(TokenError):
        await service.resolve_code(code)
    # A new default participant invite gets a code of its own.
    new_code = await service.invite_code(room.id)
    assert new_code != code
    found, _ = await service.resolve_code(new_code)
    assert found.id == room.id


async def test_codes_are_unique_in_the_database(service):
    room, _ = await service.create_room("One")
    code = await service.invite_code(room.id)
    other, _ = await service.create_room("Two")
    with pytest.raises(Exception):  # IntegrityError from the unique index, on either backend
        async with service.db.session() as session:
            session.add(Invite(room_id=other.id, role="participant", code=code,
                               created_at=datetime.now(UTC)))


async def test_city_and_schedule_are_stored_and_validated(service):
    start = datetime(2027, 3, 4, 10, 0, tzinfo=timezone(timedelta(hours=9)))
    room, _ = await service.create_room("Seoul-Lisbon", city="lisbon", starts_at=start,
                                        ends_at=start + timedelta(minutes=90))
    stored = await service.get_room(room.id)
    assert stored.city == "lisbon"
    assert stored.starts_at == start and stored.starts_at.utcoffset() == timedelta(0)
    assert stored.ends_at - stored.starts_at == timedelta(minutes=90)
    with pytest.raises(ValidationError):
        await service.create_room("x", city="atlantis")
    with pytest.raises(ValidationError):
        await service.create_room("x", starts_at=start, ends_at=start)
    with pytest.raises(ValidationError):
        await service.create_room("x", ends_at=start)
    with pytest.raises(ValidationError):
        await service.create_room("x", starts_at=datetime(2027, 3, 4, 10, 0))  # no zone


# ---- over HTTP --------------------------------------------------------------------------------

def _request(server, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **organiser_header()} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_create_a_room_with_city_and_time_then_join_by_its_code(sitroom_server):
    status, created = _request(sitroom_server, "POST", "/api/rooms", {
        "title": "Air quality, three cities", "city": "lagos",
        "starts_at": "2027-01-15T09:00:00+01:00", "duration_minutes": 60})
    assert status == 201, created
    room = created["room"]
    assert room["city"] == "lagos"
    assert (room["starts_at"], room["ends_at"]) == ("2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z")
    status, found = _request(sitroom_server, "GET", "/api/codes/" + created["code"].lower())
    assert status == 200, found
    assert found["room"]["id"] == room["id"]
    token = found["link"].split("?t=", 1)[1]
    assert found["link"].startswith(f"{sitroom_server.base_url}/r/{room['id']}?t=")
    assert sitroom_server.get_json(f"/api/rooms/{room['id']}", token)["role"] == "participant"

    status, error = _request(sitroom_server, "GET", "/api/codes/AAA-AAA-AAA")
    assert (status, error["error"]["code"]) == (404, "invalid_code")
    for bad in ({"title": "x", "city": "atlantis"}, {"title": "x", "starts_at": "tomorrow"},
                {"title": "x", "starts_at": "2027-01-15T09:00:00"}, {"title": "x", "duration_minutes": 30},
                {"title": "x", "starts_at": "2027-01-15T09:00:00Z", "duration_minutes": 2}):
        status, error = _request(sitroom_server, "POST", "/api/rooms", bad)
        assert (status, error["error"]["code"]) == (400, "bad_request"), bad


def test_the_cities_a_room_can_have(sitroom_server):
    status, body = _request(sitroom_server, "GET", "/api/cities")
    assert status == 200
    assert [c["id"] for c in body["cities"]] == ["seoul", "lisbon", "lagos", "bogota", "los_angeles"]
    assert {c["time_zone"] for c in body["cities"]} >= {"Asia/Seoul", "Europe/Lisbon", "America/Los_Angeles"}
