"""The archive of recorded meetings: the stage timeline written beside a recording
(rooms/stage_record.py), read back by rooms/archive.py, and served by server/record_api.py to the
archive page: a meeting recorded over the real server (media in its workers) while the stage shows a
live panel, a document page and a participant; then the archive's JSON, its files (with ranges),
and every refusal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from rooms.archive import recording_file
from rooms.stage_record import STAGE_LOG_MAX_BYTES, StageLog, read_stage_log
from tests.conftest import ORGANISER_KEY
from tests.meeting_client import MeetingClient
from tests.room_harness import token_of
from tests.test_documents import make_png

TIMEOUT = 30


# ---- the stage log on its own ---------------------------------------------------------------------

class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def panel_stage(panel_id: str) -> dict:
    return {"kind": "panel", "panel_id": panel_id, "document_id": None, "page": 0}


async def test_stage_log_keeps_what_the_stage_showed(tmp_path: Path) -> None:
    documents = tmp_path / "doc1"
    documents.mkdir()
    (documents / "page-0002.webp").write_bytes(b"page two")
    clock = Clock()
    log = StageLog(tmp_path / "rec", clock=clock)
    log.start(stage={"kind": "empty"}, panels=[{"id": "p1", "title": "Air"}],
              people=[{"id": "a", "name": "Hana", "city": "Seoul"}], panel_data=None, document=None)
    clock.t += 1
    log.panel_data({"panel_id": "p1", "data": {"v": 1}})  # not on the stage: not kept
    log.stage(panel_stage("p1"), panel_data={"panel_id": "p1", "data": {"v": 2}, "error": None})
    clock.t += 1
    log.panel_data({"panel_id": "p1", "data": {"v": 3}})
    log.panel_data({"panel_id": "p2", "data": {"v": 99}})  # another panel: not kept
    clock.t += 1
    document = {"id": "doc1", "title": "Budget", "page_count": 3, "storage_dir": str(documents),
                "page_sizes": [[10, 20], [30, 40], [50, 60]]}
    log.stage({"kind": "document", "document_id": "doc1", "page": 1}, document=document)
    log.stage({"kind": "document", "document_id": "doc1", "page": 1}, document=document)  # copied once
    log.panel_data({"panel_id": "p1", "data": {"v": 4}})  # no longer on the stage
    clock.t += 1
    await log.stop()
    assert not log.open
    log.stage({"kind": "empty"})  # after the end: ignored

    entries = read_stage_log(tmp_path / "rec", started=999.5)
    kinds = [(e["t"], e["type"]) for e in entries]
    assert kinds == [(0.5, "person"), (0.5, "panels"), (0.5, "stage"), (1.5, "stage"), (1.5, "panel_data"),
                     (2.5, "panel_data"), (3.5, "stage"), (3.5, "stage"), (3.5, "page"), (4.5, "recording_stop")]
    assert [e["data"]["v"] for e in entries if e["type"] == "panel_data"] == [2, 3]
    page = next(e for e in entries if e["type"] == "page")
    assert page == {"type": "page", "t": 3.5, "document_id": "doc1", "page": 1, "title": "Budget",
                    "page_count": 3, "width": 30, "height": 40, "image": "stage/doc1-page-0002.webp"}
    assert (tmp_path / "rec" / "stage" / "doc1-page-0002.webp").read_bytes() == b"page two"


async def test_a_page_without_its_image_is_still_on_the_timeline(tmp_path: Path) -> None:
    log = StageLog(tmp_path / "rec", clock=Clock())
    log.stage({"kind": "document", "document_id": "gone", "page": 0},
              document={"id": "gone", "title": "Deleted", "page_count": 1, "storage_dir": str(tmp_path / "nowhere")})
    await log.stop()
    page = next(e for e in read_stage_log(tmp_path / "rec", 1000.0) if e["type"] == "page")
    assert page["image"] is None and page["title"] == "Deleted"


def test_a_cut_or_hostile_log_is_read_as_far_as_it_makes_sense(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "stage.jsonl").write_text(
        '{"at": 10, "type": "stage", "stage": {"kind": "empty"}}\n'
        '[1, 2]\n'
        '{"at": "soon", "type": "panels", "panels": []}\n'
        '{"no": "type"}\n'
        '{"at": 5, "type": "stage", "stage": {"kind": "panel"}}\n'
        '{"at": 12, "type": "recording_st', encoding="utf-8")
    entries = read_stage_log(folder, started=8.0)
    # a time before the start counts as the start; a missing one too; the cut line is skipped
    assert [(e["t"], e["type"]) for e in entries] == [(0.0, "panels"), (0.0, "stage"), (2.0, "stage")]
    assert read_stage_log(tmp_path / "absent", 0.0) == []


def test_panel_data_stops_at_the_bound_but_stage_changes_go_on(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("rooms.stage_record.STAGE_LOG_MAX_BYTES", 2000)
    log = StageLog(tmp_path / "rec", clock=Clock())
    log.stage(panel_stage("p1"))
    for i in range(100):
        log.panel_data({"panel_id": "p1", "data": {"i": i, "pad": "x" * 50}})
    log.stage({"kind": "empty"})
    entries = read_stage_log(tmp_path / "rec", 1000.0)
    assert 10 < sum(e["type"] == "panel_data" for e in entries) < 100
    assert entries[-1]["type"] == "stage" and entries[-1]["stage"] == {"kind": "empty"}
    assert STAGE_LOG_MAX_BYTES >= 1 << 20


def test_only_the_recordings_own_files_are_served(tmp_path: Path) -> None:
    room = tmp_path / "room1"
    rec = room / "rec_20261203T090000Z_abc123"
    (rec / "stage").mkdir(parents=True)
    (rec / "a-camera-video.webm").write_bytes(b"x")
    (rec / "stage" / "d-page-0001.webp").write_bytes(b"x")
    (rec / "manifest.json").write_text("{}")
    (tmp_path / "secret.webm").write_bytes(b"secret")
    (rec / "link.webm").symlink_to(tmp_path / "secret.webm")
    assert recording_file(room, rec.name, "a-camera-video.webm") == rec / "a-camera-video.webm"
    assert recording_file(room, rec.name, "stage/d-page-0001.webp") == rec / "stage" / "d-page-0001.webp"
    for name in ("manifest.json", "link.webm", "../../secret.webm", "stage/../a-camera-video.webm",
                 "nothing.webm", "stage", "/etc/passwd", "a/b/c.webm", ".hidden.webm"):
        assert recording_file(room, rec.name, name) is None, name
    for bad_id in ("..", "rec_../x", "other", "rec_" + "a" * 100):
        assert recording_file(room, bad_id, "a-camera-video.webm") is None, bad_id


# ---- a recorded meeting, its archive over HTTP --------------------------------------------------

@pytest.fixture
async def clients():
    made: list = []
    yield made
    await asyncio.gather(*(c.close() for c in made), return_exceptions=True)


async def upload_png(base_url: str, room_id: str, session_key: str) -> str:
    form = aiohttp.FormData()
    form.add_field("file", make_png(64, 48), filename="map.png", content_type="image/png")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base_url}/api/rooms/{room_id}/documents", data=form,
                             headers={"Authorization": f"Bearer {session_key}"},
                             timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as response:
            body = await response.json()
            assert response.status in (200, 201, 202), body
            return body["document"]["id"]


async def until_document_ready(client: MeetingClient, document_id: str) -> None:
    async def loop():
        while True:
            data = await client.proto.next_event("documents", timeout=TIMEOUT)
            doc = next((d for d in data["documents"] if d["id"] == document_id), None)
            if doc is not None and doc["status"] == "ready":
                return
            assert doc is None or doc["status"] != "failed", doc
    await asyncio.wait_for(loop(), TIMEOUT)


async def until_panel_data(client: MeetingClient, panel_id: str) -> None:
    async def loop():
        while (await client.proto.next_event("panel_data", timeout=TIMEOUT)).get("panel_id") != panel_id:
            pass
    await asyncio.wait_for(loop(), TIMEOUT)


async def test_a_recorded_meeting_has_an_archive_with_its_stage(sitroom_server, clients, tmp_path) -> None:
    room = sitroom_server.create_room("Archived")
    room_id = room["room"]["id"]
    host_token = token_of(room["links"]["host"])
    host = MeetingClient(sitroom_server.base_url, "Hana")
    pat = MeetingClient(sitroom_server.base_url, "Pat")
    clients += [host, pat]
    ack = await host.join(host_token)
    await pat.join(token_of(room["links"]["participant"]))
    await host.wait_for_frames(pat, "video", 5)

    panel = (await host.proto.request("panel_create", {
        "title": "PM2.5", "kind": "timeseries",
        "source": {"type": "simulated", "feed": "air_quality", "interval_s": 1},
        "options": {"pollutant": "pm25"}}))["panel"]
    document_id = await upload_png(sitroom_server.base_url, room_id, ack["session_key"])
    await until_document_ready(host, document_id)

    started = await host.proto.request("recording_start", {})
    assert started["ok"], started
    recording_id = started["recording"]["id"]
    assert (await host.proto.request("stage_set", {"kind": "panel", "panel_id": panel["id"]}))["ok"]
    for _ in range(2):  # two updates of the panel on the stage, while it is recorded
        await until_panel_data(host, panel["id"])
    assert (await host.proto.request("stage_set", {"kind": "document", "document_id": document_id, "page": 0}))["ok"]
    await asyncio.sleep(1.0)
    assert (await host.proto.request("stage_set", {"kind": "participant", "participant_id": pat.self_id,
                                                   "source": "camera"}))["ok"]
    await asyncio.sleep(1.0)
    stopped = await host.proto.request("recording_stop", {})
    assert stopped["ok"] and stopped["recording"]["complete"], stopped

    base = sitroom_server.base_url
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
        # who may: the organiser (header) and the room's hosts; nobody else
        async with http.get(f"{base}/api/rooms/{room_id}/archive") as r:
            assert r.status == 401
        async with http.get(f"{base}/api/rooms/{room_id}/archive",
                            params={"t": token_of(room["links"]["participant"])}) as r:
            assert r.status == 403
        async with http.get(f"{base}/api/rooms/{room_id}/archive",
                            headers={"Authorization": f"Bearer {ORGANISER_KEY}"}) as r:
            assert r.status == 200
        async with http.get(f"{base}/api/rooms/{room_id}/archive", params={"t": host_token}) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            assert r.headers["Content-Encoding"] in ("gzip", "deflate")  # (aiohttp asks for it by default)
            archive = await r.json()

        assert archive["room"]["id"] == room_id and archive["room"]["name"] == "Archived"
        [recording] = archive["recordings"]
        assert recording["id"] == recording_id and recording["duration"] > 2
        names = {(t["name"], t["kind"]) for t in recording["tracks"]}
        assert names == {(n, k) for n in ("Hana", "Pat") for k in ("audio", "video")}
        for track in recording["tracks"]:
            assert 0 <= track["start_offset"] < track["end_offset"] <= recording["duration"] + 0.5, track

        # the stage timeline, in order: the panel with the data it showed, the page, the share
        stage = recording["stage"]
        times = [e["t"] for e in stage]
        assert times == sorted(times) and times[-1] <= recording["duration"] + 0.5
        shown = [e["stage"]["kind"] for e in stage if e["type"] == "stage"]
        assert shown == ["empty", "panel", "document", "participant"], shown
        panel_at = next(e["t"] for e in stage if e["type"] == "stage" and e["stage"]["kind"] == "panel")
        data = [e for e in stage if e["type"] == "panel_data"]
        assert len(data) >= 2 and all(e["panel_id"] == panel["id"] and e["t"] >= panel_at for e in data)
        assert all(e["data"] for e in data)
        assert any(e["type"] == "panels" and e["panels"][0]["id"] == panel["id"] for e in stage)
        [page] = [e for e in stage if e["type"] == "page"]
        assert page["document_id"] == document_id and page["page"] == 0 and page["image"]
        assert stage[-1]["type"] == "recording_stop"

        ticket = archive["ticket"]
        # the page as it was shown, and a track, with the ticket; ranges for seeking
        async with http.get(base + page["image"], params={"ticket": ticket}) as r:
            assert r.status == 200 and r.content_type.startswith("image/")
            image = await r.read()
        copied = tmp_path / "data" / "recordings" / room_id / recording_id / "stage"
        assert [p.read_bytes() for p in copied.iterdir()] == [image]
        video = next(t for t in recording["tracks"] if t["kind"] == "video")
        async with http.get(base + video["url"], params={"ticket": ticket},
                            headers={"Range": "bytes=0-99"}) as r:
            assert r.status == 206 and len(await r.read()) == 100
            assert r.content_type == "video/webm"
        # refusals: no ticket, a ticket of another room or forged, files that are not the recording's
        async with http.get(base + video["url"]) as r:
            assert r.status == 401
        other = sitroom_server.create_room("Other")["room"]["id"]
        async with http.get(f"{base}/api/rooms/{other}/archive",
                            headers={"Authorization": f"Bearer {ORGANISER_KEY}"}) as r:
            other_ticket = (await r.json())["ticket"]
            assert (await r.json())["recordings"] == []
        for bad in (other_ticket, ticket[:-2] + "AA", "1." + ticket.split(".")[1], "garbage"):
            async with http.get(base + video["url"], params={"ticket": bad}) as r:
                assert r.status == 403, bad
        prefix = f"{base}/api/rooms/{room_id}/recordings/{recording_id}"
        for name in ("manifest.json", "stage.jsonl", "..%2F..%2F..%2Fsecret", "nothing.webm"):
            async with http.get(f"{prefix}/{name}", params={"ticket": ticket}) as r:
                assert r.status == 404, name

        # the meeting record's timeline says who recorded when
        async with http.get(f"{base}/api/rooms/{room_id}/record.json",
                            headers={"Authorization": f"Bearer {ORGANISER_KEY}"}) as r:
            record = await r.json()
    events = [(e["kind"], e["actor_name"], e["details"].get("recording_id")) for e in record["timeline"]
              if e["kind"].startswith("recording_")]
    assert events == [("recording_start", "Hana", recording_id), ("recording_stop", "Hana", recording_id)]
    assert json.loads((copied.parent / "manifest.json").read_text())["id"] == recording_id
