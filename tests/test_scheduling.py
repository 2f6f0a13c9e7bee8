"""Issue "records", Scheduling (server side): scheduled meetings, delegations, their invites, .ics
files and invitation texts.

In this process: IANA zones and wall-clock times to UTC (DST, skipped and repeated hours), the
invitation text in a delegation's zone, the .ics parsed back with ``icalendar``, and the domain on a
real database (SQLite, and PostgreSQL where reachable): invites with seats, a ``not_before`` refused
with ``not_yet_open`` until a host opens the meeting. Against a real server: schedule, list, fetch,
.ics, a delegation's join refused before it opens and admitted once the host opened early, the
waiting page's schedule, and bad input answered with clear JSON errors.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from rooms.authorize import Role
from rooms.errors import NotYetOpen, ValidationError
from rooms.models import Delegation, Invite, Room
from rooms.scheduling import (
    MAX_DELEGATIONS,
    OPENS_BEFORE,
    MeetingRequest,
    Scheduler,
    ics,
    invitation_text,
    local_to_utc,
    local_when,
    zone,
)
from tests.conftest import ORGANISER_KEY, organiser_header
from tests.room_harness import db_count, module_server
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures
from tests.sio_helpers import ProtocolClient

pytestmark = pytest.mark.timeout(120)

LISBON = {"name": "Lisbon City Hall", "city": "Lisbon", "time_zone": "Europe/Lisbon", "role": "participant",
          "seats": 3}
SEOUL = {"name": "Seoul Metropolitan Government", "city": "Seoul", "time_zone": "Asia/Seoul",
         "role": "staff", "seats": 2}


def request_body(day: str = "2027-03-10", clock_time: str = "18:00", time_zone: str = "Asia/Seoul",
                 duration: int = 90, delegations=None, **more) -> dict:
    return {"title": "Air quality coordination", "agenda": "1. PM2.5 alerts\n2. Shared sensors",
            "start": {"date": day, "time": clock_time, "time_zone": time_zone}, "duration_minutes": duration,
            "delegations": [LISBON, SEOUL] if delegations is None else delegations, **more}


def parse(body: dict) -> MeetingRequest:
    return MeetingRequest.parse(title=body.get("title"), agenda=body.get("agenda"), start=body.get("start"),
                                duration_minutes=body.get("duration_minutes"),
                                delegations=body.get("delegations"), city=body.get("city"))


# ---- zones and times -------------------------------------------------------------------------------

@pytest.mark.parametrize("day, clock_time, time_zone, utc", [
    ("2027-03-10", "09:30", "America/Sao_Paulo", "2027-03-10T12:30:00"),  # UTC-3, no DST since 2019
    ("2018-11-10", "10:00", "America/Sao_Paulo", "2018-11-10T12:00:00"),  # Brazil's last DST: UTC-2
    ("2027-03-10", "09:30", "Asia/Seoul", "2027-03-10T00:30:00"),  # UTC+9, the day before in UTC...
    ("2027-03-10", "08:00", "Asia/Seoul", "2027-03-09T23:00:00"),  # ...or even the day before
    ("2027-01-15", "10:00", "Europe/Lisbon", "2027-01-15T10:00:00"),  # WET
    ("2027-07-01", "10:00", "Europe/Lisbon", "2027-07-01T09:00:00"),  # WEST, UTC+1
    ("2027-10-31", "01:30", "Europe/Lisbon", "2027-10-31T00:30:00"),  # passed twice: the first
])
def test_a_wall_clock_time_in_a_zone_is_the_right_utc_instant(day, clock_time, time_zone, utc):
    assert local_to_utc(day, clock_time, zone(time_zone)) == datetime.fromisoformat(utc).replace(tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused():
    with pytest.raises(ValidationError, match="does not exist in Europe/Lisbon"):
        local_to_utc("2027-03-28", "01:30", zone("Europe/Lisbon"))  # 01:00 -> 02:00


@pytest.mark.parametrize("name", ["Europe/Lisbn", "Mars/Olympus_Mons", "../../etc/passwd", "", "UTC+1", 5, None,
                                  "x" * 200])
def test_an_unknown_zone_is_refused_naming_the_field(name):
    with pytest.raises(ValidationError, match="'delegations\\[0\\].time_zone': unknown IANA time zone") as caught:
        zone(name, "delegations[0].time_zone")
    assert caught.value.code == "bad_request"


@pytest.mark.parametrize("change, message", [
    ({"start": {"date": "2027-03-10", "time": "18:00", "time_zone": "Asia/Seol"}}, "'start.time_zone'"),
    ({"start": {"date": "2027-02-30", "time": "18:00", "time_zone": "Asia/Seoul"}}, "'start.date'"),
    ({"start": {"date": "2027-03-10", "time": "25:00", "time_zone": "Asia/Seoul"}}, "'start.time'"),
    ({"start": "2027-03-10T18:00"}, "'start' must be an object"),
    ({"duration_minutes": 0}, "'duration_minutes'"),
    ({"duration_minutes": 24 * 60 + 1}, "'duration_minutes'"),
    ({"title": "  "}, "'title'"),
    ({"delegations": [{**LISBON, "seats": -2}]}, "'delegations\\[0\\].seats'"),
    ({"delegations": [{**LISBON, "seats": True}]}, "'delegations\\[0\\].seats'"),
    ({"delegations": [LISBON, {**SEOUL, "role": "king"}]}, "'delegations\\[1\\].role'"),
    ({"delegations": [LISBON, {**SEOUL, "time_zone": "Asia/Seol"}]}, "'delegations\\[1\\].time_zone'"),
    ({"delegations": [{**LISBON, "name": ""}]}, "'delegations\\[0\\].name'"),
    ({"delegations": [LISBON, dict(LISBON)]}, "same name"),
    ({"delegations": [{**LISBON, "name": f"D{i}"} for i in range(MAX_DELEGATIONS + 1)]}, "at most 50"),
    ({"delegations": {"name": "x"}}, "'delegations' must be a list"),
])
def test_bad_meeting_requests_are_refused_clearly(change, message):
    with pytest.raises(ValidationError, match=message):
        parse({**request_body(), **change})


def test_a_request_is_the_utc_start_and_end_and_the_checked_delegations():
    meeting = parse(request_body())
    assert meeting.starts_at == datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
    assert meeting.ends_at == datetime(2027, 3, 10, 10, 30, tzinfo=UTC)
    assert meeting.time_zone == "Asia/Seoul"
    assert [(d.name, d.time_zone, d.role, d.seats) for d in meeting.delegations] == [
        ("Lisbon City Hall", "Europe/Lisbon", Role.PARTICIPANT, 3),
        ("Seoul Metropolitan Government", "Asia/Seoul", Role.STAFF, 2)]


# ---- invitation text and .ics -----------------------------------------------------------------------

def _room(starts_at: datetime, minutes: int = 90, time_zone: str = "Asia/Seoul") -> Room:
    return Room(id="k3x9pq2m", title="Air quality coordination", starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=minutes), time_zone=time_zone,
                agenda="1. PM2.5 alerts\n2. Shared sensors")


def _delegation(time_zone: str = "Europe/Lisbon") -> Delegation:
    return Delegation(id="g_0123456789abcdef", room_id="k3x9pq2m", name="Lisbon City Hall", city="Lisbon",
                      time_zone=time_zone, role="participant", seats=3)


LINK = "http://127.0.0.1:8080/r/k3x9pq2m?t=v1.abc.def"


def test_the_invitation_gives_the_time_in_the_delegations_own_zone():
    # 18:00 in Seoul in March is 09:00 UTC, 09:00 in Lisbon (WET); in July, 17:00 in Seoul is 09:00
    # in Lisbon too, but at UTC+01:00 (WEST)
    winter = invitation_text(_room(local_to_utc("2027-03-10", "18:00", zone("Asia/Seoul"))), _delegation(), LINK)
    assert "When: Wednesday 10 March 2027, 09:00-10:30 (Europe/Lisbon, UTC+00:00)" in winter
    assert "(the organiser's time: Wednesday 10 March 2027, 18:00-19:30 (Asia/Seoul, UTC+09:00))" in winter
    assert "Lisbon City Hall (Lisbon)" in winter and LINK in winter and "2. Shared sensors" in winter
    assert "for 3 people" in winter and "30 minutes before the start" in winter
    summer = invitation_text(_room(local_to_utc("2027-07-01", "17:00", zone("Asia/Seoul"))), _delegation(), LINK)
    assert "When: Thursday 1 July 2027, 09:00-10:30 (Europe/Lisbon, UTC+01:00)" in summer


def test_a_meeting_across_midnight_names_both_days():
    starts_at = local_to_utc("2027-03-10", "23:30", zone("America/Sao_Paulo"))
    assert local_when(starts_at, starts_at + timedelta(hours=1), "America/Sao_Paulo") == (
        "Wednesday 10 March 2027, 23:30 to Thursday 11 March 2027, 00:30 (America/Sao_Paulo, UTC-03:00)")


@pytest.mark.parametrize("day, clock_time, organiser_zone, delegation_zone, utc", [
    ("2027-03-10", "18:00", "Asia/Seoul", "Europe/Lisbon", datetime(2027, 3, 10, 9, 0, tzinfo=UTC)),
    ("2027-07-01", "17:00", "Asia/Seoul", "Europe/Lisbon", datetime(2027, 7, 1, 8, 0, tzinfo=UTC)),
    ("2027-03-10", "09:30", "America/Sao_Paulo", "Asia/Seoul", datetime(2027, 3, 10, 12, 30, tzinfo=UTC)),
])
def test_the_ics_parses_to_the_right_instant_and_names_the_right_zone(day, clock_time, organiser_zone,
                                                                      delegation_zone, utc):
    room = _room(local_to_utc(day, clock_time, zone(organiser_zone)), time_zone=organiser_zone)
    data = ics(room, _delegation(delegation_zone), LINK, domain="sitroom.example",
               now=datetime(2027, 1, 1, tzinfo=UTC))
    calendar = Calendar.from_ical(data)
    assert str(calendar["version"]) == "2.0" and calendar["prodid"]
    [event] = calendar.walk("VEVENT")
    assert event["dtstart"].params["TZID"] == delegation_zone
    assert event["dtend"].params["TZID"] == delegation_zone
    assert event.decoded("dtstart").astimezone(UTC) == utc
    assert event.decoded("dtend").astimezone(UTC) == utc + timedelta(minutes=90)
    # the wall-clock time written is the delegation's own
    local = utc.astimezone(ZoneInfo(delegation_zone))
    assert f":{local:%Y%m%dT%H%M%S}" in data.decode().replace("\r\n ", "")
    # the VTIMEZONE of that zone, on its own, maps the local time to the same instant
    [vtimezone] = calendar.walk("VTIMEZONE")
    assert vtimezone["tzid"] == delegation_zone
    tz_from_file = vtimezone.to_tz()
    assert local.replace(tzinfo=None).replace(tzinfo=tz_from_file).astimezone(UTC) == utc
    assert str(event["uid"]) == "k3x9pq2m.g_0123456789abcdef@sitroom.example"
    assert str(event["summary"]) == "Air quality coordination"
    description = str(event["description"])
    assert "2. Shared sensors" in description and LINK in description
    assert str(event["url"]) == LINK


# ---- the domain on a database -----------------------------------------------------------------------

async def test_schedule_makes_a_delegation_invite_per_delegation_with_its_seats_and_window(db, service, clock):
    await db.upgrade()
    start = (clock.now + timedelta(days=3)).astimezone(ZoneInfo("Asia/Seoul"))
    meeting = parse(request_body(day=start.date().isoformat(), clock_time=f"{start:%H:%M}"))
    scheduler = Scheduler(service)
    view = await scheduler.schedule(meeting)
    room = view.room
    assert (room.starts_at, room.ends_at) == (meeting.starts_at, meeting.ends_at)
    assert room.time_zone == "Asia/Seoul" and room.agenda.startswith("1. PM2.5")
    assert set(view.tokens) == {"host", "participant"}
    assert [(d.delegation.name, d.invite.role, d.invite.max_uses) for d in view.delegations] == [
        ("Lisbon City Hall", "participant", 3), ("Seoul Metropolitan Government", "staff", 2)]
    for item in view.delegations:
        assert item.invite.not_before == meeting.starts_at - OPENS_BEFORE
        assert item.invite.expires_at == meeting.ends_at
        assert item.invite.label == item.delegation.name

    lisbon = view.delegations[0].token
    with pytest.raises(NotYetOpen) as refused:
        await service.verify_token(lisbon)
    assert refused.value.code == "not_yet_open"
    assert refused.value.to_dict()["opens_at"] == (meeting.starts_at - OPENS_BEFORE).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert refused.value.to_dict()["starts_at"] == meeting.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(NotYetOpen):  # the room's own participant link waits too
        await service.verify_token(view.tokens["participant"])
    # the waiting page may ask, the host is never kept out
    assert (await service.verify_token(lisbon, before_opening=True)).not_before is not None
    assert (await service.verify_token(view.tokens["host"])).role is Role.HOST

    clock.now = meeting.starts_at - OPENS_BEFORE  # the invite opens
    assert (await service.verify_token(lisbon)).max_uses == 3
    clock.now = meeting.ends_at  # and ends with the meeting
    with pytest.raises(Exception, match="expired"):
        await service.verify_token(lisbon)


async def test_a_hosts_join_opens_the_meeting_early(db, service, clock):
    await db.upgrade()
    meeting = parse(request_body(day=(clock.now + timedelta(days=2)).date().isoformat()))
    view = await Scheduler(service).schedule(meeting)
    with pytest.raises(NotYetOpen):
        await service.verify_token(view.delegations[0].token)
    await service.record_join(view.room.id, None, "Hana Host", "", Role.HOST)
    assert (await service.get_room(view.room.id)).opened_at == clock.now
    claims = await service.verify_token(view.delegations[0].token)
    assert claims.role is Role.PARTICIPANT and not claims.used_up


async def test_the_organisations_meetings_upcoming_past_and_unscheduled(db, service, clock):
    await db.upgrade()
    scheduler = Scheduler(service)
    soon = await scheduler.schedule(parse(request_body(day=(clock.now + timedelta(days=1)).date().isoformat())))
    later = await scheduler.schedule(parse(request_body(day=(clock.now + timedelta(days=9)).date().isoformat())))
    gone = await scheduler.schedule(parse(request_body(day=(clock.now - timedelta(days=5)).date().isoformat(),
                                                       delegations=[])))
    plain, _tokens = await service.create_room("Ad hoc")
    groups = await scheduler.list_meetings()
    assert [(room.id, count) for room, count in groups["upcoming"]] == [(soon.room.id, 2), (later.room.id, 2)]
    assert [(room.id, count) for room, count in groups["past"]] == [(gone.room.id, 0)]
    assert [room.id for room, _count in groups["unscheduled"]] == [plain.id]


async def test_deleting_a_meeting_deletes_its_delegations(db, service):
    await db.upgrade()
    view = await Scheduler(service).schedule(parse(request_body()))
    async with db.session() as session:
        await session.delete(await session.get(Room, view.room.id))
    async with db.session() as session:
        assert await session.get(Delegation, view.delegations[0].delegation.id) is None
        assert await session.get(Invite, view.delegations[0].invite.id) is None


# ---- the HTTP API on a real server ---------------------------------------------------------------------

server = module_server("scheduling")


def call(server, path: str, method: str = "GET", body=None, key: str | None = ORGANISER_KEY,
         headers: dict | None = None, raw: bytes | None = None):
    """-> (status, answer: JSON as a dict, else bytes, headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(server.base_url + path, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}), **organiser_header(key),
        **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, _body(response.read(), response.headers), response.headers
    except urllib.error.HTTPError as error:
        return error.code, _body(error.read(), error.headers), error.headers


def _body(raw: bytes, headers):
    return json.loads(raw) if headers.get("Content-Type", "").startswith("application/json") else raw


def future_body(days: float = 3, **more) -> dict:
    start = (datetime.now(UTC) + timedelta(days=days)).astimezone(ZoneInfo("America/Sao_Paulo"))
    return request_body(day=start.date().isoformat(), clock_time=f"{start:%H:%M}", time_zone="America/Sao_Paulo",
                        **more)


def token_of(link: str) -> str:
    return link.split("?t=")[1]


def test_schedule_list_fetch_and_the_ics(server):
    status, answer, _ = call(server, "/api/meetings", "POST", future_body())
    assert status == 201, answer
    room = answer["room"]
    assert room["time_zone"] == "America/Sao_Paulo" and room["agenda"].startswith("1. PM2.5")
    starts_at = datetime.fromisoformat(room["starts_at"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(room["ends_at"].replace("Z", "+00:00")) - starts_at == timedelta(minutes=90)
    lisbon, seoul = answer["delegations"]
    assert (lisbon["name"], lisbon["role"], lisbon["seats"], lisbon["uses"]) == (
        "Lisbon City Hall", "participant", 3, 0)
    assert seoul["role"] == "staff" and seoul["time_zone"] == "Asia/Seoul"
    assert lisbon["opens_at"] == (starts_at - OPENS_BEFORE).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert lisbon["expires_at"] == room["ends_at"]
    assert lisbon["link"].startswith(f"{server.base_url}/r/{room['id']}?t=")
    local = starts_at.astimezone(ZoneInfo("Europe/Lisbon"))
    assert f"{local:%H:%M}-" in lisbon["invitation"] and "(Europe/Lisbon, UTC+0" in lisbon["invitation"]
    assert lisbon["link"] in lisbon["invitation"]
    assert db_count(server, "SELECT COUNT(*) FROM delegations WHERE room_id = ?", room["id"]) == 2
    assert db_count(server, "SELECT max_uses FROM invites JOIN delegations ON delegations.invite_id = invites.id "
                            "WHERE delegations.id = ?", lisbon["id"]) == 3

    status, listed, _ = call(server, "/api/meetings")
    assert status == 200
    upcoming = {item["id"]: item for item in listed["upcoming"]}
    assert upcoming[room["id"]]["delegations"] == 2 and upcoming[room["id"]]["starts_at"] == room["starts_at"]
    assert room["id"] not in {item["id"] for item in listed["past"]}

    status, fetched, _ = call(server, f"/api/meetings/{room['id']}")
    assert status == 200 and fetched["delegations"][0]["link"] == lisbon["link"]
    assert set(fetched["links"]) == {"host", "participant"}

    status, data, headers = call(server, lisbon["ics_url"].removeprefix(server.base_url))
    assert status == 200
    assert headers["Content-Type"].startswith("text/calendar")
    assert headers["Content-Disposition"].startswith("attachment;") and ".ics" in headers["Content-Disposition"]
    [event] = Calendar.from_ical(data).walk("VEVENT")
    assert event["dtstart"].params["TZID"] == "Europe/Lisbon"
    assert event.decoded("dtstart").astimezone(UTC) == starts_at.replace(second=0)
    assert str(event["url"]) == lisbon["link"]


def test_a_past_meeting_is_listed_as_past(server):
    status, answer, _ = call(server, "/api/meetings", "POST", future_body(days=-2, delegations=[]))
    assert status == 201, answer
    _, listed, _ = call(server, "/api/meetings")
    assert answer["room"]["id"] in {item["id"] for item in listed["past"]}


async def test_a_delegation_link_waits_until_the_host_opens_the_meeting_early(server):
    status, answer, _ = call(server, "/api/meetings", "POST", future_body(days=5))
    assert status == 201, answer
    room_id, lisbon = answer["room"]["id"], answer["delegations"][0]
    token = token_of(lisbon["link"])

    # the waiting page's schedule: before the invite opens, with its times
    status, schedule, _ = call(server, f"/api/rooms/{room_id}/schedule", key=token)
    assert status == 200, schedule
    assert (schedule["starts_at"], schedule["opens_at"]) == (answer["room"]["starts_at"], lisbon["opens_at"])
    assert (schedule["opened"], schedule["open_now"], schedule["role"]) == (False, False, "participant")
    # the meeting page loads (it says when the meeting starts); only the join waits
    status, page, _ = call(server, f"/api/rooms/{room_id}", key=token)
    assert (status, page["role"]) == (200, "participant")

    guest = await ProtocolClient(server.base_url).connect()
    host = await ProtocolClient(server.base_url).connect()
    try:
        ack = await guest.request("join", {"token": token, "name": "Inês"})
        assert ack["ok"] is False and ack["error"]["code"] == "not_yet_open", ack
        assert ack["error"]["starts_at"] == answer["room"]["starts_at"]
        assert ack["error"]["opens_at"] == lisbon["opens_at"]
        assert db_count(server, "SELECT uses FROM invites WHERE id = (SELECT invite_id FROM delegations "
                                "WHERE id = ?)", lisbon["id"]) == 0

        await host.join(token_of(answer["links"]["host"]), "Hana Host")  # the host opens it early
        joined = await guest.join(token, "Inês", "Lisbon City Hall")
        assert joined["self"]["role"] == "participant"
    finally:
        await guest.close()
        await host.close()
    status, schedule, _ = call(server, f"/api/rooms/{room_id}/schedule", key=token)
    assert (schedule["opened"], schedule["open_now"]) == (True, True)
    _, fetched, _ = call(server, f"/api/meetings/{room_id}")
    assert fetched["room"]["opened_at"] is not None and fetched["delegations"][0]["uses"] == 1
    # the meeting's record knows the delegate's city from the delegation's invite
    _, record, _ = call(server, f"/api/rooms/{room_id}/record.json")
    assert {(a["name"], a["city"]) for a in record["attendance"]} == {("Hana Host", ""), ("Inês", "Lisbon")}


def test_the_organiser_may_open_a_meeting_early_without_joining(server):
    _, answer, _ = call(server, "/api/meetings", "POST", future_body(days=4))
    token = token_of(answer["delegations"][1]["link"])
    assert call(server, f"/api/rooms/{answer['room']['id']}/schedule", key=token)[1]["open_now"] is False
    status, opened, _ = call(server, f"/api/meetings/{answer['room']['id']}/open", "POST", raw=b"")
    assert status == 200 and opened["opened_at"]
    assert call(server, f"/api/rooms/{answer['room']['id']}/schedule", key=token)[1]["open_now"] is True
    status, room, _ = call(server, f"/api/rooms/{answer['room']['id']}", key=token)
    assert status == 200 and room["role"] == "staff"


@pytest.mark.parametrize("body, status, code, words", [
    (future_body(delegations=[{**LISBON, "time_zone": "Europe/Lisbn"}]), 400, "bad_request",
     "'delegations[0].time_zone': unknown IANA time zone 'Europe/Lisbn'"),
    (future_body() | {"start": {"date": "2027-03-10", "time": "09:00", "time_zone": "Nowhere/City"}},
     400, "bad_request", "'start.time_zone'"),
    (future_body(delegations=[{**LISBON, "seats": -1}]), 400, "bad_request", "'delegations[0].seats'"),
    (future_body(delegations=[{**LISBON, "name": f"City {i}"} for i in range(MAX_DELEGATIONS + 1)]), 400,
     "bad_request", "at most 50 delegations"),
    (future_body(duration=-30), 400, "bad_request", "'duration_minutes'"),
    (future_body(city="atlantis"), 400, "bad_request", "unknown city"),
])
def test_bad_input_is_a_clear_json_error_and_the_server_keeps_serving(server, body, status, code, words):
    before = db_count(server, "SELECT COUNT(*) FROM rooms")
    got, answer, _ = call(server, "/api/meetings", "POST", body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert words in answer["error"]["message"]
    assert db_count(server, "SELECT COUNT(*) FROM rooms") == before
    assert call(server, "/healthz", key=None)[:2] == (200, {"ok": True})


def test_every_meeting_route_takes_the_organiser_key(server):
    _, answer, _ = call(server, "/api/meetings", "POST", future_body())
    room_id, delegation_id = answer["room"]["id"], answer["delegations"][0]["id"]
    routes = [("/api/meetings", "POST", future_body()), ("/api/meetings", "GET", None),
              (f"/api/meetings/{room_id}", "GET", None), (f"/api/meetings/{room_id}/open", "POST", {}),
              (f"/api/meetings/{room_id}/delegations/{delegation_id}.ics", "GET", None)]
    for path, method, body in routes:
        status, refused, _ = call(server, path, method, body, key=None)
        assert (status, refused["error"]["code"]) == (401, "organiser_key_required"), path
        status, refused, _ = call(server, path, method, body, key="not-the-key")
        assert (status, refused["error"]["code"]) == (403, "organiser_key_invalid"), path
    # an invite token is not the organiser key
    status, refused, _ = call(server, "/api/meetings", key=token_of(answer["links"]["host"]))
    assert status == 403


def test_unknown_meetings_and_delegations_and_the_schedule_without_a_token(server):
    assert call(server, "/api/meetings/nosuchroom")[:1] == (404,)
    _, answer, _ = call(server, "/api/meetings", "POST", future_body())
    room_id = answer["room"]["id"]
    status, missing, _ = call(server, f"/api/meetings/{room_id}/delegations/g_nope.ics")
    assert (status, missing["error"]["code"]) == (404, "room_not_found")
    status, refused, _ = call(server, f"/api/rooms/{room_id}/schedule", key=None)
    assert (status, refused["error"]["code"]) == (401, "invalid_token")
    other = call(server, "/api/meetings", "POST", future_body())[1]
    status, refused, _ = call(server, f"/api/rooms/{room_id}/schedule",
                              key=token_of(other["delegations"][0]["link"]))
    assert (status, refused["error"]["code"]) == (401, "invalid_token")
    status, refused, _ = call(server, "/api/meetings", "POST", raw=b"{not json")
    assert (status, refused["error"]["code"]) == (400, "bad_request")
