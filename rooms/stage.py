"""The stage: what every participant of a room sees in the main area.

One of: nothing, a live panel, a page of a document (with an optional pointer), or a participant's
camera or screen. :class:`Stage` holds the current :class:`StageState`; every change bumps
``version``, records who made it and when, and returns a :class:`TimelineEntry` for the meeting's
timeline. Pointer moves are the exception: they are ephemeral (sent as their own event, never
stored) and leave ``version``, ``changed_by`` and ``changed_at`` alone, so that a presenter's
pointing never makes another presenter's ``expected_version`` stale. Permission checks (who may
change the stage) belong to ``rooms.authorize``, not here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable

from .errors import DomainError
from .meeting import iso_utc

__all__ = ["Stage", "StageError", "StageState", "TimelineEntry", "STAGE_KINDS", "SOURCES"]

STAGE_KINDS = ("empty", "panel", "document", "participant")
SOURCES = ("camera", "screen")
MAX_ID = 64
MAX_PAGE = 100_000


class StageError(DomainError, ValueError):
    """An invalid stage change. ``code`` is ``"bad_request"``, or ``"conflict"`` for a stale version."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(code, message)


def _iso(t: datetime | None) -> str | None:
    """The protocol's one time format (``2026-11-23T09:30:00Z``), via ``rooms.meeting.iso_utc``."""
    return iso_utc(t) if t is not None else None


def _parse_time(v: Any) -> datetime | None:
    """An aware UTC time from ``...Z``, ``...+00:00`` (or any offset) or a naive time (taken as UTC)."""
    if v is None:
        return None
    if not isinstance(v, datetime):
        if not isinstance(v, str):
            raise StageError("changed_at must be an ISO 8601 time")
        try:
            v = datetime.fromisoformat(v.strip().replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise StageError("changed_at must be an ISO 8601 time") from None
    return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v.astimezone(timezone.utc)


def _check_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID or not value.isprintable():
        raise StageError(f"{name} must be a non-empty string of at most {MAX_ID} characters")
    return value


def _check_coord(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StageError(f"pointer {name} must be a number")
    v = float(value)
    if not math.isfinite(v) or not (0.0 <= v <= 1.0):
        raise StageError(f"pointer {name} must be between 0 and 1")
    return v


def _check_page(page: Any, page_count: int | None) -> int:
    if isinstance(page, bool) or not isinstance(page, int) or not (0 <= page < MAX_PAGE):
        raise StageError("page must be an integer index starting at 0")
    if page_count is not None and page >= page_count:
        raise StageError(f"page {page} is out of range (the document has {page_count} pages)")
    return page


@dataclass
class StageState:
    kind: str = "empty"  # "empty" | "panel" | "document" | "participant"
    panel_id: str | None = None
    document_id: str | None = None
    page: int | None = None  # 0-based page index of the document
    pointer: tuple[float, float] | None = None  # (x, y) in 0..1 of the shown page/panel, or None
    participant_id: str | None = None
    source: str | None = None  # "camera" | "screen" when kind == "participant"
    locked_follow: bool = False  # everyone must follow the stage (no personal browsing)
    version: int = 0
    changed_by: str | None = None
    changed_at: datetime | None = None

    def validate(self) -> "StageState":
        """Check the state is self-consistent; raises :class:`StageError`."""
        if self.kind not in STAGE_KINDS:
            raise StageError(f"kind must be one of {', '.join(STAGE_KINDS)}")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 0:
            raise StageError("version must be a non-negative integer")
        if not isinstance(self.locked_follow, bool):
            raise StageError("locked_follow must be true or false")
        expect = {
            "empty": set(),
            "panel": {"panel_id"},
            "document": {"document_id", "page"},
            "participant": {"participant_id", "source"},
        }[self.kind]
        for name in ("panel_id", "document_id", "page", "participant_id", "source"):
            present = getattr(self, name) is not None
            if present != (name in expect):
                raise StageError(f"{name} {'is required' if name in expect else 'must be empty'} for a {self.kind} stage")
        if self.panel_id is not None:
            _check_id("panel_id", self.panel_id)
        if self.document_id is not None:
            _check_id("document_id", self.document_id)
            _check_page(self.page, None)
        if self.participant_id is not None:
            _check_id("participant_id", self.participant_id)
            if self.source not in SOURCES:
                raise StageError("source must be camera or screen")
        if self.pointer is not None:
            if self.kind == "empty":
                raise StageError("an empty stage has no pointer")
            if not isinstance(self.pointer, (tuple, list)) or len(self.pointer) != 2:
                raise StageError("pointer must be [x, y] or null")
            self.pointer = (_check_coord("x", self.pointer[0]), _check_coord("y", self.pointer[1]))
        if self.changed_by is not None:
            _check_id("changed_by", self.changed_by)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "panel_id": self.panel_id,
            "document_id": self.document_id,
            "page": self.page,
            "pointer": list(self.pointer) if self.pointer is not None else None,
            "participant_id": self.participant_id,
            "source": self.source,
            "locked_follow": self.locked_follow,
            "version": self.version,
            "changed_by": self.changed_by,
            "changed_at": _iso(self.changed_at),
        }

    @classmethod
    def from_dict(cls, d: Any) -> "StageState":
        if not isinstance(d, dict):
            raise StageError("stage state must be an object")
        known = {f for f in cls.__dataclass_fields__}
        extra = set(d) - known
        if extra:
            raise StageError(f"unknown stage fields: {', '.join(sorted(extra))}")
        values = dict(d)
        if values.get("pointer") is not None:
            p = values["pointer"]
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise StageError("pointer must be [x, y] or null")
            values["pointer"] = (p[0], p[1])
        values["changed_at"] = _parse_time(values.get("changed_at"))
        return cls(**values).validate()


@dataclass
class TimelineEntry:
    """One stage change for the meeting's timeline.

    ``what`` is ``stage_panel``, ``stage_document``, ``stage_page``, ``stage_pointer``,
    ``stage_participant``, ``stage_clear`` or ``stage_lock`` (all valid ``timeline_events.kind``
    values). ``ephemeral`` entries (pointer moves) need not be persisted.
    """

    who: str
    what: str
    when: datetime
    details: dict[str, Any] = field(default_factory=dict)
    room_id: str | None = None
    version: int = 0
    ephemeral: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "who": self.who,
            "what": self.what,
            "when": _iso(self.when),
            "details": dict(self.details),
            "room_id": self.room_id,
            "version": self.version,
            "ephemeral": self.ephemeral,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TimelineEntry":
        when = _parse_time(d["when"])
        assert when is not None
        return cls(
            who=d["who"],
            what=d["what"],
            when=when,
            details=dict(d.get("details") or {}),
            room_id=d.get("room_id"),
            version=int(d.get("version", 0)),
            ephemeral=bool(d.get("ephemeral", False)),
        )


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Stage:
    """The stage of one room. Not thread-safe; use it from the room's event loop.

    Every change takes ``by`` (the participant id making it) and an optional ``expected_version``:
    if given and not the current version, :class:`StageError` with code ``"conflict"`` is raised
    (two hosts changing the stage at once). Each returns ``(new_state, timeline_entry)``.
    """

    def __init__(
        self,
        room_id: str | None = None,
        state: StageState | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.room_id = room_id
        self._clock = clock or _utcnow
        self._state = (state or StageState()).validate()
        # What the stage showed before a participant's camera or screen took it over (a panel or
        # a document page, or nothing): when that participant stops or leaves, the stage goes back
        # to it, as a screen share in any meeting returns to what was there.
        self._before_participant: StageState | None = None

    @property
    def state(self) -> StageState:
        return replace(self._state)

    @property
    def version(self) -> int:
        return self._state.version

    def to_dict(self) -> dict[str, Any]:
        return self._state.to_dict()

    @classmethod
    def from_dict(cls, d: dict[str, Any], room_id: str | None = None, *, clock: Callable[[], datetime] | None = None) -> "Stage":
        return cls(room_id, StageState.from_dict(d), clock=clock)

    def snapshot(self) -> dict[str, Any]:
        """All of the stage that a restart of the server must not lose, as plain JSON: the state
        (what is shown, its version, the follow lock) and what a participant's video took over."""
        before = self._before_participant
        return {"state": self._state.to_dict(), "before": before.to_dict() if before is not None else None}

    @classmethod
    def restore(cls, snapshot: Any, room_id: str | None = None) -> "Stage":
        """The stage of a :meth:`snapshot`; :class:`StageError` if it does not read as one."""
        if not isinstance(snapshot, dict):
            raise StageError("a stage snapshot must be an object")
        stage = cls.from_dict(snapshot.get("state"), room_id)
        if snapshot.get("before") is not None:
            stage._before_participant = StageState.from_dict(snapshot["before"])
        return stage

    # ---------------------------------------------------------------------------------------

    def _commit(
        self,
        by: str,
        what: str,
        details: dict[str, Any],
        expected_version: int | None,
        **changes: Any,
    ) -> tuple[StageState, TimelineEntry]:
        _check_id("by", by)
        if expected_version is not None and expected_version != self._state.version:
            raise StageError(
                f"the stage changed meanwhile (version {self._state.version}, not {expected_version})", code="conflict"
            )
        now = self._clock()
        new = replace(self._state, **changes, version=self._state.version + 1, changed_by=by, changed_at=now)
        new.validate()
        if new.kind != "participant":
            self._before_participant = None  # the presenter moved on: nothing to go back to
        elif self._state.kind != "participant":
            self._before_participant = replace(self._state)
        self._state = new
        entry = TimelineEntry(
            who=by, what=what, when=now, details=details, room_id=self.room_id, version=new.version
        )
        return replace(new), entry

    _CLEARED = dict(panel_id=None, document_id=None, page=None, pointer=None, participant_id=None, source=None)

    def set_panel(self, panel_id: str, *, by: str, expected_version: int | None = None) -> tuple[StageState, TimelineEntry]:
        _check_id("panel_id", panel_id)
        return self._commit(
            by, "stage_panel", {"panel_id": panel_id}, expected_version, **{**self._CLEARED, "kind": "panel", "panel_id": panel_id}
        )

    def set_document_page(
        self,
        document_id: str,
        page: int = 0,
        *,
        by: str,
        page_count: int | None = None,
        expected_version: int | None = None,
    ) -> tuple[StageState, TimelineEntry]:
        """Show ``page`` (0-based) of ``document_id``; ``page_count`` bounds it when known.

        Turning a page of the document already shown is ``stage_page``; showing another document is
        ``stage_document``. The pointer is hidden on every page change.
        """
        _check_id("document_id", document_id)
        if page_count is not None and (isinstance(page_count, bool) or not isinstance(page_count, int) or page_count < 1):
            raise StageError("page_count must be a positive integer")
        _check_page(page, page_count)
        same_doc = self._state.kind == "document" and self._state.document_id == document_id
        what = "stage_page" if same_doc else "stage_document"
        details: dict[str, Any] = {"document_id": document_id, "page": page}
        if same_doc:
            details["from_page"] = self._state.page
        return self._commit(
            by,
            what,
            details,
            expected_version,
            **{**self._CLEARED, "kind": "document", "document_id": document_id, "page": page},
        )

    def move_pointer(self, x: float | None, y: float | None = None, *, by: str) -> tuple[StageState, TimelineEntry]:
        """Point at (x, y) in 0..1 of what is shown; ``move_pointer(None, by=...)`` hides it.

        Ephemeral: the version, ``changed_by`` and ``changed_at`` stay as they are (pointer moves
        are broadcast as their own ``stage_pointer`` event, not as a ``stage`` change), so a
        pointer never conflicts with, nor causes a conflict for, a real stage change.
        """
        _check_id("by", by)
        if self._state.kind == "empty":
            raise StageError("nothing is on the stage to point at")
        if x is None and y is None:
            pointer = None
        else:
            pointer = (_check_coord("x", x), _check_coord("y", y))
        self._state = replace(self._state, pointer=pointer)
        entry = TimelineEntry(
            who=by,
            what="stage_pointer",
            when=self._clock(),
            details={"pointer": list(pointer) if pointer else None},
            room_id=self.room_id,
            version=self._state.version,
            ephemeral=True,
        )
        return replace(self._state), entry

    def show_participant(
        self, participant_id: str, source: str = "camera", *, by: str, expected_version: int | None = None
    ) -> tuple[StageState, TimelineEntry]:
        _check_id("participant_id", participant_id)
        if source not in SOURCES:
            raise StageError("source must be camera or screen")
        return self._commit(
            by,
            "stage_participant",
            {"participant_id": participant_id, "source": source},
            expected_version,
            **{**self._CLEARED, "kind": "participant", "participant_id": participant_id, "source": source},
        )

    def clear(self, *, by: str, expected_version: int | None = None) -> tuple[StageState, TimelineEntry]:
        return self._commit(by, "stage_clear", {"previous": self._state.kind}, expected_version, **{**self._CLEARED, "kind": "empty"})

    def lock_follow(self, locked: bool, *, by: str, expected_version: int | None = None) -> tuple[StageState, TimelineEntry]:
        if not isinstance(locked, bool):
            raise StageError("locked must be true or false")
        return self._commit(by, "stage_lock", {"locked": locked}, expected_version, locked_follow=locked)

    def participant_gone(
        self, participant_id: str, source: str | None = None, *, by: str
    ) -> tuple[StageState, TimelineEntry] | None:
        """Empty the stage if it shows ``participant_id`` (or only its ``source``, when given).

        For when that participant left (``source`` None) or stopped that share: a stage must not
        keep showing a video nobody sends. Returns None when the stage shows something else. The
        timeline entry is ``stage_clear`` with the reason (``left`` or ``screen_stopped``).
        """
        state = self._state
        if state.kind != "participant" or state.participant_id != participant_id:
            return None
        if source is not None and state.source != source:
            return None
        details = {
            "previous": "participant",
            "participant_id": participant_id,
            "source": state.source,
            "reason": "left" if source is None else f"{source}_stopped",
        }
        before = self._before_participant
        if before is not None and before.kind != "empty":
            # Back to what was shown before (the page the document was on), pointer hidden.
            what = "stage_panel" if before.kind == "panel" else "stage_document"
            restored = {"panel_id": before.panel_id} if before.kind == "panel" else \
                {"document_id": before.document_id, "page": before.page}
            return self._commit(by, what, {**details, **restored, "restored": True}, None,
                                **{**self._CLEARED, "kind": before.kind, **restored})
        return self._commit(by, "stage_clear", details, None, **{**self._CLEARED, "kind": "empty"})

    def forget(self, kind: str, item_id: str) -> None:
        """A panel or document was deleted: never go back to it."""
        before = self._before_participant
        if before is not None and before.kind == kind and item_id in (before.panel_id, before.document_id):
            self._before_participant = None
