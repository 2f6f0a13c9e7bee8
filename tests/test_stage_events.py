"""Integration: the stage, live panels and documents over the real Socket.IO and HTTP API."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import urllib.error
import urllib.request

import pytest
from aiohttp import web

from tests.conftest import start_server, stop_server
from tests.room_harness import token_of
from tests.sio_helpers import connected


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
    assert document["created_at"].endswith("Z"), "times are UTC with Z"
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


def is_utc_z(value: str) -> bool:
    from datetime import datetime

    return value.endswith("Z") and "+" not in value and datetime.fromisoformat(value).utcoffset().total_seconds() == 0


async def test_two_presenters_at_once_conflict_and_pointer_moves_do_not(sitroom_server, meeting):
    room, host, guest, host_ack, guest_ack = meeting
    invite = await host.request("invite_create", {"role": "staff", "label": "Deputy"})
    assert invite["ok"], invite
    staff = await connected(sitroom_server.base_url)
    try:
        await staff.join(token_of(invite["link"]), "Deputy Mayor")
        panels = []
        for title in ("Traffic", "Air"):
            ack = await host.request("panel_create", {"title": title, "kind": "kpi",
                                                      "source": {"type": "simulated", "feed": "traffic"}})
            panels.append(ack["panel"]["id"])
        ack = await host.request("stage_set", {"kind": "panel", "panel_id": panels[0], "expected_version": 0})
        assert ack["ok"], ack
        known = ack["stage"]["version"]  # what both presenters now know
        assert is_utc_z(ack["stage"]["changed_at"])
        for client in (staff, guest):
            await until(client, "stage", lambda s: s["version"] == known)

        # The host points around: no new version, no stage event, so nobody's version goes stale.
        for x in (0.1, 0.5, 0.9):
            assert (await host.request("stage_pointer", {"x": x, "y": 0.5}))["ok"]
            assert (await staff.next_event("stage_pointer"))["x"] == x
        assert staff.events["stage"].empty() and guest.events["stage"].empty()

        # Both change the stage from the same version: the first wins, the second is refused.
        first = await staff.request("stage_set", {"kind": "panel", "panel_id": panels[1], "expected_version": known})
        assert first["ok"], first
        assert first["stage"]["version"] == known + 1 and first["stage"]["changed_by"] == staff_id(first)
        second = await host.request("stage_set", {"kind": "empty", "expected_version": known})
        assert second == {"ok": False, "error": {"code": "conflict", "message":
                          "Deputy Mayor changed the stage meanwhile; your change was not made"}}
        # The refused presenter is handed the current stage, and nothing else changed.
        current = await until(host, "stage", lambda s: s["version"] == known + 1)
        assert current["panel_id"] == panels[1] and current["kind"] == "panel"
        assert (await host.request("stage_follow_lock", {"locked": True, "expected_version": known}))["error"]["code"] == "conflict"
        ack = await host.request("stage_follow_lock", {"locked": True, "expected_version": known + 1})
        assert ack["ok"] and ack["stage"]["locked_follow"] and ack["stage"]["version"] == known + 2
        # Without expected_version a change is applied as before (older clients).
        assert (await host.request("stage_set", {"kind": "empty"}))["stage"]["version"] == known + 3
        events = (await host.request("timeline", {}))["events"]
        assert [e["kind"] for e in events].count("stage_panel") == 2, "the refused change is not in the timeline"
        assert all(is_utc_z(e["at"]) for e in events)
    finally:
        await staff.close()


def staff_id(ack: dict) -> str:
    return ack["stage"]["changed_by"]


@pytest.mark.parametrize("how", ["leave", "disconnect"])
async def test_a_participant_on_stage_who_leaves_is_taken_off_it(sitroom_server, meeting, how):
    room, host, guest, host_ack, guest_ack = meeting
    guest_id = guest_ack["self"]["id"]
    ack = await host.request("stage_set", {"kind": "participant", "participant_id": guest_id, "source": "camera"})
    assert ack["ok"], ack
    version = ack["stage"]["version"]
    if how == "leave":
        assert (await guest.request("leave", {}))["ok"]
    else:
        await guest.close()
    stage = await until(host, "stage", lambda s: s["version"] > version)
    assert stage["kind"] == "empty" and stage["participant_id"] is None and stage["version"] == version + 1
    assert (await host.request("stage_set", {"kind": "empty", "expected_version": version + 1}))["ok"], \
        "the host's client can go on from the broadcast version"
    events = (await host.request("timeline", {}))["events"]
    cleared = [e for e in events if e["kind"] == "stage_clear" and e["details"].get("reason") == "left"]
    assert len(cleared) == 1
    assert cleared[0]["target_id"] == guest_id and cleared[0]["target_name"] == "Delegate"
    assert cleared[0]["details"] == {"previous": "participant", "participant_id": guest_id, "source": "camera",
                                     "reason": "left"}


async def test_a_participant_leaving_does_not_touch_a_stage_showing_something_else(sitroom_server, meeting):
    room, host, guest, host_ack, guest_ack = meeting
    ack = await host.request("stage_set", {"kind": "participant", "participant_id": host_ack["self"]["id"]})
    version = ack["stage"]["version"]
    assert (await guest.request("leave", {}))["ok"]
    await host.next_event("participant_left")
    assert (await host.request("stage_set", {"kind": "empty", "expected_version": version}))["ok"]


async def screen_presenter(sitroom_server, title: str):
    """A host and a participant who publishes a screen share (aiortc), both joined to a new room."""
    from tests.media_helpers import SyntheticVideoTrack
    from tests.meeting_client import MeetingClient

    room = sitroom_server.create_room(title)
    host = await connected(sitroom_server.base_url)
    presenter = MeetingClient(sitroom_server.base_url, "Presenter", audio=False, video_fps=5)
    screen = SyntheticVideoTrack(fps=5)
    presenter.peer.local_tracks.append((screen, "screen"))
    try:
        await host.join(token_of(room["links"]["host"]), "Mayor")
        await presenter.join(token_of(room["links"]["participant"]))
    except BaseException:
        await host.close()
        await presenter.close()
        raise
    return host, presenter, screen


async def stop_screen(presenter, screen) -> None:
    """The presenter stops sharing: the screen's m-line goes inactive in a new publish offer."""
    for transceiver in presenter.peer.publish_pc.getTransceivers():
        if transceiver.sender.track is screen:
            transceiver.direction = "inactive"
    presenter.peer.local_tracks.remove((screen, "screen"))
    await presenter.peer.publish(presenter._send_publish)


async def test_stopping_a_screen_share_on_stage_takes_it_off(sitroom_server):
    host, presenter, screen = await screen_presenter(sitroom_server, "Screens")
    try:
        ack = await host.request("stage_set", {"kind": "participant", "participant_id": presenter.self_id,
                                               "source": "screen"})
        assert ack["ok"], ack
        version = ack["stage"]["version"]
        await stop_screen(presenter, screen)
        stage = await until(host, "stage", lambda s: s["version"] > version)
        assert stage["kind"] == "empty" and stage["version"] == version + 1
        events = (await host.request("timeline", {}))["events"]
        cleared = [e for e in events if e["kind"] == "stage_clear"]
        assert [e["details"]["reason"] for e in cleared] == ["screen_stopped"]
        assert cleared[0]["target_id"] == presenter.self_id
        # The camera on stage is another matter: stopping the screen leaves it there.
        ack = await host.request("stage_set", {"kind": "participant", "participant_id": presenter.self_id,
                                               "source": "camera", "expected_version": version + 1})
        assert ack["ok"], ack
    finally:
        await host.close()
        await presenter.close()


# ---- HTTP panels under an explicit allow-list (SITROOM_PANEL_URL_ALLOW), all on 127.0.0.1 ----


@pytest.fixture
async def data_servers():
    """Two JSON servers on 127.0.0.1; only the first will be on the allow-list. Each counts hits."""
    made = []
    for _ in range(2):
        hits: list[str] = []

        async def handle(request: web.Request, hits=hits) -> web.StreamResponse:
            hits.append(request.path)
            name = request.match_info["name"]
            if name == "kpi.json":
                return web.json_response({"Open": len(hits), "Closed": 2})
            if name == "redirect":
                raise web.HTTPFound(request.query["to"])
            return web.Response(status=404)

        app = web.Application()
        app.router.add_get("/{name}", handle)
        runner = web.AppRunner(app, shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        made.append((runner, f"http://127.0.0.1:{runner.addresses[0][1]}", hits))
    yield [(base, hits) for _, base, hits in made]
    for runner, _, _ in made:
        await runner.cleanup()


@pytest.fixture
async def allow_listed(tmp_path, monkeypatch, data_servers):
    (allowed, _), _ = data_servers
    monkeypatch.setenv("SITROOM_PANEL_URL_ALLOW", allowed.removeprefix("http://"))
    server = await asyncio.to_thread(start_server, tmp_path)
    room = server.create_room("Allow-list")
    host = await connected(server.base_url)
    try:
        await host.join(token_of(room["links"]["host"]), "Mayor")
        yield host, data_servers
    finally:
        await host.close()
        await asyncio.to_thread(stop_server, server)


def http_panel(url: str) -> dict:
    return {"title": "City API", "kind": "kpi", "source": {"type": "http", "url": url, "format": "json", "interval_s": 1}}


async def test_http_panels_follow_the_allow_list(allow_listed):
    host, [(allowed, allowed_hits), (other, other_hits)] = allow_listed
    # Allowed: created, polled, its data reaches the room.
    ack = await host.request("panel_create", http_panel(f"{allowed}/kpi.json"))
    assert ack["ok"], ack
    good = ack["panel"]["id"]
    update = await until(host, "panel_data", lambda d: d["panel_id"] == good and d["data"])
    assert update["error"] is None and update["data"]["tiles"][0]["label"] == "Open"
    assert is_utc_z(update["updated_at"]) and is_utc_z(update["ok_at"])

    # Another host:port (also loopback, but not listed) is refused when created or edited.
    for request, payload in (("panel_create", http_panel(f"{other}/kpi.json")),
                             ("panel_update", {"id": good, "source": http_panel(f"{other}/kpi.json")["source"]})):
        ack = await host.request(request, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", ack
        assert "SITROOM_PANEL_URL_ALLOW" in ack["error"]["message"] and "loopback" in ack["error"]["message"]
    panels = await host.request("panel_update", {"id": good, "title": "City API (renamed)"})
    assert panels["panel"]["source"]["url"] == f"{allowed}/kpi.json", "the refused edit changed nothing"

    # A redirect from the allowed server to the other one is not followed; the panel says why.
    ack = await host.request("panel_create", http_panel(f"{allowed}/redirect?to={other}/kpi.json"))
    assert ack["ok"], ack
    redirected = ack["panel"]["id"]
    update = await until(host, "panel_data", lambda d: d["panel_id"] == redirected and d["error"])
    assert update["error"].startswith("redirected to a URL that is not allowed: 127.0.0.1 is a loopback address")
    # A failing source says so in stable words.
    ack = await host.request("panel_create", http_panel(f"{allowed}/missing.json"))
    missing = ack["panel"]["id"]
    update = await until(host, "panel_data", lambda d: d["panel_id"] == missing and d["error"])
    assert update["error"] == "HTTP 404 Not Found" and update["data"] is None
    assert other_hits == [], "nothing reached the server that is not on the list"
    assert "/kpi.json" in allowed_hits


async def test_deleting_the_panel_on_stage_empties_the_stage_and_records_why(sitroom_server, meeting):
    room, host, guest, host_ack, guest_ack = meeting
    ack = await host.request("panel_create", {
        "title": "Traffic", "kind": "kpi", "source": {"type": "simulated", "feed": "traffic", "interval_s": 5}})
    assert ack["ok"], ack
    panel_id = ack["panel"]["id"]
    assert (await host.request("stage_set", {"kind": "panel", "panel_id": panel_id}))["ok"]
    await until(guest, "stage", lambda s: s["kind"] == "panel" and s["panel_id"] == panel_id)

    assert await host.request("panel_delete", {"id": panel_id}) == {"ok": True}
    await until(guest, "stage", lambda s: s["kind"] == "empty")
    events = (await host.request("timeline", {}))["events"]
    clears = [e for e in events if e["kind"] == "stage_clear"]
    assert clears and clears[-1]["details"].get("reason") == "panel_deleted", clears


async def test_a_screen_share_that_stops_gives_the_stage_back_to_the_panel_it_replaced(sitroom_server):
    host, presenter, screen = await screen_presenter(sitroom_server, "Screens and panels")
    try:
        panel = (await host.request("panel_create", {
            "title": "PM2.5", "kind": "timeseries", "source": {"type": "simulated", "feed": "air_quality"}}))["panel"]
        assert (await host.request("stage_set", {"kind": "panel", "panel_id": panel["id"]}))["ok"]
        ack = await host.request("stage_set", {"kind": "participant", "participant_id": presenter.self_id,
                                               "source": "screen"})
        version = ack["stage"]["version"]
        await stop_screen(presenter, screen)
        stage = await until(host, "stage", lambda s: s["version"] > version)
        assert (stage["kind"], stage["panel_id"], stage["version"]) == ("panel", panel["id"], version + 1)
        events = (await host.request("timeline", {}))["events"]
        restored = [e for e in events if e["details"] and e["details"].get("restored")]
        assert len(restored) == 1 and restored[0]["kind"] == "stage_panel"
        assert restored[0]["details"]["reason"] == "screen_stopped" and restored[0]["target_id"] == presenter.self_id
    finally:
        await host.close()
        await presenter.close()


async def test_simulated_panels_follow_their_city(sitroom_server, meeting):
    room, host, guest, host_ack, guest_ack = meeting
    ack = await host.request("panel_create", {
        "title": "PM2.5, Lisbon", "kind": "timeseries", "options": {"pollutant": "pm25"},
        "source": {"type": "simulated", "feed": "air_quality", "city": "lisbon", "interval_s": 1}})
    assert ack["ok"], ack
    lisbon = ack["panel"]
    assert lisbon["source"]["city"] == "lisbon"
    ack = await host.request("panel_create", {
        "title": "Roads, Lagos", "kind": "table", "source": {"type": "simulated", "feed": "traffic", "city": "lagos"}})
    lagos = ack["panel"]
    ack = await host.request("panel_create", {
        "title": "Roads", "kind": "table", "source": {"type": "simulated", "feed": "traffic"}})
    seoul = ack["panel"]
    assert seoul["source"]["city"] == "seoul", "a source without city is Seoul's, and says so"

    data = (await until(guest, "panel_data", lambda d: d["panel_id"] == lisbon["id"] and d["data"]))["data"]
    assert {"Avenidas Novas", "Belém", "Alvalade"} <= set(data["series"]) and "Mapo" not in data["series"]
    data = (await until(guest, "panel_data", lambda d: d["panel_id"] == lagos["id"] and d["data"]))["data"]
    assert "Third Mainland Bridge" in {row[0] for row in data["rows"]}
    data = (await until(guest, "panel_data", lambda d: d["panel_id"] == seoul["id"] and d["data"]))["data"]
    assert "Teheran-ro" in {row[0] for row in data["rows"]}

    # An unknown city is refused, and so is a change to one; nothing changes.
    ack = await host.request("panel_create", {
        "title": "x", "kind": "kpi", "source": {"type": "simulated", "feed": "traffic", "city": "atlantis"}})
    assert ack["error"]["code"] == "bad_request" and "not a built-in city" in ack["error"]["message"], ack
    ack = await host.request("panel_update", {"id": lisbon["id"], "source": {**lisbon["source"], "city": "gotham"}})
    assert ack["error"]["code"] == "bad_request", ack
    # Moving a panel to another city: its data follows.
    ack = await host.request("panel_update", {"id": lisbon["id"], "title": "PM2.5, Bogotá",
                                              "source": {**lisbon["source"], "city": "bogota"}})
    assert ack["ok"] and ack["panel"]["source"]["city"] == "bogota", ack
    await until(guest, "panel_data", lambda d: d["panel_id"] == lisbon["id"] and d["data"]
                and "Chapinero" in d["data"]["series"])
