"""Document uploads and page images over HTTP.

An upload is authenticated by the uploader's live session (``Authorization: Bearer <session_key>``
from the join ack), so the role that counts is the one the participant has now. The file is read
with a hard size cap, its type is taken from its content, and it is rendered in a separate process
(``rooms.documents``) one document at a time; the room hears ``document_progress`` and ``documents``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from pathlib import Path

from aiohttp import web

from rooms.authorize import Action, Actor, authorize
from rooms.documents import DocumentError, inspect_upload_async, render_document

from .api import bearer, error_response
from .hub import HUB

log = logging.getLogger("sitroom.documents")

_STATUS = {"too_large": 413, "unsupported_type": 415}
_INDEX = re.compile(r"^\d{1,5}$")


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
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        return error_response(400, "bad_request", "send the file as multipart/form-data")
    data, filename, title = None, "document", None
    while True:
        part = await reader.next()
        if part is None:
            break
        if part.name == "file":
            filename = (part.filename or "document")[:200]
            chunks, size = [], 0
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > limit:
                    return error_response(413, "too_large",
                                          f"the file is larger than {limit // (1024 * 1024)} MiB")
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name == "title":
            title = (await part.text())[:120].strip() or None
        else:
            await part.release()
    if not data:
        return error_response(400, "bad_request", "no file in the upload")
    try:
        info = await inspect_upload_async(data, filename, max_bytes=limit)
    except DocumentError as exc:
        return error_response(_STATUS.get(exc.code, 400), exc.code, exc.message)
    room_id = session.room_id
    document_id = "d_" + hashlib.sha256(data + room_id.encode() + repr(asyncio.get_running_loop().time()).encode()).hexdigest()[:24]
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
    hub.background(_render(hub, room_id, document_id, data, info.kind, storage))
    await hub.signaling.broadcast_documents(room_id)
    return web.json_response({"document": hub.document_view(row)}, status=202)


async def _render(hub, room_id: str, document_id: str, data: bytes, kind: str, storage) -> None:
    async def progress(done: int, total: int) -> None:
        await hub.sio.emit("document_progress", {"document_id": document_id, "done": done, "total": total},
                           room=room_id)

    async with hub.render_slots:
        try:
            rendered = await render_document(data, kind, storage, max_pages=hub.config.max_document_pages,
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
    await hub.signaling.broadcast_documents(room_id)


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
    app.router.add_post("/api/rooms/{room_id}/documents", upload)
    app.router.add_get("/api/rooms/{room_id}/documents/{document_id}/pages/{index}", _image("page"))
    app.router.add_get("/api/rooms/{room_id}/documents/{document_id}/thumbs/{index}", _image("thumb"))
