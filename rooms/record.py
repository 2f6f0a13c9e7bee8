"""The meeting record: who attended, what was said, what was decided and shown, what was recorded.

:func:`load_record` reads one room's record from the database (every participant row, chat message
and timeline event, oldest first) and lists the files of its recordings folder
(``<data_dir>/recordings/<room id>/``, whatever is there, with its ``manifest.json`` if present).
:func:`write_zip` writes it as a ZIP to a file object (blocking: run it in a thread): ``record.json``
(everything), ``attendance.csv``, ``chat.csv``, ``timeline.csv`` (UTF-8 with a BOM, so that Excel
reads Korean and Portuguese names right), ``report.html`` (printable, self-contained, every value
escaped) and ``recordings/...`` (the files as they are; media stored, not deflated).

Attendance: a ``participants`` row is one join of one device; a client that comes back after a
dropped connection reopens its row, so a row's time is the time that device was in. Rows are
grouped into people by name and organisation (:func:`person_key`: Unicode-normalised, case and
spacing ignored); a person's time is the time at least one of their rows was open, so two devices
at once count once. A join still open is counted until the record was made (``still_in``).

Cells of the CSV files that a spreadsheet would take for a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) are prefixed with ``'``; ``record.json`` has the exact text.
No HTTP here: ``server/record_api.py`` serves it.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from .chat import message_dict
from .db import Database
from .errors import RoomNotFound
from .meeting import iso_utc
from .models import ChatMessage, Delegation, Participant, Room, TimelineEvent, utcnow
from .panels.cities import CITIES
from .service import ROOM_ID_RE
from .timeline import event_dict

RECORD_FORMAT = "sitroom-meeting-record"
RECORD_VERSION = 1
GROUPING = ("Joins are grouped into one person when name and organisation are the same (ignoring case "
            "and extra spaces). A person's time is the time at least one of their joins was open: two "
            "devices at once count once. A join still open is counted until this record was made.")

MEDIA_SUFFIXES = frozenset({".webm", ".mp4", ".mkv", ".m4a", ".m4v", ".ogg", ".oga", ".opus", ".mp3",
                            ".aac", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".zip", ".gz", ".zst"})
STORE_ABOVE_BYTES = 16 * 1024 * 1024  # larger files are stored whatever their type (deflating costs)
MANIFEST_NAME = "manifest.json"
MANIFEST_MAX_BYTES = 1024 * 1024
RECORDING_FILES_MAX = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

MODERATION_KINDS = frozenset({
    "mute", "mute_all", "allow_unmute", "remove", "promote", "demote", "transfer_host", "lock", "unlock",
    "lobby_on", "lobby_off", "lobby_admit", "lobby_deny", "raise_hand", "lower_hand", "self_unmute_on",
    "self_unmute_off", "end", "invite_create", "invite_revoke", "recording_start", "recording_stop",
})


def event_category(kind: str) -> str:
    """``attendance`` (join, leave), ``moderation``, ``stage``, ``content`` (panels, documents) or
    ``other``: how the report groups the timeline."""
    if kind in ("join", "leave"):
        return "attendance"
    if kind in MODERATION_KINDS:
        return "moderation"
    if kind == "stage" or kind.startswith("stage_"):
        return "stage"
    if kind.startswith(("panel_", "document_")):
        return "content"
    return "other"


def person_key(name: str, organisation: str) -> tuple[str, str]:
    """What makes two joins the same person: name and organisation, NFKC-normalised, case-folded,
    white space collapsed."""
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())
    return norm(name), norm(organisation)


def open_seconds(intervals: Iterable[tuple[datetime, datetime]]) -> float:
    """Seconds covered by the union of ``(start, end)`` intervals (overlaps counted once)."""
    total, end_so_far = 0.0, None
    for start, end in sorted(intervals):
        if end_so_far is None or start > end_so_far:
            total += (end - start).total_seconds()
            end_so_far = end
        elif end > end_so_far:
            total += (end - end_so_far).total_seconds()
            end_so_far = end
    return total


@dataclass(frozen=True, slots=True)
class RecordingFile:
    """One file of the room's recordings folder: its path there (``/``-separated) and size."""

    name: str
    size: int
    path: Path

    def stored(self) -> bool:
        """Whether it goes into the ZIP as it is (media, already compressed, or large)."""
        return self.path.suffix.lower() in MEDIA_SUFFIXES or self.size > STORE_ABOVE_BYTES


@dataclass
class MeetingRecord:
    """A room's record: ``data`` is the JSON object (``record.json``), ``files`` the recordings."""

    data: dict[str, Any]
    files: list[RecordingFile] = field(default_factory=list)
    time_zone: tzinfo | None = None

    @property
    def room(self) -> dict[str, Any]:
        return self.data["room"]


def recording_files(folder: Path) -> list[RecordingFile]:
    """The regular files under ``folder`` (not following symbolic links: a link could point
    anywhere), sorted by name; at most :data:`RECORDING_FILES_MAX`. Nothing if it does not exist."""
    found: list[RecordingFile] = []
    if not folder.is_dir() or folder.is_symlink():
        return found
    for directory, subdirs, names in os.walk(folder, followlinks=False):
        subdirs.sort()
        for name in sorted(names):
            path = Path(directory) / name
            try:
                info = path.lstat()
                relative = path.relative_to(folder).as_posix()
                relative.encode("utf-8")  # a name that is not text cannot go into the ZIP
            except (OSError, UnicodeEncodeError):
                continue
            if path.is_symlink() or not path.is_file():
                continue
            found.append(RecordingFile(relative, info.st_size, path))
            if len(found) >= RECORDING_FILES_MAX:
                return found
    return found


def read_manifest(folder: Path) -> tuple[Any, str | None]:
    """The parsed ``manifest.json`` of a recordings folder and None, or None and why it is not
    there or not usable."""
    path = folder / MANIFEST_NAME
    try:
        if path.is_symlink() or not path.is_file():
            return None, "no manifest.json"
        if path.stat().st_size > MANIFEST_MAX_BYTES:
            return None, f"manifest.json is larger than {MANIFEST_MAX_BYTES} bytes"
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"manifest.json could not be read: {type(exc).__name__}"


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))


def _iso(value: datetime | None) -> str | None:
    return iso_utc(value) if value is not None else None


async def load_record(db: Database, room_id: str, *, recordings_root: Path | None = None,
                      clock: Callable[[], datetime] = utcnow) -> MeetingRecord:
    """The record of ``room_id`` as it is now (:class:`RoomNotFound` if there is no such room).
    ``recordings_root`` is the folder holding one folder of recordings per room id."""
    room = None
    async with db.session() as session:
        if isinstance(room_id, str) and ROOM_ID_RE.fullmatch(room_id):
            room = await session.get(Room, room_id)
        if room is None:
            raise RoomNotFound(f"room {str(room_id)[:64]!r} does not exist")
        rows = list(await session.scalars(
            select(Participant).where(Participant.room_id == room_id)
            .order_by(Participant.joined_at, Participant.id)))
        messages = list(await session.scalars(
            select(ChatMessage).where(ChatMessage.room_id == room_id).order_by(ChatMessage.id)))
        events = list(await session.scalars(
            select(TimelineEvent).where(TimelineEvent.room_id == room_id).order_by(TimelineEvent.id)))
        # a scheduled meeting's delegations: who came through which one's invite, and from which city
        delegation_city = {d.invite_id: d.city for d in await session.scalars(
            select(Delegation).where(Delegation.room_id == room_id)) if d.invite_id}
    now = clock()
    city = CITIES.get(room.city) if room.city else None
    people, attendance = _attendance(rows, now, delegation_city)
    folder = recordings_root / room.id if recordings_root is not None else None
    files = recording_files(folder) if folder is not None else []
    manifest, manifest_note = read_manifest(folder) if folder is not None else (None, "no manifest.json")
    timeline = [{**event_dict(row), "category": event_category(row.kind)} for row in events]
    still_in = sum(1 for row in attendance if row["still_in"])
    data = {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "generated_at": iso_utc(now),
        "room": {
            "id": room.id, "title": room.title, "city": room.city,
            "city_name": city.name if city else None, "time_zone": city.time_zone if city else None,
            "created_at": _iso(room.created_at), "starts_at": _iso(room.starts_at),
            "ends_at": _iso(room.ends_at), "ended_at": _iso(room.ended_at),
        },
        "meeting": {
            "first_join": _iso(rows[0].joined_at) if rows else None,
            "last_leave": (_iso(max(row.left_at for row in rows)) if rows and not still_in else None),
            "still_in": still_in,
            "people": len(people),
            "joins": len(attendance),
            "chat_messages": len(messages),
            "timeline_events": len(timeline),
        },
        "grouping": GROUPING,
        "people": people,
        "attendance": attendance,
        "chat": [message_dict(row) for row in messages],
        "timeline": timeline,
        "recordings": {
            "folder": "recordings/" if files else None,  # in the ZIP
            "files": [{"name": f.name, "size": f.size, "stored": f.stored()} for f in files],
            "manifest": manifest,
            "manifest_note": manifest_note,
        },
    }
    return MeetingRecord(data, files, city.tz if city else None)


def _attendance(rows: list[Participant], now: datetime,
                delegation_city: dict[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    people: dict[tuple[str, str], dict[str, Any]] = {}
    intervals: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    attendance = []
    for row in rows:
        key = person_key(row.name, row.organisation)
        end = row.left_at if row.left_at is not None else max(now, row.joined_at)
        city = (delegation_city or {}).get(row.invite_id, "")  # (a delegation's invite names its city)
        if key not in people:
            people[key] = {"person": len(people) + 1, "name": row.name, "organisation": row.organisation,
                           "city": city, "roles": [], "joins": 0, "first_joined": _iso(row.joined_at),
                           "last_left": None, "seconds": 0, "still_in": False}
            intervals[key] = []
        person = people[key]
        if row.role not in person["roles"]:
            person["roles"].append(row.role)
        person["joins"] += 1
        person["still_in"] = person["still_in"] or row.left_at is None
        intervals[key].append((row.joined_at, end))
        attendance.append({
            "participant_id": row.id, "person": person["person"], "name": row.name,
            "organisation": row.organisation, "city": city, "role": row.role,
            "joined_at": _iso(row.joined_at), "left_at": _iso(row.left_at),
            "seconds": _seconds(row.joined_at, end), "still_in": row.left_at is None, "removed": row.removed,
        })
    for key, person in people.items():
        person["seconds"] = max(0, round(open_seconds(intervals[key])))
        if not person["still_in"]:
            person["last_left"] = _iso(max(end for _, end in intervals[key]))
    return list(people.values()), attendance


# ---- the file name ---------------------------------------------------------------------------------

def record_filename(record: MeetingRecord) -> tuple[str, str]:
    """``(ascii name, unicode name)`` of the ZIP: the title's slug and the meeting's date (its first
    join's, else the room's creation's, UTC): ``city-council-2026-12-03-record.zip``. A title
    without ASCII letters gives the room id in the ASCII name."""
    room = record.room
    day = (record.data["meeting"]["first_join"] or room["created_at"] or record.data["generated_at"])[:10]
    title = unicodedata.normalize("NFKC", room["title"])
    ascii_slug = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", title).encode("ascii", "ignore")
                        .decode("ascii").lower()).strip("-")[:60].strip("-") or room["id"]
    unicode_slug = re.sub(r"[\W_]+", "-", title.lower()).strip("-")[:60].strip("-") or room["id"]
    return f"{ascii_slug}-{day}-record.zip", f"{unicode_slug}-{day}-record.zip"


# ---- the ZIP ---------------------------------------------------------------------------------------

ATTENDANCE_COLUMNS = ("person", "name", "organisation", "city", "role", "joined_utc", "left_utc", "seconds",
                      "still_in", "removed", "participant_id")
CHAT_COLUMNS = ("id", "sent_utc", "name", "role", "text", "participant_id")
TIMELINE_COLUMNS = ("id", "at_utc", "category", "kind", "actor_name", "target_name", "details", "actor_id",
                    "target_id")


def spreadsheet_safe(value: Any) -> Any:
    """A cell as written to CSV: text a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _details_text(details: dict) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(", ", ": ")) if details else ""


def csv_rows(record: MeetingRecord) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """The CSV files' columns and rows, by file name (before :func:`spreadsheet_safe`)."""
    data = record.data
    yes_no = {True: "yes", False: "no"}
    return {
        "attendance.csv": (ATTENDANCE_COLUMNS, [
            (a["person"], a["name"], a["organisation"], a["city"], a["role"], a["joined_at"], a["left_at"] or "",
             a["seconds"], yes_no[a["still_in"]], yes_no[a["removed"]], a["participant_id"])
            for a in data["attendance"]]),
        "chat.csv": (CHAT_COLUMNS, [
            (m["id"], m["sent_at"], m["name"], m["role"], m["text"], m["participant_id"] or "")
            for m in data["chat"]]),
        "timeline.csv": (TIMELINE_COLUMNS, [
            (e["id"], e["at"], e["category"], e["kind"], e["actor_name"] or "", e["target_name"] or "",
             _details_text(e["details"]), e["actor_id"] or "", e["target_id"] or "")
            for e in data["timeline"]]),
    }


def write_zip(record: MeetingRecord, out: BinaryIO) -> None:
    """Write the record's ZIP to ``out`` (a seekable binary file), streaming the recordings from
    disk. Blocking: call it in a thread."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        with archive.open("record.json", "w") as member:
            member.write(json.dumps(record.data, ensure_ascii=False, indent=2).encode("utf-8"))
        for name, (columns, rows) in csv_rows(record).items():
            with archive.open(name, "w") as member:
                text = io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
                writer = csv.writer(text)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow([spreadsheet_safe(value) for value in row])
                text.flush()
                text.detach()
        with archive.open("report.html", "w") as member:
            member.write(render_report(record).encode("utf-8"))
        for item in record.files:
            try:
                archive.write(item.path, "recordings/" + item.name,
                              compress_type=zipfile.ZIP_STORED if item.stored() else zipfile.ZIP_DEFLATED)
            except FileNotFoundError:
                continue  # removed since it was listed


# ---- the printable report --------------------------------------------------------------------------

REPORT_CSS = """
body { font: 11pt/1.4 system-ui, "Noto Sans", "Noto Sans KR", "Malgun Gothic", sans-serif; color: #111;
       margin: 2em auto; max-width: 60em; padding: 0 1em; }
h1 { font-size: 18pt; margin: 0 0 .2em; } h2 { font-size: 13pt; margin: 1.6em 0 .4em;
     border-bottom: 1px solid #999; }
.meta { color: #333; } .note { color: #444; font-size: 9.5pt; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th, td { border: 1px solid #bbb; padding: .25em .4em; text-align: left; vertical-align: top; }
th { background: #eee; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { white-space: pre-wrap; overflow-wrap: anywhere; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
  tr { break-inside: avoid; } thead { display: table-header-group; } a { color: inherit; } }
@page { margin: 1.5cm; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _parse(iso: str | None) -> datetime | None:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if iso else None


def _duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


class _Times:
    """Times as the report shows them: UTC, and in the room's city when it has one."""

    def __init__(self, zone: tzinfo | None) -> None:
        self.zone = zone

    def utc(self, iso: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        when = _parse(iso)
        return when.strftime(fmt) if when else ""

    def local(self, iso: str | None, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        when = _parse(iso)
        return when.astimezone(self.zone).strftime(fmt) if when and self.zone else ""

    def both(self, iso: str | None) -> str:
        if not iso:
            return ""
        utc = self.utc(iso, "%Y-%m-%d %H:%M:%S UTC")
        return f"{utc} ({self.local(iso)})" if self.zone else utc


def _table(headers: list[str], rows: Iterable[list[tuple[str, str]]], empty: str) -> str:
    """A table; each cell is ``(css class, already-escaped html)``."""
    body = "".join("<tr>" + "".join(f'<td class="{cls}">{cell}</td>' if cls else f"<td>{cell}</td>"
                                    for cls, cell in row) + "</tr>\n" for row in rows)
    if not body:
        return f'<p class="note">{_e(empty)}</p>\n'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def render_report(record: MeetingRecord) -> str:
    """The printable HTML report: self-contained (inline CSS, no script, nothing fetched), every
    value from the database escaped."""
    data, room = record.data, record.room
    times = _Times(record.time_zone)
    zone_name = room["time_zone"]
    local_head = [f"{zone_name}"] if zone_name else []

    def time_cells(iso: str | None) -> list[tuple[str, str]]:
        cells = [("", _e(times.utc(iso)))]
        if zone_name:
            cells.append(("", _e(times.local(iso))))
        return cells

    meeting = data["meeting"]
    summary = [
        ("Room", f"{room['title']} ({room['id']})"),
        ("City", f"{room['city_name']} ({zone_name})" if room["city_name"] else "not set"),
        ("Meeting", f"{times.both(meeting['first_join'])} to {times.both(meeting['last_leave']) or 'still open'}"
         if meeting["first_join"] else "nobody joined"),
        ("Planned", f"{times.both(room['starts_at'])} to {times.both(room['ends_at']) or '?'}"
         if room["starts_at"] else "not planned"),
        ("Ended by a host", times.both(room["ended_at"]) or "no"),
        ("Record made", times.both(data["generated_at"])),
        ("In numbers", f"{_count(meeting['people'], 'person', 'people')}, {_count(meeting['joins'], 'join')} "
                       f"({meeting['still_in']} still in), {_count(meeting['chat_messages'], 'chat message')}, "
                       f"{_count(meeting['timeline_events'], 'timeline event')}"),
    ]
    people = _table(
        ["#", "Name", "Organisation", "City", "Role", "First joined (UTC)", *local_head, "Last left (UTC)",
         *local_head, "Total time", "Joins"],
        ([("num", _e(p["person"])), ("", _e(p["name"])), ("", _e(p["organisation"])), ("", _e(p["city"])),
          ("", _e(", ".join(p["roles"]))), *time_cells(p["first_joined"]),
          *(time_cells(p["last_left"]) if not p["still_in"] else
            [("", "still in")] + ([("", "")] if zone_name else [])),
          ("num", _e(_duration(p["seconds"]))), ("num", _e(p["joins"]))] for p in data["people"]),
        "Nobody joined.")
    joins = _table(
        ["Person", "Name", "Organisation", "Role", "Joined (UTC)", *local_head, "Left (UTC)", *local_head,
         "Time", "Removed"],
        ([("num", _e(a["person"])), ("", _e(a["name"])), ("", _e(a["organisation"])), ("", _e(a["role"])),
          *time_cells(a["joined_at"]),
          *(time_cells(a["left_at"]) if a["left_at"] else [("", "still in")] + ([("", "")] if zone_name else [])),
          ("num", _e(_duration(a["seconds"]))), ("", "yes" if a["removed"] else "")]
         for a in data["attendance"]),
        "No joins.")
    chat = _table(
        ["Sent (UTC)", *local_head, "From", "Role", "Message"],
        ([*time_cells(m["sent_at"]), ("", _e(m["name"])), ("", _e(m["role"])), ("text", _e(m["text"]))]
         for m in data["chat"]),
        "No chat messages.")
    timeline = _table(
        ["At (UTC)", *local_head, "What", "Kind", "By", "To", "Details"],
        ([*time_cells(e["at"]), ("", _e(e["category"])), ("", _e(e["kind"])), ("", _e(e["actor_name"])),
          ("", _e(e["target_name"])), ("text", _e(_details_text(e["details"])))]
         for e in data["timeline"] if e["category"] != "attendance"),
        "No moderation or stage events.")
    recordings = data["recordings"]
    files = _table(
        ["File", "Size (bytes)"],
        ([("text", _e("recordings/" + f["name"])), ("num", _e(f"{f['size']:,}"))] for f in recordings["files"]),
        "No recordings.")
    summary_html = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>\n" for k, v in summary)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>Meeting record: {_e(room['title'])}</title>\n<style>{REPORT_CSS}</style>\n</head>\n<body>\n"
        f"<h1>Meeting record: {_e(room['title'])}</h1>\n"
        f"<table class=\"meta\">\n{summary_html}</table>\n"
        f"<p class=\"note\">{_e(data['grouping'])} Times are in UTC"
        f"{_e(' and in ' + zone_name + ', the room’s city') if zone_name else ''}.</p>\n"
        f"<h2>Attendance by person</h2>\n{people}"
        f"<h2>Joins</h2>\n{joins}"
        f"<h2>Chat</h2>\n{chat}"
        f"<h2>Moderation and stage</h2>\n{timeline}"
        f"<h2>Recordings</h2>\n{files}"
        "</body>\n</html>\n"
    )
