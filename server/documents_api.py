"""Document uploads and page images over HTTP.

An upload is authenticated by the uploader's live session (``Authorization: Bearer <session_key>``
from the join ack), so the role that counts is the one the participant has now. At most
``max_uploads_per_room`` uploads per room and ``max_uploads`` in all are received at once; one more
is refused as ``busy`` before its body is read. The file is streamed to ``data_dir/uploads`` with a
hard size cap (never held in memory), its type is taken from its content, and it is rendered from
that file in a separate process (``rooms.documents``) one document at a time, then removed; the room
hears ``document_progress`` and ``documents``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import PayloadEncodingError

from rooms.authorize import Action, Actor, authorize
from rooms.documents import DocumentError, inspect_upload_async, render_document

from .api import bearer, error_response
from .hub import HUB

log = logging.getLogger("sitroom.documents")

_STATUS = {"too_large": 413, "unsupported_type": 415}
_INDEX = re.compile(r"^\d{1,5}$")
CHUNK_BYTES = 256 * 1024


def _hub(request: web.Request):
    return request.app[HUB]


def _session(request: web.Request):
    hub = _hub(request)
    key = bearer(request) or request.query.get("k", "")
    session = hub.signaling.session_by_key(key) if key else None
    if session is None or session.room_id != request.match_info["room_id"]:
        return None
    return session


async def upload(request: web.Request) -> web.Response:
    hub = _hub(request)
    session = _session(request)
    if session is None:
        return error_response(401, "invalid_token", "uploads need the session key of a joined participant")
    decision = authorize(Actor.of(session.participant), Action.MANAGE_DOCUMENTS, verb="upload documents")
    if not decision:
        return error_response(403, "forbidden", decision.message)
    limit = hub.config.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        return error_response(413, "too_large", f"the file is larger than {limit // (1024 * 1024)} MiB")
    room_id = session.room_id
    # Refused before a byte of the body is read: the slot is held until the file is on disk and
    # inspected (rendering is queued apart, one document at a time).
    full = hub.uploads.take(room_id, hub.config.max_uploads_per_room, hub.config.max_uploads)
    if full is not None:
        response = error_response(*_BUSY[full])
        response.headers["Retry-After"] = "5"
        return response
    path: Path | None = None
    try:
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            return error_response(400, "bad_request", "send the file as multipart/form-data")
        filename, title = "document", None
        while True:
            part = await reader.next()
            if part is None:
                break
            if part.name == "file" and path is None:
                filename = (part.filename or "document")[:200]
                path = _temp_upload(hub)
                if not await _receive(part, path, limit):
                    return error_response(413, "too_large", f"the file is larger than {limit // (1024 * 1024)} MiB")
            elif part.name == "title":
                title = (await part.text())[:120].strip() or None
            else:
                await part.release()
        if path is None or path.stat().st_size == 0:
            return error_response(400, "bad_request", "no file in the upload")
        try:
            info = await inspect_upload_async(path, filename, max_bytes=limit)
        except DocumentError as exc:
            return error_response(_STATUS.get(exc.code, 400), exc.code, exc.message)
        document_id = "d_" + secrets.token_hex(12)
        storage = hub.config.data_dir / "documents" / room_id / document_id
        row = await hub.documents.create(
            room_id, id=document_id, title=title or info.title,
            filename=filename, kind=info.kind, size_bytes=info.size_bytes, sha256=info.sha256,
            storage_dir=str(storage), page_count=info.page_count, mime=info.mime,
            created_by=session.participant.id,
        )
        await hub.timeline.record(room_id, "document_upload", actor=session.participant,
                                  details={"document_id": document_id, "filename": filename,
                                           "pages": info.page_count})
        hub.background(_render(hub, room_id, document_id, path, info.kind, storage))
        path = None  # the render task removes it
        await hub.signaling.broadcast_documents(room_id)
        return web.json_response({"document": hub.document_view(row)}, status=202)
    except (ConnectionError, ClientPayloadError, PayloadEncodingError, asyncio.IncompleteReadError) as exc:
        # The client went away (or broke the body) mid-upload: nobody is left to answer.
        log.info("upload to room %s aborted: %s", room_id, exc)
        return error_response(400, "bad_request", "the upload was cut off")
    finally:
        hub.uploads.release(room_id)
        if path is not None:
            _remove(path)


_BUSY = {
    "room": (429, "busy", "this room is receiving as many uploads as it may at once; try again when one is done"),
    "server": (503, "busy", "the server is receiving as many uploads as it may at once; try again shortly"),
}


def _uploads_dir(hub) -> Path:
    return Path(hub.config.data_dir) / "uploads"


def _temp_upload(hub) -> Path:
    """A new empty file in ``data_dir/uploads`` for one upload's bytes."""
    folder = _uploads_dir(hub)
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=".part")
    os.close(fd)
    return Path(name)


async def _receive(part, path: Path, limit: int) -> bool:
    """Stream a multipart part into ``path``, chunk by chunk (written from a thread: the event loop
    never waits for the disk). False if it is larger than ``limit`` bytes."""
    size = 0
    with open(path, "wb", buffering=0) as f:
        while chunk := await part.read_chunk(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                return False
            await asyncio.to_thread(f.write, chunk)
    return True


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


async def _render(hub, room_id: str, document_id: str, path: Path, kind: str, storage) -> None:
    async def progress(done: int, total: int) -> None:
        await hub.sio.emit("document_progress", {"document_id": document_id, "done": done, "total": total},
                           room=room_id)

    try:
        async with hub.render_slots:
            try:
                rendered = await render_document(path, kind, storage, max_pages=hub.config.max_document_pages,
                                                 time_limit_s=hub.config.render_time_limit_s,
                                                 on_progress=progress)
                sizes = [[p.width, p.height] for p in rendered.pages]
                await hub.documents.update_status(document_id, "ready", page_count=len(sizes), page_sizes=sizes)
            except DocumentError as exc:
                log.info("document %s failed: %s", document_id, exc.message)
                await hub.documents.update_status(document_id, "failed", error=exc.message)
            except Exception:  # noqa: BLE001
                log.exception("rendering %s failed", document_id)
                await hub.documents.update_status(document_id, "failed", error="the document could not be rendered")
    finally:
        _remove(path)  # only pages and thumbnails are kept, never the upload itself
    await hub.signaling.broadcast_documents(room_id)


async def _clear_uploads(app: web.Application) -> None:
    """At start-up: files of uploads a previous run was receiving or rendering when it stopped."""
    folder = _uploads_dir(app[HUB])
    for stale in folder.glob("upload-*.part") if folder.is_dir() else ():
        _remove(stale)


def _image(kind: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        hub = _hub(request)
        session = _session(request)
        if session is None:
            return error_response(401, "invalid_token", "pages need the session key of a joined participant")
        index = request.match_info["index"]
        if not _INDEX.match(index):
            return error_response(400, "bad_request", "bad page index")
        row = await hub.documents.get(request.match_info["document_id"], room_id=session.room_id)
        if row is None or row["status"] != "ready" or not (0 <= int(index) < row["page_count"]):
            return error_response(404, "not_found", "no such page")
        folder = Path(row["storage_dir"])
        matches = sorted(folder.glob(f"{kind}-{int(index) + 1:04d}.*"))
        if not matches:
            return error_response(404, "not_found", "no such page")
        return web.FileResponse(matches[0], headers={"Cache-Control": "private, max-age=3600"})
    return handler


def setup_routes(app: web.Application) -> None:
    app.on_startup.append(_clear_uploads)
    app.router.add_post("/api/rooms/{room_id}/documents", upload)
    app.router.add_get("/api/rooms/{room_id}/documents/{document_id}/pages/{index}", _image("page"))
    app.router.add_get("/api/rooms/{room_id}/documents/{document_id}/thumbs/{index}", _image("thumb"))
