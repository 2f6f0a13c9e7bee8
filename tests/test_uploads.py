"""Uploads over the real HTTP API: streamed to disk, bounded per room and per server, images decoded
and served re-encoded, no temporary file left behind (issue "survive", Uploads)."""

from __future__ import annotations

import asyncio
import io
import json
import urllib.parse
from pathlib import Path

import pypdfium2
import pytest

from rooms.documents import decode_image, detect_kind
from tests.conftest import ADMIN_TOKEN, start_server, stop_server
from tests.room_harness import token_of
from tests.sio_helpers import connected
from tests.test_documents import make_jpeg, make_png, png_header, png_size, solid_png

BOUNDARY = "sitroomuploadboundary"
TIMEOUT = 30


def multipart(data: bytes, filename: str) -> tuple[bytes, bytes]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data, f"\r\n--{BOUNDARY}--\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), TIMEOUT)
    return status, headers, body


class Upload:
    """One upload on a raw connection, so that a test can hold it mid-body, finish or cut it."""

    def __init__(self, base_url: str, room_id: str, key: str, data: bytes, filename: str = "slides.pdf"):
        self.url = urllib.parse.urlsplit(base_url)
        self.path = f"/api/rooms/{room_id}/documents"
        self.key = key
        self.body, self.tail = multipart(data, filename)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send_head(self, body_bytes: int) -> None:
        """Connect, send the headers and the first ``body_bytes`` of the body."""
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.url.hostname, self.url.port), TIMEOUT)
        length = len(self.body) + len(self.tail)
        self.writer.write((f"POST {self.path} HTTP/1.1\r\nHost: {self.url.netloc}\r\n"
                           f"Authorization: Bearer {self.key}\r\nConnection: close\r\n"
                           f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                           f"Content-Length: {length}\r\n\r\n").encode() + self.body[:body_bytes])
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)
        self.sent = body_bytes

    async def finish(self) -> tuple[int, dict]:
        assert self.writer is not None and self.reader is not None
        self.writer.write(self.body[self.sent:] + self.tail)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)
        return await self.response()

    async def response(self) -> tuple[int, dict]:
        assert self.reader is not None and self.writer is not None
        try:
            status, _, body = await read_response(self.reader)
        finally:
            self.writer.close()
        return status, json.loads(body)

    def abort(self) -> None:
        assert self.writer is not None
        self.writer.transport.abort()

    async def run(self) -> tuple[int, dict]:
        await self.send_head(len(self.body))
        return await self.finish()


def get(base_url: str, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """A GET on a raw connection (a coroutine)."""
    async def go():
        url = urllib.parse.urlsplit(base_url)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port), TIMEOUT)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n{auth}Connection: close\r\n\r\n".encode())
        try:
            return await read_response(reader)
        finally:
            writer.close()
    return go()


async def active_uploads(server) -> int:
    status, _, body = await get(server.base_url, "/api/metrics", ADMIN_TOKEN)
    assert status == 200
    return json.loads(body)["uploads"]["active"]


async def until_active(server, count: int) -> None:
    async def poll():
        while await active_uploads(server) != count:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), TIMEOUT)


async def until_ready(client, document_ids: set[str]) -> dict[str, dict]:
    """Wait (bounded) for a ``documents`` broadcast in which every one of ``document_ids`` is done."""
    async def loop():
        while True:
            data = await client.next_event("documents", timeout=TIMEOUT)
            docs = {d["id"]: d for d in data["documents"] if d["id"] in document_ids}
            if len(docs) == len(document_ids) and all(d["status"] in ("ready", "failed") for d in docs.values()):
                return docs
    return await asyncio.wait_for(loop(), TIMEOUT * 2)


async def until_no_temp_files(folder: Path) -> None:
    async def poll():
        while folder.is_dir() and any(folder.iterdir()):
            await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(poll(), TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"temporary upload files left: {sorted(p.name for p in folder.iterdir())}") from None


@pytest.fixture
def server(tmp_path):
    server = start_server(tmp_path, "--max-uploads", "4", "--max-uploads-per-room", "2")
    server.uploads_dir = tmp_path / "data" / "uploads"
    server.documents_dir = tmp_path / "data" / "documents"
    yield server
    stop_server(server)


@pytest.fixture
async def hosts(server):
    """Three rooms, each with its host joined: (room_id, host client, session key)."""
    joined = []
    for title in ("North", "South", "East"):
        room = server.create_room(title)
        host = await connected(server.base_url)
        ack = await host.join(token_of(room["links"]["host"]), f"Host {title}")
        joined.append((room["room"]["id"], host, ack["session_key"]))
    yield joined
    for _, host, _ in joined:
        await host.close()


def pdf_bytes(size: int) -> bytes:
    """A real one-page PDF padded (with a PDF comment) to about ``size`` bytes."""
    pdf = pypdfium2.PdfDocument.new()
    pdf.new_page(400, 300)
    out = io.BytesIO()
    pdf.save(out)
    data = out.getvalue()
    return data + b"%" + b"x" * max(0, size - len(data) - 2) + b"\n"


async def test_uploads_beyond_the_bounds_are_busy_at_once_and_the_others_succeed(server, hosts):
    (north, north_host, north_key), (south, _, south_key), (east, _, east_key) = hosts
    data = pdf_bytes(2 * 1024 * 1024)
    held = [Upload(server.base_url, north, north_key, data), Upload(server.base_url, north, north_key, data)]
    for upload in held:
        await upload.send_head(1024 * 1024)
    await until_active(server, 2)
    assert list(server.uploads_dir.glob("upload-*.part")), "the bodies go to files in data/uploads"

    # A third upload in the same room: 429 busy, answered before any of its body is sent.
    third = Upload(server.base_url, north, north_key, data)
    await third.send_head(0)
    status, body = await third.response()
    assert status == 429 and body["error"]["code"] == "busy", body
    assert "room" in body["error"]["message"]

    held += [Upload(server.base_url, south, south_key, data), Upload(server.base_url, south, south_key, data)]
    for upload in held[2:]:
        await upload.send_head(1024 * 1024)
    await until_active(server, 4)
    # The server's bound: a room with no upload of its own is refused too.
    fifth = Upload(server.base_url, east, east_key, data)
    await fifth.send_head(0)
    status, body = await fifth.response()
    assert status == 503 and body["error"]["code"] == "busy", body
    assert "server" in body["error"]["message"]

    results = await asyncio.gather(*(upload.finish() for upload in held))
    assert [status for status, _ in results] == [202] * 4, results
    await until_active(server, 0)
    status, body = await Upload(server.base_url, east, east_key, data).run()
    assert status == 202, body

    north_ids = {body["document"]["id"] for (_, body) in results[:2]}
    docs = await until_ready(north_host, north_ids)
    assert {d["status"] for d in docs.values()} == {"ready"}
    await until_no_temp_files(server.uploads_dir)


async def test_a_decompression_bomb_and_garbage_images_are_never_ready(server, hosts):
    (room_id, host, key), *_ = hosts
    bomb = solid_png(20000, 20000)  # ~400 kB, 400 MB decoded
    status, body = await Upload(server.base_url, room_id, key, bomb, "map.png").run()
    assert status == 400 and body["error"]["code"] == "page_too_large", body
    assert "20000x20000" in body["error"]["message"]

    # 10000x10000 claimed by a header over 100 bytes of garbage: refused on the header.
    status, body = await Upload(server.base_url, room_id, key, png_header(10000, 10000) + bytes(range(100)),
                                "x.png").run()
    assert status == 400 and body["error"]["code"] == "page_too_large", body

    # A header within the limits over garbage, a truncated JPEG: accepted, then failed on decoding.
    failed = []
    for data, name in ((png_header(4000, 3000) + bytes(range(100)), "plan.png"),
                       (make_jpeg(640, 320)[:2000], "photo.jpg")):
        status, body = await Upload(server.base_url, room_id, key, data, name).run()
        assert status == 202, body
        failed.append(body["document"]["id"])
    docs = await until_ready(host, set(failed))
    for document_id in failed:
        assert docs[document_id]["status"] == "failed" and docs[document_id]["pages"] == []
        assert "could not be decoded" in docs[document_id]["error"]
        status, _, body = await get(server.base_url, f"/api/rooms/{room_id}/documents/{document_id}/pages/0", key)
        assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    await until_no_temp_files(server.uploads_dir)


async def test_images_are_served_reencoded_and_bounded(server, hosts):
    (room_id, host, key), *_ = hosts
    png, jpeg = make_png(3000, 1000), make_jpeg(640, 320)
    ids = {}
    for data, name in ((png, "chart.png"), (jpeg, "photo.jpg")):
        status, body = await Upload(server.base_url, room_id, key, data, name).run()
        assert status == 202, body
        ids[name] = body["document"]["id"]
    docs = await until_ready(host, set(ids.values()))
    assert {d["status"] for d in docs.values()} == {"ready"}, docs

    page = docs[ids["chart.png"]]["pages"][0]
    assert (page["width"], page["height"]) == (2048, 683)
    served = {}
    for kind in ("image", "thumb"):
        for name in ids:
            status, headers, body = await get(server.base_url, docs[ids[name]]["pages"][0][kind], key)
            assert status == 200
            served[(name, kind)] = (headers["content-type"], body)
    content_type, body = served[("chart.png", "image")]
    assert content_type == "image/png" and body != png
    assert decode_image(body, "png").width == 2048
    assert decode_image(served[("chart.png", "thumb")][1], "png").width <= 320
    content_type, body = served[("photo.jpg", "image")]
    assert content_type == "image/jpeg" and body != jpeg and detect_kind(body) == "jpeg"
    frame = decode_image(body, "jpeg")
    assert (frame.width, frame.height) == (640, 320)
    # Only the re-encoded files are kept, never the upload.
    folder = server.documents_dir / room_id / ids["chart.png"]
    assert sorted(p.name for p in folder.iterdir()) == ["page-0001.png", "thumb-0001.png"]
    assert png_size(folder / "page-0001.png") == (2048, 683)
    await until_no_temp_files(server.uploads_dir)


async def test_no_temporary_file_after_an_aborted_or_refused_upload(server, hosts):
    (room_id, host, key), *_ = hosts
    data = pdf_bytes(2 * 1024 * 1024)
    cut = Upload(server.base_url, room_id, key, data)
    await cut.send_head(1024 * 1024)
    await until_active(server, 1)
    assert len(list(server.uploads_dir.glob("upload-*.part"))) == 1
    cut.abort()  # the client goes away mid-body
    await until_active(server, 0)
    await until_no_temp_files(server.uploads_dir)

    for data, name, code in ((b"hello, not a pdf", "x.pdf", "unsupported_type"),
                             (b"%PDF-1.7\n garbage", "x.pdf", "broken_file"),
                             (solid_png(9000, 10), "wide.png", "page_too_large")):
        status, body = await Upload(server.base_url, room_id, key, data, name).run()
        assert status in (400, 415) and body["error"]["code"] == code, body
    await until_no_temp_files(server.uploads_dir)

    # The server still serves: a good upload after all that is ready.
    status, body = await Upload(server.base_url, room_id, key, make_png(40, 30), "ok.png").run()
    assert status == 202, body
    docs = await until_ready(host, {body["document"]["id"]})
    assert docs[body["document"]["id"]]["status"] == "ready"
    await until_no_temp_files(server.uploads_dir)
