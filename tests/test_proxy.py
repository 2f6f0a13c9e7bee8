"""The documented reverse proxy in front of two nodes (docs/deploy.md, docs/deploy/nginx-sitroom.conf):
the real nginx, started unprivileged on a free 127.0.0.1 port with that file (its node addresses,
listen lines and certificate lines replaced), in front of two ``sitroom serve`` nodes on the suite's
PostgreSQL and Redis, each started with the proxy's URL as its ``--public-url``.

Through the proxy only: the room's page loads; a room's Socket.IO connections (WebSocket and
long-polling, each carrying ``?room=``) land on one node and meet there; a document is uploaded and
its page image fetched (both need the session on the room's node); when that node is killed,
the same proxy URL brings the clients to the other node, which takes the room over once the dead
node's lease lapses (meanwhile joins are answered ``room_elsewhere`` pointing at the proxy itself,
and asked again), and the chat and the document are still there. Stopped with SIGTERM instead, the
node hands its lease back and the first join on the other node takes the room.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pypdfium2
import pytest
import socketio

from tests.conftest import REPO, ServerProcess, end_process, free_port, unavailable
from tests.nodes_helpers import redirect_of, running_nodes
from tests.rooms_fixtures import postgres_database
from tests.room_harness import token_of
from tests.sio_helpers import TIMEOUT, ProtocolClient

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

TEMPLATE = REPO / "docs" / "deploy" / "nginx-sitroom.conf"
TAKEOVER_DEADLINE_S = 45  # the lease lapses within 15 s; generous for two shared cores


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.access(p, os.X_OK)), None)
    if found is None:
        unavailable("nginx (Debian's nginx package; ./dev test installs it)")
    return found


def site_config(nodes: list[str], ports: dict[str, int]) -> str:
    """docs/deploy/nginx-sitroom.conf for this test: its example node addresses replaced by
    ``nodes``; its HTTPS server in plain HTTP (no certificate here) on 127.0.0.1 ports instead of
    host names: ``ports["main"]`` for meet.city.gov, ``ports["a"]`` and ``ports["b"]`` for each node's
    own name (the node's upstream chosen by the port the request came to instead of its host name);
    its HTTP-to-HTTPS redirect on ``ports["redirect"]``. Everything else as written."""
    text = TEMPLATE.read_text()
    for example, node in zip(("10.0.0.11:8080", "10.0.0.12:8080"), nodes, strict=True):
        assert text.count(example) == 3, "each example node: in the upstream of all, in its own, a backup"
        text = text.replace(example, node)
    replacements = [
        (r"(?m)^\s*listen \[::\]:\d+.*;\n", ""),  # (loopback IPv4 only)
        (r"(?m)^(\s*)listen 443 ssl http2;",
         rf"\1listen 127.0.0.1:{ports['main']};\n\1listen 127.0.0.1:{ports['a']};\n\1listen 127.0.0.1:{ports['b']};"),
        (r"(?m)^(\s*)listen 80;", rf"\1listen 127.0.0.1:{ports['redirect']};"),
        (r"(?m)^\s*ssl_\w+\s.*;\n", ""),
        (r"map \$host \$sitroom_upstream", r"map $server_port $sitroom_upstream"),
        (r"(?m)^(\s*)a\.meet\.city\.gov(\s+sitroom_node_a;)", rf"\g<1>{ports['a']}\2"),
        (r"(?m)^(\s*)b\.meet\.city\.gov(\s+sitroom_node_b;)", rf"\g<1>{ports['b']}\2"),
    ]
    for pattern, new in replacements:
        text, n = re.subn(pattern, new, text)
        assert n, f"the template no longer has {pattern!r}"
    return text


def main_config(scratch: Path, site: str) -> str:
    """The rest of an nginx.conf: every file it writes in ``scratch``, no daemon, no system paths."""
    return f"""
pid {scratch}/nginx.pid;
error_log {scratch}/error.log info;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log {scratch}/access.log;
    client_body_temp_path {scratch}/client_body;
    proxy_temp_path {scratch}/proxy;
    fastcgi_temp_path {scratch}/fastcgi;
    uwsgi_temp_path {scratch}/uwsgi;
    scgi_temp_path {scratch}/scgi;
{site}
}}
"""


@pytest.fixture
async def postgres_url():
    async with postgres_database() as url:
        yield url


@pytest.fixture
def proxy_ports():
    return {"main": free_port(), "a": free_port(), "b": free_port(), "redirect": free_port()}


@pytest.fixture
def nodes(tmp_path, postgres_url, proxy_ports):
    # Both nodes have the proxy's shared URL as their public URL (invites name it), and each its
    # own name at the proxy as its node URL (where a room_elsewhere and a page's 307 point).
    own = [["--node-url", f"http://127.0.0.1:{proxy_ports[name]}"] for name in ("a", "b")]
    with running_nodes(tmp_path, postgres_url, "--public-url", f"http://127.0.0.1:{proxy_ports['main']}",
                       own=own) as started:
        yield started


@pytest.fixture
def proxy(nodes, proxy_ports, tmp_path):
    """nginx in front of ``nodes``, as a ServerProcess whose base URL is the proxy's."""
    binary = nginx_binary()
    # nginx run by root would switch its workers to 'nobody', who cannot enter pytest's folders:
    # then the whole of nginx runs as 'nobody' in a folder of its own.
    as_root = os.geteuid() == 0
    scratch = Path(tempfile.mkdtemp(prefix="sitroom-nginx-")) if as_root else tmp_path / "nginx"
    scratch.mkdir(exist_ok=True)
    site = site_config([n.base_url.removeprefix("http://") for n in nodes], proxy_ports)
    (scratch / "nginx.conf").write_text(main_config(scratch, site))
    user = pwd.getpwnam("nobody") if as_root else None
    if user is not None:
        os.chown(scratch, user.pw_uid, user.pw_gid)
    command = [binary, "-p", str(scratch), "-c", str(scratch / "nginx.conf"), "-e", str(scratch / "error.log"),
               "-g", "daemon off;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30,
                             user=user.pw_uid if user else None, group=user.pw_gid if user else None)
    assert checked.returncode == 0, f"nginx -t refused the documented configuration:\n{checked.stderr}"
    log = open(tmp_path / "nginx.out", "w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            user=user.pw_uid if user else None, group=user.pw_gid if user else None)
    server = ServerProcess(proc, f"http://127.0.0.1:{proxy_ports['main']}", scratch / "error.log")
    server.redirect_url = f"http://127.0.0.1:{proxy_ports['redirect']}"
    server.node_urls = [f"http://127.0.0.1:{proxy_ports[name]}" for name in ("a", "b")]
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, f"nginx exited with {proc.returncode}:\n{server.log()}"
            try:
                with urllib.request.urlopen(server.base_url + "/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"nginx did not answer within 15 s:\n{server.log()}"
                time.sleep(0.1)
        yield server
    finally:
        end_process(proc)
        log.close()
        if as_root:
            shutil.rmtree(scratch, ignore_errors=True)


def room_client(base_url: str, room_id: str) -> ProtocolClient:
    """A Socket.IO client of the room at ``base_url``, carrying ``?room=`` as the web client does."""
    return ProtocolClient(f"{base_url}?room={room_id}")


async def join_through(proxy: ServerProcess, room_id: str, payload: dict) -> tuple[ProtocolClient, dict, int]:
    """Join through the proxy as the web client does: a ``room_elsewhere`` answer sends the next
    join to the URL it names (a node's own name at the proxy), or, when that is where this one went
    (the holder is dead and its lease has not lapsed), asks again there; until TAKEOVER_DEADLINE_S.
    Returns the client, its ack and how many times the join was sent elsewhere."""
    deadline = time.monotonic() + TAKEOVER_DEADLINE_S
    elsewhere = 0
    base_url = proxy.base_url
    while True:
        client = room_client(base_url, room_id)
        await client.connect()
        ack = await client.request("join", payload)
        if ack["ok"]:
            return client, ack, elsewhere
        await client.close()
        assert ack["error"]["code"] == "room_elsewhere", ack
        assert ack["error"]["url"] in proxy.node_urls, ack  # a node's name at the proxy
        elsewhere += 1
        assert time.monotonic() < deadline, f"not taken over within {TAKEOVER_DEADLINE_S} s: {ack}"
        if ack["error"]["url"] == base_url:
            await asyncio.sleep(0.5)
        base_url = ack["error"]["url"]


async def next_matching(client: ProtocolClient, event: str, predicate) -> dict:
    """The first ``event`` that satisfies ``predicate`` (others are skipped), within TIMEOUT."""
    async def wait() -> dict:
        while True:
            data = await client.events[event].get()
            if predicate(data):
                return data
    return await asyncio.wait_for(wait(), TIMEOUT)


def one_page_pdf() -> bytes:
    pdf = pypdfium2.PdfDocument.new()
    pdf.new_page(400, 300)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def http(url: str, key: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    """A request with a participant's session key; the status and the body."""
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Bearer {key}",
                                              **({"Content-Type": content_type} if content_type else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def upload(proxy: ServerProcess, room_id: str, key: str) -> tuple[int, dict]:
    boundary = "sitroomproxyboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plan.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + one_page_pdf() + f"\r\n--{boundary}--\r\n".encode()
    status, data = http(f"{proxy.base_url}/api/rooms/{room_id}/documents", key, body,
                        f"multipart/form-data; boundary={boundary}")
    return status, json.loads(data)


def first_page(documents: list[dict], document_id: str) -> str:
    """The path of a document's first page image."""
    return next(doc for doc in documents if doc["id"] == document_id)["pages"][0]["image"]


def holders(nodes: list[ServerProcess]) -> list[int]:
    return [node.metrics()["cluster"]["rooms_held"] for node in nodes]


@pytest.mark.parametrize("stop", ["kill", "terminate"])
async def test_a_room_goes_to_one_node_through_the_proxy_and_moves_when_it_stops(nodes, proxy, stop):
    """``kill``: the node dies (SIGKILL) and its lease lapses; ``terminate``: it is stopped for an
    upgrade (SIGTERM) and hands its leases back, so the first join on the other node takes the room.
    (Only WebSocket clients then: a long-polling connection keeps a node from stopping on SIGTERM,
    with or without the proxy, a server matter of its own.)"""
    with_polling = stop == "kill"
    room = proxy.create_room("Behind the proxy")
    room_id = room["room"]["id"]
    host_token, guest_token = token_of(room["links"]["host"]), token_of(room["links"]["participant"])
    assert room["links"]["participant"].startswith(proxy.base_url + "/r/")  # invites name the proxy

    # The page loads through the proxy, on whichever node: nobody holds the room yet.
    with urllib.request.urlopen(f"{proxy.base_url}/r/{room_id}?t={guest_token}", timeout=10) as page:
        assert page.status == 200 and "<html" in page.read().decode().lower()
    # (the plain-HTTP server of the file sends browsers to HTTPS)
    assert redirect_of(f"{proxy.redirect_url}/r/{room_id}") == (301, f"https://127.0.0.1/r/{room_id}")

    clients: list[ProtocolClient] = []
    polling = socketio.AsyncClient(reconnection=False)
    try:
        host = room_client(proxy.base_url, room_id)
        await host.connect()
        clients.append(host)
        host_ack = await host.join(host_token, "Mayor")
        guest = room_client(proxy.base_url, room_id)
        await guest.connect()
        clients.append(guest)
        guest_ack = await guest.join(guest_token, "Guest")
        assert [p["name"] for p in guest_ack["participants"]] == ["Mayor"]
        joined = await next_matching(host, "participant_joined", lambda p: p["name"] == "Guest")
        assert joined["id"] == guest_ack["self"]["id"]

        polled: asyncio.Queue = asyncio.Queue()
        if with_polling:
            # A long-polling connection: each of its requests carries ?room= too, so all reach the
            # node that holds its Engine.IO session (any other node would not know the session).
            polling.on("chat_message", polled.put_nowait)
            await asyncio.wait_for(polling.connect(f"{proxy.base_url}?room={room_id}", transports=["polling"],
                                                   socketio_path="/socket.io"), TIMEOUT)
            clerk_ack = await asyncio.wait_for(polling.call("join", {"token": guest_token, "name": "Clerk"},
                                                            timeout=TIMEOUT), TIMEOUT + 1)
            assert clerk_ack["ok"], clerk_ack
            assert polling.transport() == "polling"

        # One node holds the room and has all the connections; the other has none.
        held = holders(nodes)
        assert sorted(held) == [0, 1], held
        owner, other = (nodes[0], nodes[1]) if held[0] else (nodes[1], nodes[0])
        owner_url = proxy.node_urls[nodes.index(owner)]
        assert owner.metrics()["connections"] == (3 if with_polling else 2) and other.metrics()["connections"] == 0

        # Chat through the proxy reaches the others, WebSocket and long-polling.
        sent = await guest.request("chat_send", {"text": "Flooding on the river road"})
        assert sent["ok"], sent
        assert (await next_matching(host, "chat_message", lambda m: True))["text"] == "Flooding on the river road"
        if with_polling:
            assert (await asyncio.wait_for(polled.get(), TIMEOUT))["text"] == "Flooding on the river road"
        # A document through the proxy: the upload and its page image need the host's session,
        # which lives on the holder only.
        status, uploaded = upload(proxy, room_id, host_ack["session_key"])
        assert status == 202, uploaded
        document_id = uploaded["document"]["id"]
        ready = await next_matching(host, "documents", lambda d: any(
            doc["id"] == document_id and doc["status"] == "ready" for doc in d["documents"]))
        page_url = proxy.base_url + first_page(ready["documents"], document_id)
        status, image = http(page_url, host_ack["session_key"])
        assert status == 200 and len(image) > 100
        # A page load of the room through the proxy reaches the holder (no redirect).
        assert redirect_of(f"{proxy.base_url}/r/{room_id}?t={guest_token}")[0] == 200

        # The holder dies (or is stopped). Through the same proxy URL the clients reach the other
        # node, which answers room_elsewhere until the lease lapses (or at once takes it over).
        getattr(owner.proc, stop)()
        # (waited for in a thread: the clients answer the stopping node's goodbye meanwhile)
        await asyncio.to_thread(owner.proc.wait, 15)
        # The page at the stopped node's own name: the proxy's backup, the other node, serves it
        # (no redirect to the name it was asked at, which would come back to it).
        assert redirect_of(f"{owner_url}/r/{room_id}?t={guest_token}")[0] == 200
        killed_at = time.monotonic()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        clients.clear()
        if polling.connected:
            await asyncio.wait_for(polling.disconnect(), TIMEOUT)
        host2, host_back, elsewhere = await join_through(
            proxy, room_id, {"token": host_token, "name": "Mayor", "resume_key": host_ack["resume_key"]})
        clients.append(host2)
        taken_after = time.monotonic() - killed_at
        guest2, guest_back, _ = await join_through(
            proxy, room_id, {"token": guest_token, "name": "Guest", "resume_key": guest_ack["resume_key"]})
        clients.append(guest2)
        print(f"\nthrough nginx: the room was taken over {taken_after:.1f} s after its node was stopped "
              f"({stop}; {elsewhere} join(s) answered room_elsewhere meanwhile)")
        if stop == "terminate":
            assert elsewhere == 0  # the stopped node handed its lease back

        assert host_back["resumed"] and host_back["self"]["id"] == host_ack["self"]["id"]
        assert host_back["self"]["role"] == "host"
        assert guest_back["resumed"] and guest_back["self"]["id"] == guest_ack["self"]["id"]
        assert [m["text"] for m in host_back["chat"]] == ["Flooding on the river road"]
        assert other.metrics()["cluster"]["rooms_held"] == 1 and other.metrics()["connections"] == 2
        # and the meeting goes on there: chat still flows between them
        assert (await host2.request("chat_send", {"text": "Road closed"}))["ok"]
        assert (await next_matching(guest2, "chat_message", lambda m: m["text"] == "Road closed"))["text"]
        assert redirect_of(f"{proxy.base_url}/r/{room_id}?t={guest_token}")[0] == 200
        # The document's page is served by the new holder too: its files are at the path the
        # database recorded (one machine here; several need that folder shared, docs/deploy.md).
        page_url = proxy.base_url + first_page(host_back["documents"], document_id)
        status, image = http(page_url, host_back["session_key"])
        assert status == 200 and len(image) > 100
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if polling.connected:
            await asyncio.wait_for(polling.disconnect(), TIMEOUT)


async def test_a_node_that_comes_back_sends_the_rooms_it_lost_to_their_new_holder(nodes, proxy):
    """A node dies, the other takes its room, the node comes back while the meeting goes on: the
    proxy sends the room to it again, and it sends the page (307) and the joins (room_elsewhere) to
    the holder's own name at the proxy, where newcomers join the meeting."""
    room = proxy.create_room("Back again")
    room_id = room["room"]["id"]
    host_token, guest_token = token_of(room["links"]["host"]), token_of(room["links"]["participant"])
    clients: list[ProtocolClient] = []
    try:
        host, host_ack, _ = await join_through(proxy, room_id, {"token": host_token, "name": "Mayor"})
        clients.append(host)
        held = holders(nodes)
        first = 0 if held[0] else 1
        nodes[first].proc.kill()
        await asyncio.to_thread(nodes[first].proc.wait, 15)
        await host.close()
        clients.clear()
        host2, _, _ = await join_through(proxy, room_id, {"token": host_token, "name": "Mayor",
                                                           "resume_key": host_ack["resume_key"]})
        clients.append(host2)
        assert (await host2.request("chat_send", {"text": "Still here"}))["ok"]

        # The dead node comes back on its address; once nginx tries it again (its fail_timeout),
        # a page load of the room through the shared URL reaches it and is sent to the holder.
        back = nodes[first].restart()
        holder_url = proxy.node_urls[1 - first]
        page = f"/r/{room_id}?t={guest_token}"
        deadline = time.monotonic() + 30
        while (answer := redirect_of(proxy.base_url + page))[0] != 307:
            assert answer[0] == 200, answer  # (served by the holder, until nginx uses the node again)
            assert time.monotonic() < deadline, "nginx did not send the room to the node that came back"
            await asyncio.sleep(0.5)
        assert answer == (307, holder_url + page)
        assert back.metrics()["cluster"]["rooms_held"] == 0

        # A newcomer through the shared URL: sent to the holder's own name, joins there.
        guest, guest_ack, elsewhere = await join_through(proxy, room_id, {"token": guest_token, "name": "Guest"})
        clients.append(guest)
        assert elsewhere == 1 and guest.base_url.startswith(holder_url)
        assert [m["text"] for m in guest_ack["chat"]] == ["Still here"]
        assert [p["name"] for p in guest_ack["participants"]] == ["Mayor"]
        assert (await next_matching(host2, "participant_joined", lambda p: p["name"] == "Guest"))
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
