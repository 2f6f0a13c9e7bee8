"""Bad input over the real Socket.IO API: each refusal is a clear error, and nothing else breaks."""

from __future__ import annotations

import pytest

from tests.conftest import organiser_header
from tests.room_harness import token_of
from tests.sio_helpers import connected


@pytest.fixture
async def room(sitroom_server):
    return sitroom_server.create_room("Errors")


async def test_forged_token_is_refused_with_error_event(sitroom_server, room):
    client = await connected(sitroom_server.base_url)
    try:
        token = token_of(room["links"]["participant"])
        head, body, sig = token.split(".")
        forged = ".".join([head, body, sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")])
        ack = await client.request("join", {"token": forged, "name": "Mallory"})
        assert ack == {"ok": False, "error": {"code": "invalid_token", "message": ack["error"]["message"]}}
        event = await client.next_event("error")
        assert event["code"] == "invalid_token" and event["event"] == "join"
        # The same connection can still join with a good token.
        ack = await client.request("join", {"token": token, "name": "Alice"})
        assert ack["ok"] and ack["self"]["name"] == "Alice"
    finally:
        await client.close()


async def test_join_to_missing_room(sitroom_server):
    # A token signed with the right secret for a room that does not exist is still refused.
    from rooms import tokens

    forged = tokens.sign({"room": "nosuchroom", "role": "host", "inv": "x", "exp": None}, b"test-secret")
    client = await connected(sitroom_server.base_url)
    try:
        ack = await client.request("join", {"token": forged, "name": "Bob"})
        assert not ack["ok"] and ack["error"]["code"] in ("room_not_found", "invalid_token")
    finally:
        await client.close()


async def test_unknown_event_and_bad_payloads(sitroom_server, room):
    client = await connected(sitroom_server.base_url)
    try:
        ack = await client.request("launch_missiles", {"target": "x"})
        assert ack["error"]["code"] == "unknown_event"
        assert (await client.next_event("error"))["code"] == "unknown_event"

        for payload in (None, "string", 42, [1, 2], {"token": 5, "name": "x"}, {"token": "t"},
                        {"token": "t", "name": ""}, {"token": "t", "name": "x" * 65}):
            ack = await client.request("join", payload)
            assert not ack["ok"] and ack["error"]["code"] in ("bad_request", "invalid_token"), payload

        ack = await client.request("publish", {"sdp": "v=0", "sources": {}})
        assert ack["error"]["code"] == "not_joined"
    finally:
        await client.close()


async def test_malformed_sdp_is_refused_and_session_survives(sitroom_server, room):
    client = await connected(sitroom_server.base_url)
    try:
        await client.join(token_of(room["links"]["participant"]), "Carol")
        for sdp in ("garbage", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "v=0\r\n" * 1000):
            ack = await client.request("publish", {"sdp": sdp, "sources": {"0": "camera"}})
            assert not ack["ok"] and ack["error"]["code"] == "bad_sdp", ack
        ack = await client.request("publish", {"sdp": "x", "sources": {"0": "hologram"}})
        assert ack["error"]["code"] == "bad_request"
        ack = await client.request("subscribe_answer", {"sdp": "garbage", "revision": "one"})
        assert ack["error"]["code"] == "bad_request"
        ack = await client.request("media_state", {"audio_muted": True, "video_muted": False})
        assert ack["ok"] and ack["self"]["audio_muted"] is True
    finally:
        await client.close()


async def test_join_twice_and_join_leave_events(sitroom_server, room):
    alice = await connected(sitroom_server.base_url)
    bob = await connected(sitroom_server.base_url)
    try:
        a = await alice.join(token_of(room["links"]["host"]), "Alice", "Seoul")
        assert a["self"]["role"] == "host" and a["participants"] == []
        again = await alice.request("join", {"token": token_of(room["links"]["host"]), "name": "A2"})
        assert again["error"]["code"] == "already_joined"

        b = await bob.join(token_of(room["links"]["participant"]), "Bob", "Paris")
        assert [p["name"] for p in b["participants"]] == ["Alice"]
        joined = await alice.next_event("participant_joined")
        assert joined["name"] == "Bob" and joined["organisation"] == "Paris"
        assert joined["role"] == "participant"

        await bob.close()
        left = await alice.next_event("participant_left")
        assert left["id"] == b["self"]["id"]
    finally:
        await alice.close()
        await bob.close()


def test_http_api_errors(sitroom_server):
    import json
    import urllib.error
    import urllib.request

    def post(body: bytes, headers=None):
        req = urllib.request.Request(sitroom_server.base_url + "/api/rooms", data=body,
                                     headers={"Content-Type": "application/json", **organiser_header(),
                                              **(headers or {})},
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert post(b"not json")[0] == 400
    assert post(json.dumps({"title": ""}).encode())[1]["error"]["code"] == "bad_request"
    assert post(json.dumps({"title": "x" * 121}).encode())[0] == 400
    assert post(json.dumps({"title": "x" * 100_000}).encode())[0] == 413
    status, body = post(json.dumps({"title": "Budget"}).encode())
    assert status == 201 and body["room"]["title"] == "Budget"

    room_id = body["room"]["id"]
    token = body["links"]["participant"].split("?t=")[1]
    assert sitroom_server.get_json(f"/api/rooms/{room_id}", token)["role"] == "participant"
    for bad in ("", "v1.abc.def", token[:-3] + "xyz"):
        try:
            sitroom_server.get_json(f"/api/rooms/{room_id}", bad or None)
            raise AssertionError("expected 401")
        except urllib.error.HTTPError as e:
            assert e.code == 401
