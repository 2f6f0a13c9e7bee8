"""What a meeting decided survives the server (issue 15, "State that survives a restart"), against
real ``sitroom serve`` processes on the same data: the stage (what is shown, its version, the
follow lock), raised hands and a host's held mutes come back after a SIGKILL and after a graceful
stop; a graceful stop tells every client first and closes their connections; a document that was
being rendered when the server stopped ends as failed, not "processing" for ever."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest
import socketio

from tests.conftest import start_server, stop_server
from tests.sio_helpers import ProtocolClient

pytestmark = pytest.mark.timeout(180)

PANEL = {"title": "Traffic now", "kind": "kpi",
         "source": {"type": "simulated", "feed": "traffic", "interval_s": 5}, "options": {}}
DEVICE = "device-restart-test"


def _db(tmp: Path) -> sqlite3.Connection:
    return closing(sqlite3.connect(tmp / "data" / "sitroom.db", timeout=10))


def _kept(tmp: Path, room_id: str) -> tuple[dict, dict] | None:
    with _db(tmp) as db:
        row = db.execute("SELECT stage, meeting FROM room_states WHERE room_id = ?", (room_id,)).fetchone()
    return None if row is None else (json.loads(row[0]), json.loads(row[1]))


async def _until_kept(tmp: Path, room_id: str, ok) -> tuple[dict, dict]:
    """The room's kept state, once ``ok(stage, meeting)`` holds (written a moment after a change)."""
    for _ in range(100):
        kept = _kept(tmp, room_id)
        if kept is not None and ok(*kept):
            return kept
        await asyncio.sleep(0.1)
    raise AssertionError(f"the room's state was not kept as expected: {_kept(tmp, room_id)}")


async def _meeting_with_decisions(srv, tmp: Path) -> dict:
    """A host and a participant; the host puts a panel on stage, locks following, turns
    self-unmute off and mutes the participant, who has raised a hand."""
    room = srv.create_room("Restart")
    host = await ProtocolClient(srv.base_url).connect()
    guest = await ProtocolClient(srv.base_url).connect()
    host_ack = await host.join(room["links"]["host"].split("?t=")[1], "Hana Host")
    guest_token = room["links"]["participant"].split("?t=")[1]
    guest_ack = await guest.request("join", {"token": guest_token, "name": "Pia Guest", "device_id": DEVICE})
    assert guest_ack["ok"], guest_ack
    guest_id = guest_ack["self"]["id"]
    panel = (await host.request("panel_create", PANEL))["panel"]
    assert (await host.request("stage_set", {"kind": "panel", "panel_id": panel["id"]}))["ok"]
    stage = (await host.request("stage_follow_lock", {"locked": True}))["stage"]
    assert (await host.request("set_allow_self_unmute", {"allowed": False}))["ok"]
    assert (await guest.request("hand", {"raised": True}))["ok"]
    assert (await host.request("mute", {"participant_id": guest_id, "kind": "audio"}))["changed"]
    refused = await guest.request("media_state", {"audio_muted": False, "video_muted": True})
    assert refused["ok"] is False  # held: the guest may not lift it
    await _until_kept(tmp, room["room"]["id"],
                      lambda s, m: s["state"]["locked_follow"] and m["hands"] and m["held"])
    return {"room": room, "host": host, "guest": guest, "guest_token": guest_token, "guest_id": guest_id,
            "host_resume": host_ack["resume_key"], "guest_resume": guest_ack["resume_key"],
            "panel_id": panel["id"], "stage": stage}


async def _come_back_and_find_everything(srv, m: dict) -> None:
    host = await ProtocolClient(srv.base_url).connect()
    guest = await ProtocolClient(srv.base_url).connect()
    try:
        host_ack = await host.request("join", {"token": m["room"]["links"]["host"].split("?t=")[1],
                                               "name": "Hana Host", "resume_key": m["host_resume"]})
        assert host_ack["ok"] and host_ack["resumed"] and host_ack["self"]["role"] == "host", host_ack
        stage = host_ack["stage"]
        assert (stage["kind"], stage["panel_id"], stage["locked_follow"], stage["version"]) == \
            ("panel", m["panel_id"], True, m["stage"]["version"])
        assert host_ack["settings"]["allow_self_unmute"] is False
        guest_ack = await guest.request("join", {"token": m["guest_token"], "name": "Pia Guest",
                                                 "device_id": DEVICE, "resume_key": m["guest_resume"]})
        assert guest_ack["ok"] and guest_ack["resumed"], guest_ack
        me = guest_ack["self"]
        assert (me["id"], me["role"], me["hand_raised"], me["audio_muted"]) == \
            (m["guest_id"], "participant", True, True)
        assert guest_ack["held"] == ["audio"] and guest_ack["hands"] == [m["guest_id"]]
        assert (await host.next_event("hands"))["queue"] == [m["guest_id"]]  # the host sees it come back
        refused = await guest.request("media_state", {"audio_muted": False, "video_muted": True})
        assert refused["ok"] is False and refused["error"]["code"] == "forbidden", refused
    finally:
        for client in (host, guest):
            await client.close()


async def test_stage_hands_and_held_mutes_survive_a_sigkill(tmp_path):
    srv = start_server(tmp_path)
    port = int(srv.base_url.rsplit(":", 1)[1])
    try:
        m = await _meeting_with_decisions(srv, tmp_path)
        srv.proc.kill()  # SIGKILL: nothing is written on the way out
        srv.proc.wait(timeout=10)
        for client in (m["host"], m["guest"]):
            await client.close()
    finally:
        stop_server(srv)
    again = start_server(tmp_path, port=port)  # the same data, the same address
    try:
        await _come_back_and_find_everything(again, m)
    finally:
        stop_server(again)


async def test_a_graceful_stop_tells_clients_closes_them_and_keeps_the_meeting(tmp_path):
    srv = start_server(tmp_path)
    try:
        m = await _meeting_with_decisions(srv, tmp_path)
        srv.proc.send_signal(signal.SIGTERM)
        for client in (m["host"], m["guest"]):
            assert await client.next_event("server_restarting") == {}
        for client in (m["host"], m["guest"]):  # the server closes them (it does not wait them out)
            for _ in range(100):
                if not client.sio.connected:
                    break
                await asyncio.sleep(0.1)
            assert not client.sio.connected
        assert srv.proc.wait(timeout=30) == 0
        log = srv.log()
        assert "told 2 connection(s) to come back" in log and "Traceback" not in log, log
        with _db(tmp_path) as db:  # their joins ended at the stop, not left open for a crash clean-up
            assert db.execute("SELECT COUNT(*) FROM participants WHERE left_at IS NULL").fetchone()[0] == 0
    finally:
        stop_server(srv)
    again = start_server(tmp_path)
    try:
        assert "did not stop cleanly" not in again.log()
        await _come_back_and_find_everything(again, m)
    finally:
        stop_server(again)


async def test_a_document_being_rendered_when_the_server_stopped_ends_failed(tmp_path):
    srv = start_server(tmp_path)
    room = srv.create_room("Documents")
    stop_server(srv)
    document_id = "d_" + uuid.uuid4().hex[:24]
    with _db(tmp_path) as db:
        db.execute("INSERT INTO documents (id, room_id, title, filename, kind, page_count, status, size_bytes, "
                   "sha256, storage_dir, created_at) VALUES (?, ?, 'Budget', 'budget.pdf', 'pdf', 300, "
                   "'processing', 1000, ?, ?, '2026-12-03 05:00:00')",
                   (document_id, room["room"]["id"], "0" * 64, str(tmp_path / "data" / "documents" / "x")))
        db.commit()
    again = start_server(tmp_path)
    try:
        with _db(tmp_path) as db:
            status, error = db.execute("SELECT status, error FROM documents WHERE id = ?", (document_id,)).fetchone()
        assert status == "failed" and "upload it again" in error
        client = await ProtocolClient(again.base_url).connect()
        ack = await client.join(room["links"]["host"].split("?t=")[1], "Hana Host")
        assert [(d["id"], d["status"]) for d in ack["documents"]] == [(document_id, "failed")]
        await client.close()
    finally:
        stop_server(again)


async def test_a_graceful_stop_does_not_wait_on_a_long_polling_client(tmp_path):
    """A client on long-polling (a network that blocks WebSockets) is told and closed like the
    others: the server used to wait for good for it to take the close packet."""
    srv = start_server(tmp_path, "--media-workers", "0")
    try:
        room = srv.create_room("Polling")
        client = socketio.AsyncClient(reconnection=False)
        told = asyncio.Event()
        client.on("server_restarting", lambda data=None: told.set())
        await asyncio.wait_for(client.connect(srv.base_url, transports=["polling"]), 15)
        ack = await client.call("join", {"token": room["links"]["participant"].split("?t=")[1], "name": "Polly"},
                                timeout=15)
        assert ack["ok"], ack
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=30) == 0  # (it did not exit at all before)
        assert "told 1 connection(s) to come back" in srv.log()
        await asyncio.wait_for(told.wait(), 10)
        await client.disconnect()
    finally:
        stop_server(srv)
