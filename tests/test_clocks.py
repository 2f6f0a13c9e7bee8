"""Issue "records", the city clock strip (server side): the join answer's ``clocks`` (the room's
city and each delegation's, in the organiser's order, one per zone and city) and a delegate's
Participant object with the delegation's city and IANA zone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rooms.scheduling import meeting_clocks
from tests.room_harness import module_server
from tests.sio_helpers import ProtocolClient
from tests.test_scheduling import LISBON, SEOUL, call, future_body, token_of

pytestmark = pytest.mark.timeout(120)

server = module_server("clocks")

PORTO = {"name": "Porto Port Authority", "city": "Porto", "time_zone": "Europe/Lisbon", "role": "participant",
         "seats": 2}
LISBON_HARBOUR = {**LISBON, "name": "Lisbon Harbour Office", "seats": 1}  # same city and zone as LISBON


def delegation(name: str, city: str, time_zone: str, invite_id: str | None = None):
    return SimpleNamespace(name=name, city=city, time_zone=time_zone, invite_id=invite_id)


def test_the_clocks_are_the_rooms_city_then_each_delegations_once_per_zone_and_city():
    clocks = meeting_clocks("Air quality", "seoul", [
        delegation("Lisbon City Hall", "Lisbon", "Europe/Lisbon"),
        delegation("Seoul Metropolitan Government", "seoul", "Asia/Seoul"),  # the room's own city
        delegation("Porto Port Authority", "Porto", "Europe/Lisbon"),  # same zone, another city
        delegation("Lisbon Harbour Office", "Lisbon", "Europe/Lisbon"),  # same zone and city
        delegation("Remote team", "", "America/Sao_Paulo"),
    ])
    assert clocks == [
        {"name": "Air quality", "city": "Seoul", "time_zone": "Asia/Seoul"},
        {"name": "Lisbon City Hall", "city": "Lisbon", "time_zone": "Europe/Lisbon"},
        {"name": "Porto Port Authority", "city": "Porto", "time_zone": "Europe/Lisbon"},
        {"name": "Remote team", "city": "", "time_zone": "America/Sao_Paulo"},
    ]
    assert meeting_clocks("Ad hoc", None, []) == []


async def test_the_join_answer_has_the_city_clocks_and_a_delegate_has_the_delegations_zone(server):
    body = future_body(days=0.1, delegations=[LISBON, SEOUL, PORTO, LISBON_HARBOUR], city="bogota")
    status, answer, _ = call(server, "/api/meetings", "POST", body)
    assert status == 201, answer
    lisbon, seoul = answer["delegations"][0], answer["delegations"][1]
    host = await ProtocolClient(server.base_url).connect()
    guest = await ProtocolClient(server.base_url).connect()
    plain = await ProtocolClient(server.base_url).connect()
    try:
        joined = await host.join(token_of(answer["links"]["host"]), "Hana Host")
        assert joined["clocks"] == [
            {"name": "Air quality coordination", "city": "Bogotá", "time_zone": "America/Bogota"},
            {"name": "Lisbon City Hall", "city": "Lisbon", "time_zone": "Europe/Lisbon"},
            {"name": "Seoul Metropolitan Government", "city": "Seoul", "time_zone": "Asia/Seoul"},
            {"name": "Porto Port Authority", "city": "Porto", "time_zone": "Europe/Lisbon"},
        ]
        assert "time_zone" not in joined["self"] and "city" not in joined["self"]  # the host's link

        delegate = await guest.join(token_of(seoul["link"]), "Min-jun", "Seoul Metropolitan Government")
        assert (delegate["self"]["city"], delegate["self"]["time_zone"]) == ("Seoul", "Asia/Seoul")
        assert delegate["clocks"] == joined["clocks"]
        told = await host.next_event("participant_joined")
        assert (told["name"], told["city"], told["time_zone"]) == ("Min-jun", "Seoul", "Asia/Seoul")

        third = await plain.join(token_of(lisbon["link"]), "Inês")
        seen = {p["name"]: p for p in third["participants"]}
        assert (seen["Min-jun"]["city"], seen["Min-jun"]["time_zone"]) == ("Seoul", "Asia/Seoul")
        assert "time_zone" not in seen["Hana Host"]
        assert third["self"]["time_zone"] == "Europe/Lisbon"
    finally:
        for client in (host, guest, plain):
            await client.close()


async def test_a_room_that_is_not_scheduled_has_no_clocks(server):
    status, created, _ = call(server, "/api/rooms", "POST", {"title": "Ad hoc"})
    assert status in (200, 201), created
    client = await ProtocolClient(server.base_url).connect()
    try:
        joined = await client.join(token_of(created["links"]["host"]), "Ana")
        assert joined["clocks"] == [] and "time_zone" not in joined["self"]
    finally:
        await client.close()
