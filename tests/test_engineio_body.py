"""A Socket.IO request over Engine.IO long-polling arrives whole even when its body comes in pieces.

On a lossy long link a 6 kB `publish` reached the server as 1448 or 2896 bytes: python-engineio
4.15.1 reads a POST body with one `read(length)`, which returns what has arrived so far. Here the
body is sent in two TCP segments with a pause between them (over loopback): the request must be
answered, not dropped as malformed JSON.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request

PAD = "x" * 6000  # about the size of a publish offer


def _handshake(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/socket.io/?EIO=4&transport=polling", timeout=10) as response:
        body = response.read().decode()
    assert body.startswith("0"), body
    return json.loads(body[1:])["sid"]


def _post_in_two_pieces(base_url: str, path: str, body: bytes, pause_s: float = 0.3) -> int:
    host, port = base_url.removeprefix("http://").split(":")
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(head + body[:1400])
        time.sleep(pause_s)  # the rest of the body is still on its way when the server starts reading
        s.sendall(body[1400:])
        response = b""
        while chunk := s.recv(4096):
            response += chunk
    return int(response.split(b" ", 2)[1])


def _poll(base_url: str, sid: str) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/socket.io/?EIO=4&transport=polling&sid={sid}", timeout=15) as response:
        return response.read().decode().split("\x1e")


def test_a_long_polling_request_sent_in_pieces_is_read_whole(sitroom_server):
    base = sitroom_server.base_url
    sid = _handshake(base)
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert _post_in_two_pieces(base, path, b"40", pause_s=0) == 200
    assert any(p.startswith("40") for p in _poll(base, sid)), "connected"

    request = ("420" + json.dumps(["_no_such_event", {"pad": PAD}])).encode()
    assert _post_in_two_pieces(base, path, request) == 200
    answers = []
    deadline = time.monotonic() + 15
    while not any(a.startswith("430") for a in answers) and time.monotonic() < deadline:
        answers += _poll(base, sid)
    ack = next(a for a in answers if a.startswith("430"))
    assert json.loads(ack[3:])[0]["error"]["code"] == "unknown_event", ack
    assert "JSON" not in sitroom_server.log() and "decode" not in sitroom_server.log().lower()
