"""Where panel data comes from, and the poller that keeps shown panels fresh.

- :class:`SimulatedSource` reads the :class:`~rooms.panels.feed.CityFeed` of the panel's city.
- :func:`parse_json` and :func:`parse_csv` turn what an HTTP source fetched into PanelData for the
  panel's kind. The fetching itself (``HttpSource``, with the :class:`~rooms.panels.urlpolicy.UrlPolicy`
  checks against SSRF) is network code and lives in ``server/panel_http.py``; :func:`make_source`
  and :class:`PanelRunner` take it as a factory.
- :class:`PanelRunner` runs one asyncio task per shown panel, keeps the latest data and error and
  calls ``on_update(panel_id, data, error)``.

This package knows nothing of HTTP: no aiohttp here.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol, runtime_checkable

from ..meeting import iso_utc
from .feed import CityFeed
from .spec import (
    KINDS,
    MAX_COLUMNS,
    PanelData,
    PanelError,
    PanelSpec,
    validate_options,
    validate_panel_data,
    validate_source,
)

__all__ = [
    "DataSource",
    "PanelRunner",
    "PanelStatus",
    "SimulatedSource",
    "SourceError",
    "make_source",
    "parse_csv",
    "parse_json",
]

log = logging.getLogger(__name__)

TIME_COLUMNS = ("t", "time", "timestamp")


class SourceError(Exception):
    """A source could not deliver data (HTTP error, timeout, oversize, malformed data...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@runtime_checkable
class DataSource(Protocol):
    interval_s: float

    async def fetch(self) -> PanelData: ...


class SimulatedSource:
    """PanelData from the simulated city feed."""

    def __init__(
        self,
        feed: CityFeed,
        feed_name: str,
        kind: str,
        *,
        interval_s: float = 5.0,
        options: dict[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise PanelError(f"kind must be one of {', '.join(KINDS)}")
        validate_source({"type": "simulated", "feed": feed_name})
        self.feed = feed
        self.feed_name = feed_name
        self.kind = kind
        self.interval_s = float(interval_s)
        self.options = validate_options(options)

    async def fetch(self) -> PanelData:
        try:
            return self.feed.snapshot(self.feed_name, self.kind, self.options)
        except PanelError as e:  # bad options
            raise SourceError(e.message) from None


# --------------------------------------------------------------------------------------------
# Parsing (pure functions: bytes/text in, PanelData out)

_INT = re.compile(r"^[+-]?\d{1,18}$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _coerce(cell: str) -> Any:
    s = cell.strip()
    if s == "":
        return None
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        v = float(s)
        return v if math.isfinite(v) else None
    return s


def _number(v: Any) -> float | int | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return v if math.isfinite(v) else None
    if isinstance(v, str):
        c = _coerce(v)
        return c if isinstance(c, (int, float)) else None
    return None


def _check(kind: str, data: Any) -> PanelData:
    try:
        return validate_panel_data(kind, data)
    except PanelError as e:
        raise SourceError(e.message) from None


def _records_to_panel(records: list[Any], kind: str) -> PanelData:
    if not all(isinstance(r, dict) for r in records):
        raise SourceError("expected a list of objects (records)")
    columns: list[str] = []
    seen: set[str] = set()
    for r in records:
        for k in r:
            if k not in seen:
                if len(columns) >= MAX_COLUMNS:
                    raise SourceError(f"records have more than {MAX_COLUMNS} fields")
                seen.add(k)
                columns.append(str(k))
    if kind == "table":
        if not columns:
            raise SourceError("records have no fields")
        return _check("table", {"columns": columns, "rows": [[r.get(c) for c in columns] for r in records]})
    if kind == "timeseries":
        tcol = next((c for c in columns if c.lower() in TIME_COLUMNS), None)
        if tcol is None:
            raise SourceError("no time column (t, time or timestamp)")
        series = {c: [_number(r.get(c)) for r in records] for c in columns if c != tcol}
        # Keep the columns that hold numbers at all.
        series = {c: v for c, v in series.items() if any(x is not None for x in v)}
        if not series:
            raise SourceError("no numeric columns besides the time column")
        return _check("timeseries", {"t": [str(r.get(tcol, "")) for r in records], "series": series, "unit": ""})
    if kind == "kpi":
        lower = {c.lower(): c for c in columns}
        if "label" not in lower or "value" not in lower:
            raise SourceError('kpi records need "label" and "value" fields')
        tiles = []
        for r in records:
            tile = {k: r.get(lower[k]) for k in ("label", "value", "unit", "trend", "status") if k in lower}
            tile["value"] = _number(tile["value"]) if _number(tile["value"]) is not None else tile["value"]
            tiles.append(tile)
        return _check("kpi", {"tiles": tiles})
    raise SourceError(f"unknown kind {kind!r}")


def _follow(obj: Any, path: str | None) -> Any:
    if not path:
        return obj
    for seg in path.split("."):
        if isinstance(obj, dict) and seg in obj:
            obj = obj[seg]
        elif isinstance(obj, list) and seg.isdigit() and int(seg) < len(obj):
            obj = obj[int(seg)]
        else:
            raise SourceError(f'path "{path}" not found in the response')
    return obj


def parse_json(body: bytes | str, kind: str, path: str | None = None) -> PanelData:
    """JSON → PanelData: already in PanelData shape, a list of records, or (kpi) ``{label: number}``."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        log.info("panel source: invalid JSON: %s", str(e)[:200])
        raise SourceError("response is not valid JSON") from None
    obj = _follow(obj, path)
    if isinstance(obj, list):
        return _records_to_panel(obj, kind)
    if isinstance(obj, dict):
        marker = {"timeseries": "series", "kpi": "tiles", "table": "rows"}.get(kind)
        if marker in obj:
            return _check(kind, obj)
        if kind == "kpi" and obj and all(_number(v) is not None for v in obj.values()):
            return _check("kpi", {"tiles": [{"label": k, "value": _number(v)} for k, v in obj.items()]})
    raise SourceError(f"JSON is not {kind} data (expected PanelData or a list of records)")


def parse_csv(text: str, kind: str) -> PanelData:
    """CSV with a header row → table; → timeseries if a column is named t, time or timestamp."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        log.info("panel source: invalid CSV: %s", str(e)[:200])
        raise SourceError("response is not valid CSV") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise SourceError("CSV is empty")
    header = [h.strip() for h in rows[0]]
    if not all(header) or len(set(header)) != len(header):
        raise SourceError("CSV header must name every column once")
    if len(header) > MAX_COLUMNS:
        raise SourceError(f"CSV has more than {MAX_COLUMNS} columns")
    body = rows[1:]
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise SourceError(f"CSV line {i} has {len(r)} fields, the header has {len(header)}")
    if kind == "table":
        return _check("table", {"columns": header, "rows": [[_coerce(c) for c in r] for r in body]})
    return _records_to_panel([{h: _coerce(c) for h, c in zip(header, r)} for r in body], kind)


def make_source(spec: PanelSpec, feed: CityFeed | None = None,
                http_source: Callable[[PanelSpec], DataSource] | None = None) -> DataSource:
    """The DataSource a :class:`PanelSpec` describes. A simulated source reads the feed of the
    panel's city (``feed.for_city``: ``feed`` itself if it plays that city, else its shared sibling).
    HTTP sources come from ``http_source``, which the server provides (``server.panel_http``): this
    package does no networking."""
    src = spec.source
    if src["type"] == "simulated":
        if feed is None:
            raise PanelError("a simulated panel needs a CityFeed")
        return SimulatedSource(feed.for_city(src.get("city")), src["feed"], spec.kind,
                               interval_s=spec.interval_s, options=spec.options)
    if http_source is None:
        raise PanelError("HTTP panels are not available here")
    return http_source(spec)


# --------------------------------------------------------------------------------------------
# The poller

OnUpdate = Callable[[str, "PanelData | None", "str | None"], Awaitable[None]]


@dataclass
class PanelStatus:
    panel_id: str
    data: PanelData | None = None  # latest good data
    error: str | None = None  # error of the latest attempt, None if it succeeded
    updated_at: datetime | None = None  # latest attempt
    ok_at: datetime | None = None  # latest success

    def to_dict(self) -> dict[str, Any]:
        return {
            "panel_id": self.panel_id,
            "data": self.data,
            "error": self.error,
            "updated_at": iso_utc(self.updated_at) if self.updated_at else None,
            "ok_at": iso_utc(self.ok_at) if self.ok_at else None,
        }


class PanelRunner:
    """One polling task per shown panel.

    ``on_update(panel_id, data, error)`` is awaited after every attempt that changed something
    (new data, or a different error; ``notify_unchanged=True`` calls it after every attempt): on
    success ``error`` is None and ``data`` is fresh; on failure ``error`` is a message and ``data``
    is the last good data (or None). Failures back off (interval × 2^n, capped at ``max_backoff_s``); a failing source,
    a raising callback or a hanging one never stops the task or other panels.
    """

    def __init__(
        self,
        on_update: OnUpdate,
        *,
        feed: CityFeed | None = None,
        source_factory: Callable[[PanelSpec], DataSource] | None = None,
        max_panels: int = 32,
        min_interval_s: float = 1.0,
        max_backoff_s: float = 300.0,
        fetch_timeout_s: float = 30.0,
        callback_timeout_s: float = 10.0,
        notify_unchanged: bool = False,
        http_source: Callable[[PanelSpec], DataSource] | None = None,
    ) -> None:
        self._on_update = on_update
        self._http_source = http_source
        self._feed = feed
        self._factory = source_factory
        self.max_panels = max_panels
        self.min_interval_s = min_interval_s
        self.max_backoff_s = max_backoff_s
        self.fetch_timeout_s = fetch_timeout_s
        self.callback_timeout_s = callback_timeout_s
        self.notify_unchanged = notify_unchanged
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sources: dict[str, DataSource] = {}
        self._status: dict[str, PanelStatus] = {}

    @property
    def feed(self) -> CityFeed:
        """The simulated world's feed; each panel reads its own city's (``CityFeed.for_city``)."""
        if self._feed is None:
            self._feed = CityFeed()
        return self._feed

    def running(self) -> list[str]:
        return [pid for pid, t in self._tasks.items() if not t.done()]

    def __contains__(self, panel_id: object) -> bool:
        return panel_id in self._tasks

    def latest(self, panel_id: str) -> PanelStatus | None:
        """The latest data and error of a running panel (for late joiners), or None."""
        return self._status.get(panel_id)

    async def start(self, panel: PanelSpec, source: DataSource | None = None) -> None:
        """Start polling ``panel`` (restart it if it is already running)."""
        if panel.id in self._tasks:
            await self.stop(panel.id)
        if len(self._tasks) >= self.max_panels:
            raise PanelError(f"at most {self.max_panels} live panels at a time", code="too_many_panels")
        if source is None:
            source = self._factory(panel) if self._factory else make_source(panel, self.feed, self._http_source)
        interval = max(float(getattr(source, "interval_s", panel.interval_s)), self.min_interval_s)
        self._sources[panel.id] = source
        self._status[panel.id] = PanelStatus(panel.id)
        self._tasks[panel.id] = asyncio.create_task(self._run(panel.id, source, interval), name=f"panel:{panel.id}")

    async def stop(self, panel_id: str) -> bool:
        """Stop polling; forget its data. False if it was not running."""
        task = self._tasks.pop(panel_id, None)
        source = self._sources.pop(panel_id, None)
        self._status.pop(panel_id, None)
        if task is None:
            return False
        task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.gather(task, return_exceptions=True)), timeout=10)
        except asyncio.TimeoutError:  # pragma: no cover - a source ignoring cancellation
            log.warning("panel %s did not stop within 10 s", panel_id)
        close = getattr(source, "aclose", None)
        if close is not None:
            try:
                await asyncio.wait_for(close(), timeout=5)
            except Exception:  # noqa: BLE001
                log.exception("closing the source of panel %s", panel_id)
        return True

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(pid) for pid in list(self._tasks)))

    async def _run(self, panel_id: str, source: DataSource, interval: float) -> None:
        failures = 0
        while True:
            data: PanelData | None = None
            error: str | None = None
            try:
                data = await asyncio.wait_for(source.fetch(), timeout=self.fetch_timeout_s)
                if not isinstance(data, dict):
                    raise SourceError("source returned no data")
            except asyncio.CancelledError:
                raise
            except SourceError as e:
                error = e.message
            except asyncio.TimeoutError:
                error = f"no data within {self.fetch_timeout_s:g} s"
            except Exception as e:  # noqa: BLE001 - a bug in a source must not kill the poller
                log.exception("panel %s: source failed", panel_id)
                error = f"source failed ({type(e).__name__})"
            status = self._status.get(panel_id)
            if status is None:  # stopped meanwhile
                return
            now = datetime.now(timezone.utc)
            first = status.updated_at is None
            changed = error != status.error or (error is None and data != status.data)
            status.updated_at = now
            status.error = error
            if error is None:
                status.data, status.ok_at = data, now
                failures = 0
            else:
                failures += 1
            if first or changed or self.notify_unchanged:
                try:
                    await asyncio.wait_for(
                        self._on_update(panel_id, status.data, error), timeout=self.callback_timeout_s
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001
                    log.exception("panel %s: on_update failed", panel_id)
            delay = interval if failures <= 1 else min(interval * 2 ** (failures - 1), max(interval, self.max_backoff_s))
            await asyncio.sleep(delay)
