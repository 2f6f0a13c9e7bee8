"""Integration: the stage, live panels and documents over the real Socket.IO and HTTP API."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import urllib.error
import urllib.request

import pytest

from tests.sio_helpers import connected


def token_of(link: str) -> str:
    return link.split("?t=", 1)[1]


def make_pdf(pages: int = 3) -> bytes:
    import pypdfium2

    pdf = pypdfium2.PdfDocument.new()
    for i in range(pages):
        pdf.new_page(400 + 40 * i, 300)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def upload(base_url: str, room_id: str, key: str, data: bytes, filename: str) -> tuple[int, dict]:
    boundary = "sitroomtestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{base_url}/api/rooms/{room_id}/documents", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def until(client, event: str, predicate, timeout: float = 20) -> dict:
    async def loop():
        while True:
            data = await client.next_event(event, timeout=timeout)
            if predicate(data):
                return data
    return await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def meeting(sitroom_server):
    room = sitroom_server.create_room("Situation room")
    host = await connected(sitroom_server.base_url)
    guest = await connected(sitroom_server.base_url)
    host_ack = await host.join(token_of(room["links"]["host"]), "Mayor")
    guest_ack = await guest.join(token_of(room["links"]["participant"]), "Delegate")
    yield room, host, guest, host_ack, guest_ack
    await host.close()
    await guest.close()


async def test_live_panel_on_stage_updates_everyone(sitroom_server, meeting):
    room, host, guest, host_ack, guest_ack = meeting
    assert guest_ack["stage"]["kind"] == "empty" and guest_ack["panels"] == []

    ack = await host.request("panel_create", {
        "title": "PM2.5", "kind": "timeseries",
        "source": {"type": "simulated", "feed": "air_quality", "interval_s": 1}, "options": {"pollutant": "pm25"}})
    assert ack["ok"], ack
    panel = ack["panel"]
    assert (await guest.next_event("panels"))["panels"][0]["id"] == panel["id"]

    ack = await host.request("stage_set", {"kind": "panel", "panel_id": panel["id"]})
    assert ack["ok"] and ack["stage"]["kind"] == "panel"
    stage = await guest.next_event("stage")
    assert stage["panel_id"] == panel["id"] and stage["changed_by"] == host_ack["self"]["id"]

    # The panel's data keeps changing on the participant's side.
    first = await until(guest, "panel_data", lambda d: d["panel_id"] == panel["id"] and d["data"])
    second = await until(guest, "panel_data", lambda d: d["panel_id"] == panel["id"] and d["data"] != first["data"])
    assert second["data"]["series"] and second["error"] is None

    # A participant may not change the stage or the panels; nothing changes.
    for event, payload in (("stage_set", {"kind": "empty"}),
                           ("panel_delete", {"id": panel["id"]}),
                           ("panel_create", {"title": "x", "kind": "kpi", "source": {"type": "simulated", "feed": "traffic"}}),
                           ("stage_pointer", {"x": 0.5, "y": 0.5}),
                           ("stage_follow_lock", {"locked": True})):
        ack = await guest.request(event, payload)
        assert ack["error"]["code"] == "forbidden", (event, ack)
    late = await connected(sitroom_server.base_url)
    try:
        late_ack = await late.join(token_of(room["links"]["participant"]), "Late")
        assert late_ack["stage"]["kind"] == "panel" and late_ack["stage"]["panel_id"] == panel["id"]
        assert any(d["panel_id"] == panel["id"] and d["data"] for d in late_ack["panel_data"])
    finally:
        await late.close()

    # Bad panels are refused with a clear error.
    for bad in ({"title": "", "kind": "kpi", "source": {"type": "simulated", "feed": "traffic"}},
                {"title": "x", "kind": "pie", "source": {"type": "simulated", "feed": "traffic"}},
                {"title": "x", "kind": "table", "source": {"type": "http", "url": "file:///etc/passwd", "format": "json"}},
                {"title": "x", "kind": "table", "source": {"type": "http", "url": "http://127.0.0.1:1/x", "format": "json", "interval_s": 0}}):
        ack = await host.request("panel_create", bad)
        assert ack["error"]["code"] == "bad_request", (bad, ack)


async def test_document_upload_render_and_page_turns(sitroom_server, meeting):
    room, host, guest, host_ack, guest_ack = meeting
    room_id = room["room"]["id"]
    pdf = make_pdf(3)

    # The participant may not upload; hostile or wrong files are refused by content.
    status, body = upload(sitroom_server.base_url, room_id, guest_ack["session_key"], pdf, "slides.pdf")
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = upload(sitroom_server.base_url, room_id, "forged-key", pdf, "slides.pdf")
    assert status == 401
    status, body = upload(sitroom_server.base_url, room_id, host_ack["session_key"], b"hello, not a pdf", "x.pdf")
    assert status == 415 and body["error"]["code"] == "unsupported_type"
    status, body = upload(sitroom_server.base_url, room_id, host_ack["session_key"], b"%PDF-1.7\n garbage", "x.pdf")
    assert status == 400 and body["error"]["code"] == "broken_file"

    status, body = upload(sitroom_server.base_url, room_id, host_ack["session_key"], pdf, "budget.png")
    assert status == 202, body
    document = body["document"]
    assert document["kind"] == "pdf" and document["status"] == "processing" and document["page_count"] == 3
    progress = await until(guest, "document_progress", lambda d: d["document_id"] == document["id"] and d["done"] == 3)
    assert progress["total"] == 3
    ready = await until(guest, "documents", lambda d: any(x["id"] == document["id"] and x["status"] == "ready"
                                                         for x in d["documents"]))
    document = next(x for x in ready["documents"] if x["id"] == document["id"])
    assert len(document["pages"]) == 3 and document["pages"][1]["width"] > 0

    # Page images are served to joined participants only.
    url = sitroom_server.base_url + document["pages"][1]["image"]
    with urllib.request.urlopen(url + "?k=" + guest_ack["session_key"], timeout=10) as response:
        assert response.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url + "?k=nope", timeout=10)
    assert info.value.code == 401

    ack = await host.request("stage_set", {"kind": "document", "document_id": document["id"], "page": 1})
    assert ack["ok"], ack
    stage = await until(guest, "stage", lambda s: s["kind"] == "document")
    assert stage["page"] == 1
    assert (await host.request("stage_set", {"kind": "document", "document_id": document["id"], "page": 3}))["error"]["code"] == "bad_request"
    assert (await host.request("stage_pointer", {"x": 0.25, "y": 0.75}))["ok"]
    pointer = await guest.next_event("stage_pointer")
    assert pointer["x"] == 0.25 and pointer["y"] == 0.75

    late = await connected(sitroom_server.base_url)
    try:
        late_ack = await late.join(token_of(room["links"]["participant"]), "Late")
        assert late_ack["stage"]["kind"] == "document" and late_ack["stage"]["page"] == 1
        assert late_ack["documents"][0]["status"] == "ready"
    finally:
        await late.close()

    # Every stage change is in the timeline, stored in the database.
    events = (await host.request("timeline", {}))["events"]
    kinds = [e["kind"] for e in events]
    assert "document_upload" in kinds and "stage_document" in kinds
    db = sqlite3.connect(sitroom_server.log_path.parent / "data" / "sitroom.db")
    try:
        rows = db.execute("select kind, actor_name from timeline_events where kind like 'stage_%'").fetchall()
    finally:
        db.close()
    assert ("stage_document", "Mayor") in rows
