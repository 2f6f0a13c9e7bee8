"""The web client's files (``client_web/dist``): the two pages and everything under ``/static/``.

``client_web/build.mjs`` writes ``app-<hash>.js`` and ``app-<hash>.css`` (and their sourcemaps), whose
names change with their content, the HTML pages that refer to them, and beside every text file a
gzip (``.gz``) and a brotli (``.br``) copy made ahead of time. Here:

- **Encoding**: a request whose ``Accept-Encoding`` takes ``br`` gets the ``.br`` copy, else one that
  takes ``gzip`` the ``.gz`` copy, else the file itself (q-values count: ``br;q=0`` refuses br; the
  higher q wins, br before gzip at equal q). ``Content-Encoding`` names the copy sent, every answer
  carries ``Vary: Accept-Encoding``, and ``Content-Type`` is the original file's. A copy older than
  its file (``npm run watch`` writes none) is not used.
- **Caching**: a hashed name (``-`` and esbuild's 8-character hash before the extensions) never
  changes content: ``Cache-Control: public, max-age=31536000, immutable``. Everything else, the
  pages above all, is ``no-cache``: the browser revalidates it (``ETag``, ``Last-Modified``; 304
  when unchanged) and so finds a new bundle's names after an upgrade.
- **Confinement**: only regular files inside the directory, reached without symlinks, dot
  segments or hidden names; the compressed copies only through negotiation. Anything else: 404.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

from aiohttp import web

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASHED_NAME = re.compile(r"-[A-Z2-7]{8}(?:\.[A-Za-z0-9]+)+\Z")  # esbuild's "[name]-[hash]"
COPIES = {"br": ".br", "gzip": ".gz"}  # in order of preference at equal q
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
}
NOT_BUILT = "The web client is not built: run ./dev run\n"


def accepted_codings(header: str) -> dict[str, float]:
    """``Accept-Encoding`` as {coding: q}: ``"gzip, br;q=0.5"`` -> ``{"gzip": 1.0, "br": 0.5}``."""
    codings: dict[str, float] = {}
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # also NaN
                    q = 0.0
        codings[coding] = q
    return codings


def preferred_codings(header: str) -> list[str]:
    """The content codings of ``COPIES`` a request accepts, best first."""
    accepted = accepted_codings(header)
    wildcard = accepted.get("*", 0.0)
    order = list(COPIES)
    ranked = [(accepted.get(c, wildcard), -order.index(c), c) for c in order]
    return [c for q, _, c in sorted(ranked, reverse=True) if q > 0]


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


def cache_control(name: str) -> str:
    return IMMUTABLE if HASHED_NAME.search(name) else REVALIDATE


class StaticFiles:
    """Serves the files of one directory (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def locate(self, name: str) -> tuple[Path, os.stat_result] | None:
        """The regular file ``name`` ("/"-separated, relative to the root) and its stat, or None."""
        parts = name.split("/")
        if any(not p or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
            return None  # "", ".", "..", hidden names; a backslash is no separator here, but refuse it
        if parts[-1].endswith(tuple(COPIES.values())):
            return None
        path = self.root
        st = None
        for part in parts:
            path = path / part
            try:
                st = path.lstat()
            except (OSError, ValueError):
                return None
            if stat.S_ISLNK(st.st_mode):
                return None
        if st is None or not stat.S_ISREG(st.st_mode):
            return None
        return path, st

    @staticmethod
    def select(path: Path, st: os.stat_result, accept_encoding: str) -> tuple[Path, os.stat_result, str | None]:
        """The copy to send: (path, stat, content coding or None for the file itself)."""
        for coding in preferred_codings(accept_encoding):
            copy = path.with_name(path.name + COPIES[coding])
            try:
                copy_st = copy.lstat()
            except OSError:
                continue
            if stat.S_ISREG(copy_st.st_mode) and copy_st.st_mtime_ns >= st.st_mtime_ns:
                return copy, copy_st, coding
        return path, st, None

    async def respond(self, request: web.Request, name: str) -> web.Response:
        found = self.locate(name)
        if found is None:
            raise web.HTTPNotFound()
        path, st = found
        sent, sent_st, coding = self.select(path, st, request.headers.get("Accept-Encoding", ""))
        etag = f"{sent_st.st_mtime_ns:x}-{sent_st.st_size:x}"
        headers = {"Cache-Control": cache_control(path.name), "Vary": "Accept-Encoding"}
        if _not_modified(request, etag, sent_st.st_mtime):
            response = web.Response(status=304, headers=headers)
        else:
            try:
                body = await asyncio.get_running_loop().run_in_executor(None, sent.read_bytes)
            except OSError:  # removed since the stat (a rebuild)
                raise web.HTTPNotFound() from None
            headers["Content-Type"] = content_type(path.name)
            if coding:
                headers["Content-Encoding"] = coding
            response = web.Response(body=body, headers=headers)
        response.etag = etag
        response.last_modified = sent_st.st_mtime
        return response

    async def static(self, request: web.Request) -> web.Response:
        """``GET /static/{name}``."""
        return await self.respond(request, request.match_info["name"])

    def page(self, name: str):
        """A handler answering with the page ``name`` (503 while the client is not built)."""
        async def handler(request: web.Request) -> web.Response:
            if not (self.root / name).is_file():
                return web.Response(status=503, text=NOT_BUILT)
            return await self.respond(request, name)
        return handler

    def add_routes(self, app: web.Application, pages: dict[str, str]) -> None:
        """Routes each of ``pages`` (path -> file name) and ``/static/{name}``."""
        for route, name in pages.items():
            app.router.add_get(route, self.page(name))
        app.router.add_get("/static/{name:.+}", self.static)


def _not_modified(request: web.Request, etag: str, mtime: float) -> bool:
    """Whether the request's validators match (If-None-Match first, else If-Modified-Since)."""
    if (tags := request.if_none_match) is not None:
        return any(tag.value in ("*", etag) for tag in tags)
    since = request.if_modified_since
    return since is not None and int(mtime) <= since.timestamp()
