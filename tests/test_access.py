"""Access holes a security review found (issue 15, "Invites and access"), against a real server:
another site's page may not open a Socket.IO connection; malformed Socket.IO packets get a clear
error, never a traceback; responses carry a Content-Security-Policy and no version banner; the
SQLite file is readable by the server's user only; a connection that never joins is closed;
``/api/metrics`` wants its token from every caller, loopback included."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import urllib.error
import urllib.request
from contextlib import closing

import aiohttp
import pytest
import socketio

from server.app import origin_check
from server.config import Config
from tests.conftest import ADMIN_TOKEN, ORGANISER_KEY, organiser_header, start_server, stop_server
from tests.room_harness import db_count, module_server
from tests.sio_helpers import ProtocolClient

pytestmark = pytest.mark.timeout(120)

server = module_server("access")
EVIL = "http://evil.example"


# ---- the origin of a Socket.IO connection ------------------------------------------------------

async def test_a_page_of_another_site_cannot_open_a_socket(server):
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await asyncio.wait_for(client.connect(server.base_url, transports=["websocket"],
                                              headers={"Origin": EVIL}), 15)
    assert not client.connected
    # the handshake itself is refused: no websocket is opened
    async with aiohttp.ClientSession() as session:
        async with session.get(server.base_url + "/socket.io/?EIO=4&transport=polling",
                               headers={"Origin": EVIL}) as response:
            assert response.status == 400
            assert "not an accepted origin" in await response.text()


async def test_the_servers_own_pages_and_programs_connect(server):
    same = socketio.AsyncClient(reconnection=False)
    await asyncio.wait_for(same.connect(server.base_url, transports=["websocket"],
                                        headers={"Origin": server.base_url}), 15)
    assert same.connected
    await same.disconnect()
    program = await ProtocolClient(server.base_url).connect()  # no Origin header: not a browser page
    assert program.sio.connected
    await program.close()


def test_which_origins_are_allowed():
    config = Config(public_url="https://meet.seoul.example/", allowed_origins=["https://portal.example:8443"])
    allowed = origin_check(config)
    here = {"HTTP_HOST": "10.1.2.3:8080", "wsgi.url_scheme": "http"}
    assert allowed("http://10.1.2.3:8080", here)  # the page the server itself served
    assert allowed("https://meet.seoul.example", here)  # through the reverse proxy
    assert allowed("https://MEET.seoul.example:443", here)
    assert allowed("https://portal.example:8443", here)
    for origin in (EVIL, "http://10.1.2.3:8081", "https://10.1.2.3:8080", "http://meet.seoul.example",
                   "https://portal.example", "null", "", "http://10.1.2.3:8080.evil.example"):
        assert not allowed(origin, here), origin
    assert not allowed("http://10.1.2.3:8080", {"wsgi.url_scheme": "http"})  # no Host: nothing is "same"
    assert not allowed(None, here)  # python-engineio asks this way about CORS headers


# ---- packets python-socketio cannot take ---------------------------------------------------------

MALFORMED = ["42[]", "427[]", "42{}", "42" + "[" * 1000 + "]" * 1000, '42["chat_send",' + "[" * 900 + "]" * 900 + "]",
             "42", "4"]


async def raw_socket(session: aiohttp.ClientSession, base_url: str):
    ws = await session.ws_connect(base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket")
    assert (await ws.receive(timeout=10)).data.startswith("0")
    await ws.send_str("40")
    assert (await ws.receive(timeout=10)).data.startswith("40")
    return ws


async def test_malformed_packets_get_bad_request_and_no_traceback(server):
    before = server.log_path.read_text().count("Traceback")
    async with aiohttp.ClientSession() as session:
        ws = await raw_socket(session, server.base_url)
        for packet in MALFORMED:
            await ws.send_str(packet)
            await ws.send_str('42["no_such_event"]')  # a marker: the next answer is about it
            answers = []
            while not any("unknown_event" in a for a in answers):
                answers.append((await ws.receive(timeout=10)).data)
            assert any("bad_request" in a for a in answers[:-1]), (packet[:20], answers)
        # an ack was asked for (id 7): it comes, refused
        await ws.send_str("427[]")
        answers = [(await ws.receive(timeout=10)).data for _ in range(2)]
        assert any(a.startswith("437[") and '"bad_request"' in a for a in answers), answers
        await ws.close()
    assert server.log_path.read_text().count("Traceback") == before


async def test_a_flood_of_malformed_packets_is_dropped_and_the_server_serves_on(server):
    size = server.log_path.stat().st_size
    async with aiohttp.ClientSession() as session:
        ws = await raw_socket(session, server.base_url)
        for _ in range(2000):
            await ws.send_str("42[]")
        await ws.close()
    await asyncio.sleep(1)
    # the rate limit answers ~60 and drops the rest: a few lines of log, not megabytes
    assert server.log_path.stat().st_size - size < 40_000
    with urllib.request.urlopen(server.base_url + "/healthz", timeout=10) as response:
        assert response.status == 200
    other = await ProtocolClient(server.base_url).connect()
    ack = await other.request("chat_send", {"text": "hi"})
    assert ack["error"]["code"] == "not_joined"
    await other.close()


# ---- headers, files, idle sockets -----------------------------------------------------------------

def test_responses_carry_a_content_security_policy_and_no_versions(server):
    for path in ("/", "/healthz", "/api/cities", "/socket.io/?EIO=4&transport=polling"):
        with urllib.request.urlopen(server.base_url + path, timeout=10) as response:
            headers = response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["Server"] == "Sitroom", (path, headers["Server"])


def test_the_database_file_is_the_servers_alone(server):
    mode = stat.S_IMODE(os.stat(server.db_path).st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(os.stat(server.db_path.parent).st_mode) & 0o077 == 0


async def test_a_connection_that_never_joins_is_closed(server):
    idle = await ProtocolClient(server.base_url).connect()
    joined_late = await ProtocolClient(server.base_url).connect()
    try:
        # a client that joins at once keeps its connection; one that never does loses it
        deadline = asyncio.get_running_loop().time() + 20
        while idle.sio.connected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.25)
        assert not idle.sio.connected
        assert not joined_late.sio.connected  # (it waited as long without joining)
        fresh = await ProtocolClient(server.base_url).connect()
        room = server.create_room("Idle")
        await fresh.join(room["links"]["participant"].split("?t=")[1], "Prompt")
        await asyncio.sleep(12)
        assert fresh.sio.connected
        await fresh.close()
    finally:
        await idle.close()
        await joined_late.close()


# ---- metrics ---------------------------------------------------------------------------------------

def get_status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_metrics_want_the_token_even_from_loopback(server):
    # behind a reverse proxy on the same host every request comes from 127.0.0.1
    assert get_status(server.base_url + "/api/metrics") == 401
    assert get_status(server.base_url + "/api/metrics", "wrong") == 401
    assert get_status(server.base_url + "/api/metrics", ADMIN_TOKEN) == 200


def test_without_a_configured_token_one_is_made_kept_and_announced(tmp_path):
    srv = start_server(tmp_path, admin_token=None)
    try:
        path = tmp_path / "data" / "admin-token"
        token = path.read_text().strip()
        assert len(token) >= 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert get_status(srv.base_url + "/api/metrics") == 401
        assert get_status(srv.base_url + "/api/metrics", token) == 200
        assert str(path) in srv.log()  # the operator is told where it is
    finally:
        stop_server(srv)


# ---- JSON routes ----------------------------------------------------------------------------------

def post(url: str, body: bytes, content_type: str | None, key: str | None = ORGANISER_KEY) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={**({"Content-Type": content_type} if content_type else {}),
                                              **organiser_header(key)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_json_routes_refuse_other_content_types(server):
    """A cross-site page can POST text/plain (or a form) without a preflight: it must not create rooms."""
    body = json.dumps({"title": "Sneaky"}).encode()
    before = db_count(server, "SELECT COUNT(*) FROM rooms")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        # what another site's page can send without a preflight: no Authorization header
        status, answer = post(server.base_url + "/api/rooms", body, content_type, key=None)
        assert status == 401 and answer["error"]["code"] == "organiser_key_required", (content_type, status, answer)
        # and even with the key (a program, not a page) the body must be JSON
        status, answer = post(server.base_url + "/api/rooms", body, content_type)
        assert status == 415 and answer["error"]["code"] == "unsupported_type", (content_type, status, answer)
    assert db_count(server, "SELECT COUNT(*) FROM rooms") == before
    status, answer = post(server.base_url + "/api/rooms", body, "application/json; charset=utf-8")
    assert status == 201 and answer["room"]["title"] == "Sneaky"


# ---- after a crash -------------------------------------------------------------------------------

async def test_a_crash_leaves_no_join_open_and_a_single_use_invite_works_again(tmp_path):
    srv = start_server(tmp_path)
    try:
        room = srv.create_room("Crash")
        host = await ProtocolClient(srv.base_url).connect()
        await host.join(room["links"]["host"].split("?t=")[1], "Hana Host")
        ack = await host.request("invite_create", {"role": "participant", "label": "Lagos delegate", "max_uses": 1})
        personal = ack["link"].split("?t=")[1]
        guest = await ProtocolClient(srv.base_url).connect()
        resume_key = (await guest.join(personal, "Pia Personal"))["resume_key"]
        await asyncio.sleep(1)
        srv.proc.kill()  # SIGKILL: no leave is recorded
        srv.proc.wait(timeout=10)
        for client in (host, guest):
            await client.close()
    finally:
        stop_server(srv)
    with closing(sqlite3.connect(tmp_path / "data" / "sitroom.db", timeout=10)) as db:
        assert db.execute("SELECT COUNT(*) FROM participants WHERE left_at IS NULL").fetchone()[0] == 2

    again = start_server(tmp_path)  # the same data
    try:
        with closing(sqlite3.connect(tmp_path / "data" / "sitroom.db", timeout=10)) as db:
            assert db.execute("SELECT COUNT(*) FROM participants WHERE left_at IS NULL").fetchone()[0] == 0
        assert "did not stop cleanly" in again.log()
        # someone else with the forwarded link: the single use is taken
        other = await ProtocolClient(again.base_url).connect()
        ack = await other.request("join", {"token": personal, "name": "Forwarded"})
        assert ack["ok"] is False and ack["error"]["code"] == "invalid_token", ack
        await other.close()
        # the holder comes back on its resume key (it was refused as "already in use" for good)
        back = await ProtocolClient(again.base_url).connect()
        ack = await back.request("join", {"token": personal, "name": "Pia Personal", "resume_key": resume_key})
        assert ack["ok"] and ack["resumed"], ack
        await back.close()
    finally:
        stop_server(again)
