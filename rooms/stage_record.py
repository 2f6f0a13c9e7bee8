"""The stage timeline of a recording: what the stage showed, and the data it showed, while a meeting
was recorded (issue "records": "panels with the data they showed, document pages, shares").

While a recording runs, :class:`StageLog` appends one JSON object per line to ``stage.jsonl`` in
the recording's folder (beside the media files and ``manifest.json``), each with ``at`` (Unix
seconds) and a ``type``:

- ``stage``: the stage state (``rooms.stage.StageState.to_dict``) after every change;
- ``panels``: the room's panels (id, title, kind, source, options) at the start and when they change;
- ``panel_data``: an update of a panel (what the live ``panel_data`` event carried), written for
  the panel on the stage: at the start, when the stage turns to a panel, and on each of its updates;
- ``page``: a document page shown on the stage, with the image copied into ``stage/`` (once per
  page), so the archive shows it even after the document is deleted;
- ``person``: a participant's id, name and city (the media files are named by participant id);
- ``recording_stop``: the end.

The log is the archive's source (``rooms.record.load_archive``): :func:`read_stage_log` turns it
back into entries with ``t``, seconds from the recording's start. Writes are small appends on the
event loop (a line is flushed at once, so a crash keeps what was written); page images are copied
in a thread. The file is bounded (:data:`STAGE_LOG_MAX_BYTES`): past it, panel data is no longer
written (stage changes still are, up to twice the bound).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STAGE_LOG_NAME = "stage.jsonl"
STAGE_FILES = "stage"
STAGE_LOG_MAX_BYTES = 64 * 1024 * 1024
READ_MAX_ENTRIES = 200_000
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
IMAGE_SUFFIXES = frozenset({".webp", ".png", ".jpg", ".jpeg"})


def page_file_name(document_id: str, page: int, suffix: str) -> str:
    """The name of a copied page image inside ``stage/``: ``<document id>-page-0001.webp``."""
    suffix = suffix.lower() if suffix.lower() in IMAGE_SUFFIXES else ".img"
    return f"{_SAFE.sub('_', document_id)[:64]}-page-{page + 1:04d}{suffix}"


class StageLog:
    """The stage timeline of one recording, written to ``<directory>/stage.jsonl``.

    ``clock`` gives Unix seconds. Every method is safe to call after :meth:`close` or after a write
    failed (a full disk): the log then stops, the meeting and the recording go on.
    """

    def __init__(self, directory: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.clock = clock
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file = open(self.directory / STAGE_LOG_NAME, "a", encoding="utf-8")
        self._bytes = 0
        self._pages: set[tuple[str, int]] = set()  # pages copied (or being copied)
        self._panel_on_stage: str | None = None
        self._copies: set[asyncio.Task] = set()

    @property
    def open(self) -> bool:
        return self._file is not None

    def _write(self, entry: dict[str, Any], *, essential: bool = True, at: float | None = None) -> None:
        if self._file is None:
            return
        if self._bytes > STAGE_LOG_MAX_BYTES * (2 if essential else 1):
            return
        entry = {"at": round(self.clock() if at is None else at, 3), **entry}
        try:
            line = json.dumps(entry, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n"
            self._file.write(line)
            self._file.flush()
        except (OSError, TypeError, ValueError) as exc:
            log.warning("stage log %s: %s; the stage is no longer logged", self.directory, exc)
            self._close_file()
            return
        self._bytes += len(line)

    # ---- what happens in the meeting ---------------------------------------------------------

    def start(self, *, stage: dict, panels: list[dict], people: list[dict], panel_data: dict | None,
              document: dict | None) -> None:
        """The state when the recording starts: the people in, the panels, the stage (with the
        data of the panel on it, or the page of the document on it)."""
        for person in people:
            self.person(person)
        self.panels(panels)
        self.stage(stage, panel_data=panel_data, document=document)

    def person(self, person: dict) -> None:
        """``{"id", "name", "city"}`` of someone who is (or came) in."""
        self._write({"type": "person", "id": person.get("id"), "name": person.get("name"),
                     "city": person.get("city")})

    def panels(self, panels: list[dict]) -> None:
        self._write({"type": "panels", "panels": panels})

    def stage(self, stage: dict, *, panel_data: dict | None = None, document: dict | None = None) -> None:
        """The stage changed to ``stage``. For a panel, ``panel_data`` is its latest update (the
        data shown from now on); for a document, ``document`` is ``{"id", "title", "page_count",
        "storage_dir", "page_sizes"}`` and the page shown is copied."""
        self._panel_on_stage = stage.get("panel_id") if stage.get("kind") == "panel" else None
        if document is not None and stage.get("kind") == "document":
            self._page(document, int(stage.get("page") or 0))
        self._write({"type": "stage", "stage": stage})
        if self._panel_on_stage is not None and panel_data is not None:
            self.panel_data(panel_data)

    def panel_data(self, update: dict) -> None:
        """An update of a panel: written if that panel is on the stage."""
        if update.get("panel_id") == self._panel_on_stage and self._panel_on_stage is not None:
            self._write({"type": "panel_data", **{k: v for k, v in update.items() if k not in ("at", "type")}},
                        essential=False)

    def _page(self, document: dict, page: int) -> None:
        key = (str(document.get("id")), page)
        if key in self._pages or self._file is None:
            return
        self._pages.add(key)
        folder = Path(str(document.get("storage_dir") or ""))
        sizes = document.get("page_sizes") or []
        width, height = (sizes[page] if 0 <= page < len(sizes) else (None, None))
        entry = {"type": "page", "document_id": key[0], "page": page, "title": document.get("title"),
                 "page_count": document.get("page_count"), "width": width, "height": height}
        at = self.clock()

        def copy() -> str | None:
            matches = sorted(folder.glob(f"page-{page + 1:04d}.*")) if folder.is_dir() else []
            if not matches:
                return None
            name = page_file_name(key[0], page, matches[0].suffix)
            target = self.directory / STAGE_FILES / name
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(matches[0], target)
            return f"{STAGE_FILES}/{name}"

        async def copy_and_log() -> None:
            try:
                image = await asyncio.to_thread(copy)
            except OSError as exc:
                log.warning("stage log %s: page %d of %s not copied: %s", self.directory, page, key[0], exc)
                image = None
            self._write({**entry, "image": image}, at=at)  # at the moment it was shown

        task = asyncio.get_running_loop().create_task(copy_and_log())
        self._copies.add(task)
        task.add_done_callback(self._copies.discard)

    async def stop(self) -> None:
        """The recording stopped: wait for page copies, write the end, close."""
        if self._copies:
            await asyncio.wait(list(self._copies), timeout=10.0)
        self._write({"type": "recording_stop"})
        self._close_file()

    def _close_file(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def read_stage_log(directory: str | os.PathLike[str], started: float) -> list[dict[str, Any]]:
    """The entries of a recording's ``stage.jsonl`` (blocking), oldest first, each with ``t``
    (seconds from ``started``, Unix seconds; never negative) instead of ``at``. Lines that are
    not JSON objects with a ``type`` (a line cut by a crash) are skipped; an absent log is ``[]``."""
    path = Path(directory) / STAGE_LOG_NAME
    entries: list[dict[str, Any]] = []
    try:
        handle = open(path, encoding="utf-8", errors="replace")
    except OSError:
        return entries
    with handle:
        for line in handle:
            if len(entries) >= READ_MAX_ENTRIES:
                break
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                continue
            at = entry.pop("at", None)
            at = float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else started
            entry["t"] = round(max(0.0, at - started), 3)
            entries.append(entry)
    entries.sort(key=lambda e: e["t"])  # stable: same-moment entries keep their order
    return entries
