"""Integration: hosts and staff start and stop recording over Socket.IO against the real server
process (media in its worker processes); the room is told, a joining client knows, the files and
the manifest land under data_dir/recordings/<room>/<recording id>/."""

from __future__ import annotations

import asyncio
import json

import av
import pytest

from tests.meeting_client import MeetingClient
from tests.room_harness import refused, token_of
from tests.sio_helpers import ProtocolClient


@pytest.fixture
async def clients():
    made: list = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def test_host_and_staff_record_the_meeting(sitroom_server, clients, tmp_path):
    room = sitroom_server.create_room("Recorded")
    room_id = room["room"]["id"]
    host = MeetingClient(sitroom_server.base_url, "Hana")
    pat = MeetingClient(sitroom_server.base_url, "Pat")
    clients += [host, pat]
    assert (await host.join(token_of(room["links"]["host"])))["recording"] == {"active": False, "by": None}
    await pat.join(token_of(room["links"]["participant"]))
    await host.wait_for_frames(pat, "video", 5)
    await pat.wait_for_frames(host, "video", 5)

    # a participant may not; bad input is refused with a clear error and changes nothing
    assert refused(await pat.proto.request("recording_start", {}))
    assert refused(await host.proto.request("recording_start", "now"), "bad_request")

    ack = await host.proto.request("recording_start", {})
    assert ack["ok"] and ack["recording"]["active"] is True, ack
    recording_id = ack["recording"]["id"]
    for client in (host, pat):
        assert await client.proto.next_event("recording") == {"active": True, "by": "Hana"}
    assert refused(await host.proto.request("recording_start", {}), "conflict")

    # a joining client knows before anything else; staff may stop it
    invite = await host.proto.request("invite_create", {"role": "staff", "label": "staff"})
    staff = ProtocolClient(sitroom_server.base_url)
    clients.append(staff)
    await staff.connect()
    joined = await staff.join(token_of(invite["link"]), "Sam")
    assert joined["recording"] == {"active": True, "by": "Hana"}
    assert refused(await pat.proto.request("recording_stop", {}))

    await asyncio.sleep(3.0)
    ack = await staff.request("recording_stop", {})
    assert ack["ok"] and ack["changed"] is True and ack["recording"]["complete"] is True, ack
    for client in (host, pat):
        assert await client.proto.next_event("recording") == {"active": False, "by": "Sam"}
    assert (await staff.request("recording_stop", {})) == {"ok": True, "changed": False}

    directory = tmp_path / "data" / "recordings" / room_id / recording_id
    manifest = json.loads((directory / "manifest.json").read_text())
    # the room's manifest (what the meeting record exports) lists the recording's tracks too
    room_manifest = json.loads((directory.parent / "manifest.json").read_text())
    assert sorted(t["file"] for t in room_manifest["tracks"]) == sorted(
        f"{recording_id}/{t['file']}" for t in manifest["tracks"])
    assert manifest["id"] == recording_id and manifest["room"] == room_id
    assert sorted(ack["recording"]["files"]) == sorted(t["file"] for t in manifest["tracks"])
    assert {(t["participant_id"], t["kind"]) for t in manifest["tracks"]} == {
        (c.self_id, kind) for c in (host, pat) for kind in ("audio", "video")}
    for track in manifest["tracks"]:
        with av.open(str(directory / track["file"])) as container:
            frames = sum(1 for _ in container.decode(container.streams[0]))
        assert frames > (30 if track["kind"] == "video" else 100), (track, frames)

    # the meeting goes on: media still flows after the recording
    before = pat.received(host, "video")
    await pat.wait_for_frames(host, "video", before + 10)
