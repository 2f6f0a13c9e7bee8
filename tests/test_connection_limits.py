"""Connections that never join, against a real server (issue "survive": 248 idle sockets under
``ulimit -n 256`` made ``/healthz`` and every join fail, and the accept loop wrote 46,204
tracebacks in 14 s): one remote address may hold only so many connections (the next is answered
429 and closed); out of file descriptors, new connections are answered 503, the log gets a
summary line now and then, and the server serves again once descriptors are free; idle HTTP
connections are closed by the server."""

from __future__ import annotations

import asyncio
import http.client
import json
import resource
import socket
import time

import aiohttp
import pytest

from tests.conftest import ADMIN_TOKEN, start_server, stop_server
from tests.sio_helpers import ProtocolClient

pytestmark = pytest.mark.timeout(150)

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def address(server) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def request_on(sock: socket.socket, raw: bytes = HEALTHZ) -> tuple[int, bytes]:
    """Send ``raw`` on ``sock``; the status and body of the answer (bounded wait)."""
    sock.settimeout(10)
    sock.sendall(raw)
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def healthz_from(server, source: str = "127.0.0.1") -> tuple[int, bytes]:
    with socket.create_connection(address(server), timeout=10, source_address=(source, 0)) as sock:
        return request_on(sock)


def tcp_metrics(server, source: str = "127.0.0.1") -> dict:
    with socket.create_connection(address(server), timeout=10, source_address=(source, 0)) as sock:
        status, body = request_on(sock, b"GET /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n\r\n")
    assert status == 200, (status, body)
    return json.loads(body)["tcp"]


def wait_for_healthz(server, timeout: float = 20) -> int:
    """The status /healthz answers with once it answers 200, or the last one seen (0: none)."""
    status = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = healthz_from(server)[0]
        except OSError:
            status = 0
        if status == 200:
            break
        time.sleep(0.2)
    return status


def open_idle(server, count: int) -> list[socket.socket]:
    """``count`` TCP connections that send nothing (those the system will not make are left out)."""
    sockets = []
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(address(server), timeout=3))
        except OSError:
            pass
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (what it sent before, if anything, is read away)."""
    sock.setblocking(False)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


async def join_works(server) -> None:
    room = server.create_room("After the flood")
    client = await ProtocolClient(server.base_url).connect()
    try:
        ack = await client.join(room["links"]["participant"].split("?t=")[1], "Back again")
        assert ack["ok"] and ack["self"]["id"], ack
    finally:
        await client.close()


# ---- a cap per remote address --------------------------------------------------------------------

def test_a_connection_beyond_the_cap_is_refused_and_others_keep_working(tmp_path):
    server = start_server(tmp_path, "--media-workers", "0", "--max-connections-per-address", "8")
    idle = []
    try:
        idle = open_idle(server, 8)
        assert len(idle) == 8
        # the ninth from 127.0.0.1: a clear refusal, at once, not a hang or a reset
        status, body = healthz_from(server)
        assert status == 429, (status, body)
        assert json.loads(body)["error"]["code"] == "too_many_connections"
        # another address is served; so are the connections 127.0.0.1 already has
        assert healthz_from(server, "127.0.0.2")[0] == 200
        assert request_on(idle[0])[0] == 200
        assert request_on(idle[7])[0] == 200
        tcp = tcp_metrics(server, "127.0.0.2")
        assert tcp["refused_per_address"] == 1 and tcp["most_from_one_address"] == 8, tcp
        # one of them closes: 127.0.0.1 may open one again
        idle.pop().close()
        assert wait_for_healthz(server) == 200
        log = server.log()
        assert "beyond 8 open from one address" in log
        assert "Traceback" not in log
    finally:
        for sock in idle:
            sock.close()
        stop_server(server)


# ---- Socket.IO connections that never join -------------------------------------------------------

async def pinged_until_closed(base_url: str, connect_namespace: bool, bound: float) -> bool:
    """An Engine.IO websocket client that answers every ping and never joins (with or without
    connecting the Socket.IO namespace, ignoring the server's disconnect of it); whether the
    server closed its connection within ``bound`` seconds."""
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
                                      autoclose=False)
        assert (await ws.receive(timeout=10)).data.startswith("0")
        if connect_namespace:
            await ws.send_str("40")
        deadline = asyncio.get_running_loop().time() + bound
        while asyncio.get_running_loop().time() < deadline:
            try:
                message = await ws.receive(timeout=1)
            except asyncio.TimeoutError:
                continue
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return True
            if message.data == "2":
                await ws.send_str("3")  # alive, as far as Engine.IO can tell
        await ws.close()
        return False


async def test_a_socket_io_connection_that_never_joins_loses_its_tcp_connection(tmp_path):
    # python-socketio's disconnect of the namespace left the connection open for as long as the
    # client answered pings; one that never connected the namespace had no deadline at all
    server = start_server(tmp_path, "--media-workers", "0", "--join-deadline", "2")
    try:
        closed = await asyncio.gather(pinged_until_closed(server.base_url, True, 15),
                                      pinged_until_closed(server.base_url, False, 15))
        assert closed == [True, True]
        assert "Traceback" not in server.log()
        await join_works(server)  # (a client that joins at once is not hurt)
    finally:
        stop_server(server)


# ---- out of file descriptors ---------------------------------------------------------------------

def at_most_256_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


async def test_out_of_file_descriptors_the_log_stays_small_and_the_server_recovers(tmp_path):
    # (the cap per address, raised for every test server, is not what stops them here)
    server = start_server(tmp_path, "--media-workers", "0", preexec_fn=at_most_256_files)
    idle = []
    try:
        before = server.log()
        idle = open_idle(server, 300)
        assert len(idle) >= 290
        time.sleep(3)  # (how long the old accept loop needed to write ~5,000 tracebacks)
        # the server has no descriptor left for a new connection: it says so, at once
        status, body = healthz_from(server)
        assert status == 503, (status, body)
        assert json.loads(body)["error"]["code"] == "overloaded"
        # a hundred idle connections go away: the server serves new ones again
        for sock in idle[:100]:
            sock.close()
        del idle[:100]
        assert wait_for_healthz(server) == 200
        # the rest are closed by the server itself (idle HTTP connections: 15 s)
        deadline = time.monotonic() + 40
        while idle and time.monotonic() < deadline:
            for sock in [sock for sock in idle if closed_by_server(sock)]:
                sock.close()
                idle.remove(sock)
            time.sleep(0.5)
        assert not idle, f"{len(idle)} idle connections still open"
        await join_works(server)
        tcp = tcp_metrics(server)
        assert tcp["refused_out_of_fds"] >= 10, tcp  # (the connections beyond ~245, and /healthz)
        added = server.log()[len(before):]
        assert "Traceback" not in added
        assert len(added.splitlines()) <= 10 and len(added) < 3000, added[:3000]
        assert "out of file descriptors (limit 256" in added
    finally:
        for sock in idle:
            sock.close()
        stop_server(server)


# ---- behind a trusted reverse proxy --------------------------------------------------------------

def code_lookup(server, forwarded_for: str | None, source: str = "127.0.0.1") -> int:
    """The status of one room-code lookup (a strictly limited route), as sent by a proxy at
    ``source`` for the client ``forwarded_for``."""
    extra = f"X-Forwarded-For: {forwarded_for}\r\n".encode() if forwarded_for else b""
    with socket.create_connection(address(server), timeout=10, source_address=(source, 0)) as sock:
        return request_on(sock, b"GET /api/codes/ABCD-EFGH HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n")[0]


def test_a_trusted_proxy_is_not_capped_and_its_clients_keep_their_own_limits(tmp_path):
    server = start_server(tmp_path, "--media-workers", "0", "--max-connections-per-address", "4",
                          "--trusted-proxy", "127.0.0.1", rate_limit_scale=None)
    idle = []
    try:
        # the proxy (127.0.0.1) holds many connections: none refused
        idle = open_idle(server, 12)
        assert len(idle) == 12 and healthz_from(server)[0] == 200
        # anyone else is capped as before
        others = [socket.create_connection(address(server), timeout=3, source_address=("127.0.0.2", 0))
                  for _ in range(4)]
        idle += others
        assert healthz_from(server, "127.0.0.2")[0] == 429
        # rate limits count per client behind the proxy (the client ::1, as the proxy names it):
        # one client's flood is not another's (the proxy's own requests, without the header)
        statuses = [code_lookup(server, "::1") for _ in range(15)]
        assert statuses.count(429) >= 4 and statuses[0] == 404, statuses
        assert code_lookup(server, None) == 404
        # a client cannot pick its bucket by writing the header itself: the proxy's entry counts
        assert code_lookup(server, "127.0.0.1, ::1") == 429
        # and a sender that is not a trusted proxy is limited as itself, whatever it claims
        # (a new name each time: were it believed, each request would have a bucket of its own)
        statuses = [code_lookup(server, f"client-{i}", source="127.0.0.3") for i in range(15)]
        assert statuses.count(429) >= 4, statuses
    finally:
        for sock in idle:
            sock.close()
        stop_server(server)
