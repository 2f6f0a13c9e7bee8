"""Retention of meeting records (issue "records": "A retention setting per room deletes old records
and recordings").

A room's ``record_retention_days`` (set by its organiser, ``RoomService.set_retention``; None:
kept for ever) says how long its meeting record is kept. :func:`sweep` applies it, at ``now``, to
every room that has one, with ``cutoff = now - days``:

- the database rows of its record (what ``rooms/record.py`` exports): chat messages and timeline
  events created before the cutoff, and participant rows (joins) whose ``left_at`` is before it;
  a join still open (``left_at`` null) is never deleted, however old;
- its recordings (``<recordings root>/<room id>/<recording id>/``, media/recorder.py): a recording
  whose ``manifest.json`` says it ``stopped`` before the cutoff goes whole, and its entries leave
  the room's own ``manifest.json`` (rewritten atomically). A recording without a usable manifest
  (unfinished: the recorder writes it when it stops; or cut short by a crash) is dated by the
  newest modification time of anything in its folder: a running recording appends to its files
  without touching the folder's own time, so its files are what say it is alive. Recordings
  the caller names as running are never touched.

Files are deleted in a thread, never following a symbolic link (a link inside a recording is
removed, its target left alone; a room folder that is a link is skipped). A failure in one room is
logged and the sweep goes on with the others. Nothing is written to the rooms' timelines (they are
being deleted too): one log line per room that lost something. No HTTP here: the server runs the
sweep at start and then periodically (``server/app.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from .db import Database
from .meeting import parse_time
from .models import ChatMessage, Participant, Room, TimelineEvent
from .record import MANIFEST_MAX_BYTES, MANIFEST_NAME
from .service import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, ROOM_ID_RE

log = logging.getLogger("sitroom.retention")


@dataclass
class RoomSweep:
    """What one room lost in a sweep."""

    room_id: str
    days: int
    participants: int = 0
    chat_messages: int = 0
    timeline_events: int = 0
    recordings: list[str] = field(default_factory=list)  # ids of the recordings deleted
    bytes_freed: int = 0

    @property
    def deleted_anything(self) -> bool:
        return bool(self.participants or self.chat_messages or self.timeline_events or self.recordings
                    or self.bytes_freed)


@dataclass
class RetentionReport:
    """What a sweep deleted, in total and per room (only rooms that lost something are listed)."""

    rooms: int = 0  # rooms with a retention, looked at
    participants: int = 0
    chat_messages: int = 0
    timeline_events: int = 0
    recordings: int = 0
    bytes_freed: int = 0
    failed: list[str] = field(default_factory=list)  # rooms a step of which raised (logged)
    by_room: dict[str, RoomSweep] = field(default_factory=dict)

    def add(self, room: RoomSweep) -> None:
        if not room.deleted_anything:
            return
        self.by_room[room.room_id] = room
        self.participants += room.participants
        self.chat_messages += room.chat_messages
        self.timeline_events += room.timeline_events
        self.recordings += len(room.recordings)
        self.bytes_freed += room.bytes_freed


async def sweep(db: Database, recordings_root: Path | str, now: datetime, *,
                running: Collection[str] = ()) -> RetentionReport:
    """Delete what every room's retention no longer keeps at ``now`` (an aware time). ``running``:
    ids of recordings being made now, never touched whatever their folders look like."""
    if now.utcoffset() is None:
        raise ValueError("sweep needs an aware time")
    async with db.session() as session:
        rooms = (await session.execute(
            select(Room.id, Room.record_retention_days)
            .where(Room.record_retention_days.is_not(None)).order_by(Room.id))).all()
    report = RetentionReport()
    root = Path(recordings_root)
    running = frozenset(running)
    for room_id, days in rooms:
        report.rooms += 1
        if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:  # (only a hand-edited row can)
            log.warning("retention: room %s has record_retention_days %r, not %d to %d: skipped",
                        room_id, days, MIN_RETENTION_DAYS, MAX_RETENTION_DAYS)
            report.failed.append(room_id)
            continue
        room = RoomSweep(room_id, days)
        cutoff = now - timedelta(days=days)
        failed = False
        try:
            await _delete_rows(db, room, cutoff)
        except Exception:  # noqa: BLE001 - one room's failure never stops the others
            log.exception("retention: deleting the old records of room %s failed", room_id)
            failed = True
        try:
            await asyncio.to_thread(_delete_recordings, root, room, cutoff, running)
        except Exception:  # noqa: BLE001
            log.exception("retention: deleting the old recordings of room %s failed", room_id)
            failed = True
        if failed:
            report.failed.append(room_id)
        report.add(room)
        if room.deleted_anything:
            log.info("retention: room %s (kept %d days, before %s): deleted %d recording(s), %d bytes; "
                     "%d chat message(s), %d timeline event(s), %d participant row(s)",
                     room_id, days, cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), len(room.recordings),
                     room.bytes_freed, room.chat_messages, room.timeline_events, room.participants)
    return report


async def _delete_rows(db: Database, room: RoomSweep, cutoff: datetime) -> None:
    """The room's chat, timeline and closed joins older than ``cutoff``, in one transaction."""
    quick = {"synchronize_session": False}
    async with db.session() as session:
        room.chat_messages = (await session.execute(
            delete(ChatMessage).where(ChatMessage.room_id == room.room_id, ChatMessage.created_at < cutoff)
            .execution_options(**quick))).rowcount
        room.timeline_events = (await session.execute(
            delete(TimelineEvent).where(TimelineEvent.room_id == room.room_id, TimelineEvent.created_at < cutoff)
            .execution_options(**quick))).rowcount
        # (a chat message of a deleted join keeps its text and author's name; its participant_id
        # becomes null: the foreign key says ON DELETE SET NULL)
        room.participants = (await session.execute(
            delete(Participant).where(Participant.room_id == room.room_id, Participant.left_at.is_not(None),
                                      Participant.left_at < cutoff)
            .execution_options(**quick))).rowcount


# ---- the recordings (blocking: run in a thread) ----------------------------------------------------

def _delete_recordings(root: Path, room: RoomSweep, cutoff: datetime, running: frozenset[str]) -> None:
    folder = _room_folder(root, room.room_id)
    if folder is None:
        return
    with os.scandir(folder) as entries:
        candidates = sorted((entry.name for entry in entries if entry.is_dir(follow_symlinks=False)))
    for name in candidates:
        if name in running:
            continue
        path = folder / name
        ended = recording_end(path)
        if ended is None or ended >= cutoff:
            continue
        size = tree_bytes(path)
        try:
            remove_tree(path)
        except OSError as exc:
            left = tree_bytes(path) if path.exists() else 0
            room.bytes_freed += max(0, size - left)
            log.warning("retention: room %s: recording %s could not be deleted whole (%s)", room.room_id, name, exc)
            continue
        room.recordings.append(name)
        room.bytes_freed += size
    if room.recordings:
        drop_from_room_manifest(folder, room.room_id, frozenset(room.recordings))


def _room_folder(root: Path, room_id: str) -> Path | None:
    """``root/room_id`` if it is a real folder (not a link out of the root); else None."""
    if not ROOM_ID_RE.fullmatch(room_id):
        return None
    folder = root / room_id
    if folder.is_symlink():
        log.warning("retention: %s is a symbolic link: its recordings are not touched", folder)
        return None
    return folder if folder.is_dir() else None


def _read_json(path: Path) -> tuple[Any, bool]:
    """``(data, present)``: the parsed JSON file (None if it cannot be used) and whether the file is
    there at all. A symbolic link is never read."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None, False
    except OSError:
        return None, True
    if path.is_symlink() or not path.is_file() or info.st_size > MANIFEST_MAX_BYTES:
        return None, True
    try:
        return json.loads(path.read_text(encoding="utf-8")), True
    except (OSError, UnicodeDecodeError, ValueError):
        return None, True


def recording_end(path: Path) -> datetime | None:
    """When a recording folder was last part of a meeting: its manifest's ``stopped``, else the
    newest modification time under it (None if it cannot be read at all)."""
    data, present = _read_json(path / MANIFEST_NAME)
    stopped = parse_time(data.get("stopped")) if isinstance(data, dict) else None
    if stopped is not None:
        return stopped
    if present:
        log.warning("retention: %s has a manifest.json without a usable 'stopped': dated by its files",
                    path)
    return last_written(path)


def last_written(path: Path) -> datetime | None:
    """The newest modification time of ``path`` and everything under it (links not followed)."""
    newest = None
    try:
        newest = path.lstat().st_mtime
    except OSError:
        return None
    for directory, subdirs, names in os.walk(path, followlinks=False):
        for name in subdirs + names:
            try:
                newest = max(newest, os.lstat(os.path.join(directory, name)).st_mtime)
            except OSError:
                continue
    return datetime.fromtimestamp(newest, UTC)


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (links not followed)."""
    total = 0
    for directory, _subdirs, names in os.walk(path, followlinks=False):
        for name in names:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def remove_tree(path: Path) -> None:
    """Delete a folder and what it holds. ``shutil.rmtree`` on this platform works from file
    descriptors and never follows a link (it removes the link); a platform where it could be
    tricked into following one is refused."""
    if not shutil.rmtree.avoids_symlink_attacks:
        raise OSError("this platform's rmtree may follow symbolic links: not deleting")
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link")
    shutil.rmtree(path)


def drop_from_room_manifest(folder: Path, room_id: str, removed: frozenset[str]) -> None:
    """Rewrite the room's ``manifest.json`` (media/recorder.py ``add_to_room_manifest``) without the
    removed recordings and their tracks: a new file renamed over the old one. An unreadable one is
    left as it is (logged): the export shows it as it is, and nothing is lost by not guessing."""
    path = folder / MANIFEST_NAME
    data, present = _read_json(path)
    if not present:
        return
    if not isinstance(data, dict):
        log.warning("retention: room %s: its recordings manifest cannot be read; left as it is", room_id)
        return

    def gone(item: object, key: str) -> bool:
        if not isinstance(item, dict):
            return False
        value = item.get(key)
        if key == "file":
            value = value.split("/", 1)[0] if isinstance(value, str) else None
        return isinstance(value, str) and value in removed

    if isinstance(data.get("recordings"), list):
        data["recordings"] = [r for r in data["recordings"] if not gone(r, "id")]
    if isinstance(data.get("tracks"), list):
        data["tracks"] = [t for t in data["tracks"] if not (gone(t, "recording") or gone(t, "file"))]
    write_json_atomically(path, data)


def write_json_atomically(path: Path, data: Any) -> None:
    """Write ``data`` to a temporary file beside ``path``, flushed to disk, then rename it over
    ``path``: a reader sees the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.retention-{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
