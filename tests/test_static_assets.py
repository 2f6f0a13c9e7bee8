"""The web client's files over HTTP: hashed bundle names, pre-compressed copies, cache headers, confinement.

Pages load over lossy intercontinental links: the bundle goes out brotli- or gzip-compressed (copies
made by client_web/build.mjs), a browser keeps a hashed bundle for a year, and the pages, which name
the bundle, are revalidated on every load (304 when unchanged). Most tests serve a small directory
made here through the app's real routes; those marked "built client" read client_web/dist.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server import api
from server.config import Config
from server.static_files import IMMUTABLE, REVALIDATE, preferred_codings
from tests.conftest import REPO, unavailable

try:
    import brotli  # optional: not a dependency
except ImportError:
    brotli = None

DIST = REPO / "client_web" / "dist"
JS = b"export const answer = 42;\n" * 200
NO_ENCODING = {"skip_auto_headers": ["Accept-Encoding"]}


def brotli_decompress(data: bytes) -> bytes:
    """Brotli decoding: the `brotli` package when installed, else Node's zlib (the build's own)."""
    if brotli is not None:
        return brotli.decompress(data)
    if not shutil.which("node"):
        pytest.skip("neither the brotli package nor node to decode brotli")
    script = "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync(0)))"
    return subprocess.run(["node", "-e", script], input=data, capture_output=True, check=True).stdout


def write(path: Path, data: bytes, mtime: float | None = None) -> None:
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


@pytest.fixture
def made_dist(tmp_path) -> Path:
    """A dist directory as the build writes it (a fake brotli copy: only which file is sent matters),
    with a secret file beside it, a symlink to it and a hidden file inside it."""
    dist = tmp_path / "dist"
    dist.mkdir()
    page = b'<!doctype html><link rel="stylesheet" href="/static/app-CSS23456.css"><script src="/static/app-ABCDEFGH.js"></script>'
    for name, data in (("app-ABCDEFGH.js", JS), ("index.html", page), ("room.html", page.replace(b"<!", b"<!-- room --><!"))):
        write(dist / name, data, mtime=1_700_000_000)
        write(dist / f"{name}.gz", gzip.compress(data), mtime=1_700_000_001)
        write(dist / f"{name}.br", b"brotli copy of " + name.encode(), mtime=1_700_000_001)
    write(dist / "app-CSS23456.css", b"body{color:red}")  # no copies (npm run watch)
    write(dist / "notes.txt", b"not hashed")
    (tmp_path / "secret.txt").write_text("SECRET CONTENT")
    (dist / "link.txt").symlink_to(tmp_path / "secret.txt")
    (dist / ".hidden").write_text("SECRET CONTENT")
    return dist


async def serve(dist: Path) -> TestClient:
    app = web.Application()
    api.setup_routes(app, Config(client_dist=dist))
    client = TestClient(TestServer(app), auto_decompress=False)
    await client.start_server()
    return client


@pytest.fixture
async def client(made_dist):
    client = await serve(made_dist)
    yield client
    await client.close()


@pytest.fixture
def built() -> Path:
    if not (DIST / "room.html").exists():
        unavailable("client_web/dist is not built: run `cd client_web && npm ci && npm run build`")
    return DIST


@pytest.fixture
async def built_client(built):
    client = await serve(built)
    yield client
    await client.close()


def static_refs(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="/static/([^"]+)"', html)


# ---- the built client -------------------------------------------------------------------------

async def test_the_pages_name_hashed_bundles_that_exist(built_client, built):
    for path, page in (("/", "index.html"), ("/r/some-room", "room.html"), ("/console", "console.html")):
        response = await built_client.get(path, **NO_ENCODING)
        assert response.status == 200
        html = await response.text()
        assert html == (built / page).read_text()
        refs = static_refs(html)
        assert sorted(Path(r).suffix for r in refs) == [".css", ".js"], refs
        for name in refs:
            assert re.fullmatch(r"app-[A-Z2-7]{8}\.(js|css)", name), name
            assert (built / name).is_file() and (built / f"{name}.map").is_file()
            asset = await built_client.get(f"/static/{name}", **NO_ENCODING)
            assert asset.status == 200 and asset.headers["Cache-Control"] == IMMUTABLE
            assert (await asset.read()) == (built / name).read_bytes()
        # The source pages keep the readable names, the built ones have none.
        assert "/static/app.js" in (REPO / "client_web" / page).read_text()
    assert (await built_client.get("/static/app.js")).status == 404


async def test_the_bundles_go_out_compressed_as_each_browser_accepts(built_client, built):
    names = static_refs((built / "room.html").read_text())
    for name in names:
        raw = (built / name).read_bytes()
        kind = "text/javascript" if name.endswith(".js") else "text/css"

        response = await built_client.get(f"/static/{name}", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
        body = await response.read()
        assert response.headers["Content-Encoding"] == "br"
        assert response.headers["Content-Type"] == f"{kind}; charset=utf-8"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert body == (built / f"{name}.br").read_bytes() and len(body) < len(raw) / 3
        assert brotli_decompress(body) == raw

        response = await built_client.get(f"/static/{name}", headers={"Accept-Encoding": "gzip, deflate"})
        body = await response.read()
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == f"{kind}; charset=utf-8"
        assert gzip.decompress(body) == raw and len(body) < len(raw) / 3

        response = await built_client.get(f"/static/{name}", **NO_ENCODING)
        assert "Content-Encoding" not in response.headers
        assert response.headers["Vary"] == "Accept-Encoding"
        assert (await response.read()) == raw


def test_the_real_server_sends_the_page_and_bundle_compressed(built, sitroom_server):
    def get(path: str) -> tuple[dict, bytes]:
        request = urllib.request.Request(sitroom_server.base_url + path, headers={"Accept-Encoding": "br, gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers, response.read()

    headers, body = get("/")
    assert headers["Content-Encoding"] == "br" and headers["Cache-Control"] == REVALIDATE
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    for name in static_refs(brotli_decompress(body).decode()):
        headers, body = get(f"/static/{name}")
        assert headers["Content-Encoding"] == "br" and headers["Cache-Control"] == IMMUTABLE
        assert brotli_decompress(body) == (built / name).read_bytes()


# ---- negotiation, caching, confinement on a directory made here ----------------------------

def test_accept_encoding_is_read_with_its_q_values():
    assert preferred_codings("gzip, deflate, br, zstd") == ["br", "gzip"]
    assert preferred_codings("gzip, deflate") == ["gzip"]
    assert preferred_codings("") == [] and preferred_codings("identity") == []
    assert preferred_codings("br;q=0, gzip") == ["gzip"]
    assert preferred_codings("br;q=0.5, gzip") == ["gzip", "br"]
    assert preferred_codings("BR ; Q=1.0, GZIP;q=0.9") == ["br", "gzip"]
    assert preferred_codings("*") == ["br", "gzip"]
    assert preferred_codings("*;q=0.1, gzip") == ["gzip", "br"]
    assert preferred_codings("*, br;q=0") == ["gzip"]
    assert preferred_codings("br;q=nan, gzip;q=2, deflate") == []
    assert preferred_codings("br;q=x") == []


@pytest.mark.parametrize(("accept", "coding"), [
    ("gzip, deflate, br", "br"),
    ("br", "br"),
    ("gzip", "gzip"),
    ("br;q=0, gzip", "gzip"),
    ("gzip;q=0.8, br;q=0.4", "gzip"),
    ("deflate", None),
    ("identity", None),
    ("gzip;q=0, br;q=0", None),
])
async def test_each_accept_encoding_gets_its_copy(client, made_dist, accept, coding):
    response = await client.get("/static/app-ABCDEFGH.js", headers={"Accept-Encoding": accept})
    assert response.status == 200
    assert response.headers.get("Content-Encoding") == coding
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Vary"] == "Accept-Encoding"
    suffix = {"br": ".br", "gzip": ".gz", None: ""}[coding]
    assert (await response.read()) == (made_dist / f"app-ABCDEFGH.js{suffix}").read_bytes()


async def test_a_file_without_copies_or_with_stale_ones_goes_out_as_it_is(client, made_dist):
    response = await client.get("/static/app-CSS23456.css", headers={"Accept-Encoding": "br, gzip"})
    assert "Content-Encoding" not in response.headers
    assert (await response.read()) == b"body{color:red}"
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    # A rewritten page whose copies are from an earlier build: the copies are not used.
    write(made_dist / "index.html", b"<!doctype html><p>new", mtime=1_800_000_000)
    response = await client.get("/", headers={"Accept-Encoding": "br, gzip"})
    assert "Content-Encoding" not in response.headers
    assert (await response.read()) == b"<!doctype html><p>new"


async def test_hashed_files_are_immutable_and_the_rest_is_revalidated(client):
    for path, cache in (("/static/app-ABCDEFGH.js", IMMUTABLE), ("/static/app-CSS23456.css", IMMUTABLE),
                        ("/", REVALIDATE), ("/r/abc", REVALIDATE), ("/static/index.html", REVALIDATE),
                        ("/static/notes.txt", REVALIDATE)):
        for accept in ("br", "gzip", None):
            headers = {"Accept-Encoding": accept} if accept else {}
            response = await client.get(path, headers=headers, **({} if accept else NO_ENCODING))
            assert response.status == 200, path
            assert response.headers["Cache-Control"] == cache, (path, accept)
            assert response.headers["ETag"] and response.headers["Last-Modified"]
    assert (await client.get("/")).headers["Content-Type"] == "text/html; charset=utf-8"
    assert (await client.get("/static/notes.txt")).headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_a_page_revalidates_to_304_until_it_changes(client, made_dist):
    for accept in ("br", "gzip", None):
        extra = {"headers": {"Accept-Encoding": accept}} if accept else NO_ENCODING
        first = await client.get("/r/room-1", **extra)
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        again = await client.get("/r/room-1", **{**extra, "headers": {**extra.get("headers", {}), "If-None-Match": etag}})
        assert again.status == 304 and (await again.read()) == b""
        assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == REVALIDATE
        assert again.headers["Vary"] == "Accept-Encoding"
        since = await client.get("/r/room-1", **{**extra, "headers": {**extra.get("headers", {}), "If-Modified-Since": modified}})
        assert since.status == 304
    etags = set()
    for accept in ("br", "gzip"):
        etags.add((await client.get("/", headers={"Accept-Encoding": accept})).headers["ETag"])
    etags.add((await client.get("/", **NO_ENCODING)).headers["ETag"])
    assert len(etags) == 3, "each copy is its own representation"

    old = (await client.get("/r/room-1", **NO_ENCODING)).headers["ETag"]
    write(made_dist / "room.html", b"<!doctype html><p>a new bundle", mtime=1_800_000_000)
    changed = await client.get("/r/room-1", headers={"If-None-Match": old}, **NO_ENCODING)
    assert changed.status == 200 and (await changed.read()) == b"<!doctype html><p>a new bundle"
    assert changed.headers["ETag"] != old


async def raw_get(client: TestClient, target: str) -> tuple[int, bytes]:
    """A GET with the request target sent as written (an HTTP client library would normalize it)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    return int(response.split(b" ", 2)[1]), response


@pytest.mark.parametrize("target", [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/.%2e/secret.txt",
    "/static/./../secret.txt",
    "/static/..\\secret.txt",
    "/static/..%5csecret.txt",
    "/static//secret.txt",
    "/static/%2fetc/passwd",
    "/static/link.txt",
    "/static/.hidden",
    "/static/app-ABCDEFGH.js.br",
    "/static/app-ABCDEFGH.js.gz",
    "/static/missing.js",
    "/static/app-ABCDEFGH.js%00.txt",
    "/static/",
])
async def test_nothing_outside_the_directory_is_served(client, target):
    status, response = await raw_get(client, target)
    assert status in (400, 403, 404), (target, status)
    assert b"SECRET" not in response and b"[project]" not in response and b"root:" not in response
    assert b"brotli copy" not in response and b"\x1f\x8b" not in response


@pytest.mark.parametrize("target", [
    "/static/../../pyproject.toml",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/..%2f..%2fpyproject.toml",
    "/static/../package.json",
    "/static/%2e%2e/build.mjs",
    "/../pyproject.toml",
    "/r/../../pyproject.toml",
])
async def test_nothing_of_the_repository_is_served_beside_the_built_client(built_client, target):
    status, response = await raw_get(built_client, target)
    assert status in (400, 403, 404), (target, status)
    assert b"[project]" not in response and b"esbuild" not in response


async def test_the_pages_answer_503_until_the_client_is_built(tmp_path):
    client = await serve(tmp_path / "empty")
    try:
        response = await client.get("/")
        assert response.status == 503 and "not built" in await response.text()
        assert (await client.get("/static/app.js")).status == 404
    finally:
        await client.close()
