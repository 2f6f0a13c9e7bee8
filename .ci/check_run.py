"""CI's check of the README's run command (called by .ci/run while `./dev run` is starting).

Waits until the server answers /healthz, then checks what a new user gets: the start page, the demo
room's links printed on stdout, the room's page and the bundle it names (plain and gzip-compressed),
the room as its invite sees it, and (over Socket.IO, as the browser does) a join that lands on a
stage showing a live panel whose data arrives. Standard library only: it runs with the system's
python3, beside a venv it must not touch; the Socket.IO part uses Engine.IO's long-polling over
plain HTTP.

Exit status 0 when everything answered as it should; otherwise it says what did not, and exits 1.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

LINK = re.compile(r"demo room, (host|participant) link:\s+(\S+)")


def fail(message: str) -> None:
    print(f"run check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def get(url: str, *, token: str = "", encoding: str = "", timeout: float = 10) -> tuple[int, bytes, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if encoding:
        headers["Accept-Encoding"] = encoding
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def post(url: str, body: bytes, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain;charset=UTF-8"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def wait_until_up(base: str, pid: int, stdout_path: str, deadline: float) -> dict[str, str]:
    """/healthz answers and the demo links are printed (installing comes first: this can take minutes)."""
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            fail("./dev run exited before the server came up")
        try:
            status, _, _ = get(f"{base}/healthz", timeout=2)
        except (urllib.error.URLError, OSError):
            status = 0
        if status == 200:
            with open(stdout_path, encoding="utf-8", errors="replace") as f:
                links = dict(LINK.findall(f.read()))
            if {"host", "participant"} <= links.keys():
                return links
        time.sleep(1)
    fail("the server did not answer /healthz with the demo links printed in time")
    raise AssertionError  # unreachable


class Polling:
    """A minimal Socket.IO v5 client over Engine.IO v4 long-polling (enough to join and listen)."""

    def __init__(self, base: str) -> None:
        self.base = base
        status, body, _ = get(f"{base}/socket.io/?EIO=4&transport=polling")
        if status != 200 or not body.startswith(b"0"):
            fail(f"Engine.IO handshake answered {status}: {body[:200]!r}")
        self.sid = json.loads(body[1:])["sid"]
        self.url = f"{base}/socket.io/?EIO=4&transport=polling&sid={urllib.parse.quote(self.sid)}"
        self.pending: list[str] = []
        self.send("40")
        self.expect(lambda p: p.startswith("40"), "the Socket.IO connect")

    def send(self, packet: str) -> None:
        status, _ = post(self.url, packet.encode())
        if status != 200:
            fail(f"Engine.IO POST answered {status}")

    def packets(self) -> list[str]:
        status, body, _ = get(self.url, timeout=30)
        if status != 200:
            fail(f"Engine.IO poll answered {status}")
        out = []
        for packet in body.decode().split("\x1e"):
            if packet == "2":  # ping
                self.send("3")
            elif packet:
                out.append(packet)
        return out

    def expect(self, match, what: str, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pending:
                self.pending = self.packets()
            while self.pending:
                packet = self.pending.pop(0)
                if match(packet):
                    return packet
        fail(f"no {what} within {timeout:.0f} s")

    def event(self, name: str, timeout: float = 20) -> object:
        prefix = f'42["{name}",'
        packet = self.expect(lambda p: p.startswith(prefix), f"`{name}` event", timeout)
        return json.loads(packet[2:])[1]

    def request(self, name: str, payload: dict, timeout: float = 20) -> dict:
        self.send("420" + json.dumps([name, payload]))
        packet = self.expect(lambda p: p.startswith("430"), f"answer to `{name}`", timeout)
        return json.loads(packet[3:])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--stdout", required=True, help="the file ./dev run writes its stdout to")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    base = args.url.rstrip("/")

    links = wait_until_up(base, args.pid, args.stdout, time.monotonic() + args.timeout)
    print(f"run check: /healthz answers; demo host link {links['host']}")

    status, body, _ = get(f"{base}/")
    if status != 200 or b'data-page="start"' not in body:
        fail(f"the start page answered {status}")
    for name in ("host", "participant"):
        url = urllib.parse.urlsplit(links[name])
        if url.path != "/r/demo":
            fail(f"the {name} link {links[name]} is not the demo room's")
        status, body, _ = get(f"{base}{url.path}?{url.query}")
        if status != 200 or b'data-page="room"' not in body:
            fail(f"the demo room's page answered {status} to the {name} link")
        assets = [a.decode() for a in re.findall(rb'(?:src|href)="(/static/[^"]+)"', body)]
        if not any(a.endswith(".js") for a in assets):
            fail(f"the demo room's page names no script: {assets}")
        for asset in assets:  # the bundle's hashed names, as the build wrote them into the page
            status, data, _ = get(base + asset)
            if status != 200 or not data:
                fail(f"{asset} answered {status}")
            status, packed, headers = get(base + asset, encoding="gzip")
            if status != 200 or headers.get("Content-Encoding") != "gzip" or gzip.decompress(packed) != data:
                fail(f"{asset} is not sent gzip-compressed to a client that accepts gzip ({status}, "
                     f"Content-Encoding {headers.get('Content-Encoding')})")
        token = urllib.parse.parse_qs(url.query)["t"][0]
        status, data, _ = get(f"{base}/api/rooms/demo", token=token)
        if status != 200 or json.loads(data).get("role") != name:
            fail(f"GET /api/rooms/demo with the {name} link answered {status}: {data[:200]!r}")
    print("run check: start page, room page, bundle (also gzip-compressed) and room API answer")

    token = urllib.parse.parse_qs(urllib.parse.urlsplit(links["participant"]).query)["t"][0]
    sio = Polling(base)
    ack = sio.request("join", {"token": token, "name": "CI run check"})
    if not ack.get("ok"):
        fail(f"join answered {ack}")
    panel = (ack.get("stage") or {}).get("panel_id")
    if (ack.get("stage") or {}).get("kind") != "panel" or not panel:
        fail(f"the demo room's stage shows no panel: {ack.get('stage')}")
    if not any(p.get("id") == panel for p in ack.get("panels", [])):
        fail("the panel on stage is not among the room's panels")
    update = sio.event("panel_data", timeout=30)
    print(f"run check: joined the demo room; {len(ack['panels'])} panels, live data for {update.get('panel_id')}")
    sio.request("leave", {})
    print("run check: ok")


if __name__ == "__main__":
    main()
