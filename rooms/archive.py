"""The archive of a room's recordings: what the archive page plays (``client_web/src/archive.js``).

:func:`load_archive` reads, for each finished recording of the room (a folder
``<recordings root>/<room id>/<recording id>/`` with its ``manifest.json``, written by
``media/recorder.py`` when the recording stopped), its tracks (who, which source, the file and
where it sits on the recording's time line) and its stage timeline (``rooms.stage_record``), with
the participants' names (from the stage log, else the ``participants`` table). File addresses are
paths under ``/api/rooms/<room>/recordings/<recording>/``; the server serves them
(``server/record_api.py``), never a path outside the recording's folder (:func:`recording_file`).
No HTTP here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .db import Database
from .errors import RoomNotFound
from .meeting import parse_time
from .models import Delegation, Participant, Room
from .record import read_manifest
from .service import ROOM_ID_RE
from .stage_record import STAGE_FILES, read_stage_log

RECORDING_ID_RE = re.compile(r"rec_[A-Za-z0-9_]{1,64}")
FILE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,159}")
RECORDINGS_MAX = 200
MEDIA_TYPES = {".webm": "webm", ".mkv": "x-matroska", ".mp4": "mp4"}
SERVED_SUFFIXES = frozenset({*MEDIA_TYPES, ".webp", ".png", ".jpg", ".jpeg"})


def _unix(value: Any) -> float | None:
    at = parse_time(value)
    return at.timestamp() if at is not None else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def recording_file(room_folder: Path, recording_id: str, name: str) -> Path | None:
    """The file ``name`` (``x.webm`` or ``stage/x.webp``) of a recording, if it is one the archive
    serves: a regular file (not a link) inside the recording's folder, of a media or image type."""
    if not RECORDING_ID_RE.fullmatch(recording_id):
        return None
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == STAGE_FILES:
        parts = parts[1:]
        sub = STAGE_FILES
    elif len(parts) == 1:
        sub = ""
    else:
        return None
    if not FILE_NAME_RE.fullmatch(parts[0]) or Path(parts[0]).suffix.lower() not in SERVED_SUFFIXES:
        return None
    folder = room_folder / recording_id
    path = folder / sub / parts[0] if sub else folder / parts[0]
    try:
        if path.is_symlink() or not path.is_file() or any(p.is_symlink() for p in (room_folder, folder, path.parent)):
            return None
    except OSError:
        return None
    return path


def _track(raw: dict, base: str, names: dict[str, dict]) -> dict | None:
    file = raw.get("file")
    if not isinstance(file, str) or not FILE_NAME_RE.fullmatch(file) or raw.get("kind") not in ("audio", "video"):
        return None
    suffix = Path(file).suffix.lower()
    if suffix not in MEDIA_TYPES:
        return None
    pid = raw.get("participant_id") if isinstance(raw.get("participant_id"), str) else None
    who = names.get(pid or "", {})
    return {
        "participant_id": pid,
        "name": who.get("name"),
        "city": who.get("city"),
        "source": raw.get("source") if isinstance(raw.get("source"), str) else None,
        "kind": raw["kind"],
        "url": f"{base}/{file}",
        "mime": f"{raw['kind']}/{MEDIA_TYPES[suffix]}",
        "codec": raw.get("codec") if isinstance(raw.get("codec"), str) else None,
        "start_offset": _number(raw.get("start_offset")),
        "end_offset": _number(raw.get("end_offset")),
        "width": raw.get("width") if isinstance(raw.get("width"), int) else None,
        "height": raw.get("height") if isinstance(raw.get("height"), int) else None,
        "frames": raw.get("frames") if isinstance(raw.get("frames"), int) else None,
    }


def _recording(folder: Path, room_id: str, people: dict[str, dict]) -> dict | None:
    manifest, _ = read_manifest(folder)
    if not isinstance(manifest, dict):
        return None  # still running, or lost with its worker: nothing the page can play in step
    started = _unix(manifest.get("started"))
    stopped = _unix(manifest.get("stopped"))
    if started is None:
        return None
    stage = read_stage_log(folder, started)
    names = dict(people)
    for entry in stage:
        if entry.get("type") == "person" and isinstance(entry.get("id"), str):
            names[entry["id"]] = {"name": entry.get("name"), "city": entry.get("city")}
    base = f"/api/rooms/{room_id}/recordings/{folder.name}"
    for entry in stage:
        if entry.get("type") == "page":
            image = entry.get("image")
            entry["image"] = f"{base}/{image}" if isinstance(image, str) and recording_file(
                folder.parent, folder.name, image) is not None else None
    tracks = [t for t in (_track(raw, base, names) for raw in manifest.get("tracks") or []
                          if isinstance(raw, dict)) if t is not None]
    duration = _number(manifest.get("duration"))
    if duration is None:
        duration = max(0.0, (stopped or started) - started)
    return {
        "id": folder.name,
        "started": manifest.get("started"),
        "stopped": manifest.get("stopped"),
        "duration": duration,
        "tracks": tracks,
        "stage": [e for e in stage if e.get("type") != "person"],
    }


def list_recordings(room_folder: Path, room_id: str, people: dict[str, dict]) -> list[dict]:
    """The room's finished recordings, oldest first (blocking: run in a thread)."""
    if not room_folder.is_dir() or room_folder.is_symlink():
        return []
    found = []
    for folder in sorted(room_folder.iterdir(), key=lambda p: p.name):
        if len(found) >= RECORDINGS_MAX:
            break
        if folder.is_symlink() or not folder.is_dir() or not RECORDING_ID_RE.fullmatch(folder.name):
            continue
        recording = _recording(folder, room_id, people)
        if recording is not None:
            found.append(recording)
    found.sort(key=lambda r: _unix(r["started"]) or 0.0)
    return found


async def load_archive(db: Database, room_id: str, recordings_root: Path) -> dict[str, Any]:
    """``{"room": {"id", "name", "city", "time_zone"}, "people": {id: {"name", "city"}}}`` of a room
    (:class:`RoomNotFound` if none); the recordings come from :func:`list_recordings`."""
    async with db.session() as session:
        room = await session.get(Room, room_id) if isinstance(room_id, str) and ROOM_ID_RE.fullmatch(room_id) else None
        if room is None:
            raise RoomNotFound(f"room {str(room_id)[:64]!r} does not exist")
        rows = list(await session.scalars(select(Participant).where(Participant.room_id == room_id)))
        cities = {d.invite_id: d.city for d in await session.scalars(
            select(Delegation).where(Delegation.room_id == room_id)) if d.invite_id}
    people = {row.id: {"name": row.name, "city": cities.get(row.invite_id)} for row in rows}
    return {"room": {"id": room.id, "name": room.title, "city": room.city,
                     "time_zone": getattr(room, "time_zone", None)},
            "people": people}
