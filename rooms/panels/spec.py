"""Panel definitions (what a live dashboard panel shows and where its data comes from) and the
shape of the data a panel carries to the clients (``PanelData``).

A :class:`PanelSpec` is a plain dataclass with ``to_dict()``/``from_dict()`` so that it can be stored
as JSON. Every constructor path validates; invalid input raises :class:`PanelError` (a ValueError)
with ``code == "bad_request"``.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import DomainError
from .cities import CITIES, DEFAULT_CITY

__all__ = [
    "FEEDS",
    "KINDS",
    "MAX_OPTIONS_BYTES",
    "PanelData",
    "PanelError",
    "PanelSpec",
    "validate_panel_data",
]

PanelData = dict[str, Any]
"""JSON-ready panel payload. By kind:

- ``timeseries``: ``{"t": [iso8601, ...], "series": {name: [number | None, ...]}, "unit": str}``
  (every series as long as ``t``)
- ``kpi``: ``{"tiles": [{"label", "value", "unit", "trend": "up"|"down"|"flat",
  "status": "good"|"moderate"|"bad"}]}``
- ``table``: ``{"columns": [str, ...], "rows": [[scalar, ...], ...]}`` (every row as long as columns)
"""

KINDS = ("timeseries", "kpi", "table")
FEEDS = ("air_quality", "traffic", "incidents")
FORMATS = ("json", "csv")
TRENDS = ("up", "down", "flat")
STATUSES = ("good", "moderate", "bad")

MAX_TITLE = 80
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 3600.0
DEFAULT_HTTP_INTERVAL_S = 30.0
DEFAULT_SIMULATED_INTERVAL_S = 5.0
MAX_URL = 2048
MAX_PATH = 200
MAX_OPTIONS_BYTES = 8 * 1024
MAX_ID = 64  # room ids
MAX_PANEL_ID = 32  # the panels table's id column


class PanelError(DomainError, ValueError):
    """Invalid panel definition or request. ``code`` is ``"bad_request"`` unless stated."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(code, message)


def _check_id(name: str, value: Any, limit: int = MAX_ID) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise PanelError(f"{name} must be a non-empty string of at most {limit} characters")
    return value


def _check_interval(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PanelError("source.interval_s must be a number")
    v = float(value)
    if not math.isfinite(v) or not (MIN_INTERVAL_S <= v <= MAX_INTERVAL_S):
        raise PanelError(f"source.interval_s must be between {MIN_INTERVAL_S:g} and {MAX_INTERVAL_S:g} seconds")
    return v


def validate_source(source: Any) -> dict[str, Any]:
    """Validate and normalise a panel's ``source``; returns a new dict with defaults filled in."""
    if not isinstance(source, dict):
        raise PanelError("source must be an object")
    typ = source.get("type")
    if typ == "simulated":
        extra = set(source) - {"type", "feed", "city", "interval_s"}
        if extra:
            raise PanelError(f"unknown source fields: {', '.join(sorted(extra))}")
        feed = source.get("feed")
        if feed not in FEEDS:
            raise PanelError(f"source.feed must be one of {', '.join(FEEDS)}")
        city = source.get("city", DEFAULT_CITY)  # sources stored before cities existed are Seoul's
        if not isinstance(city, str) or city not in CITIES:
            shown = repr(city)[:40]
            raise PanelError(f"source.city {shown} is not a built-in city; choose one of {', '.join(CITIES)}")
        out: dict[str, Any] = {"type": "simulated", "feed": feed, "city": city}
        if "interval_s" in source:
            out["interval_s"] = _check_interval(source["interval_s"])
        return out
    if typ == "http":
        extra = set(source) - {"type", "url", "format", "interval_s", "path"}
        if extra:
            raise PanelError(f"unknown source fields: {', '.join(sorted(extra))}")
        url = source.get("url")
        if not isinstance(url, str) or not url or len(url) > MAX_URL:
            raise PanelError(f"source.url must be a URL of at most {MAX_URL} characters")
        if any(ch.isspace() or not ch.isprintable() for ch in url):
            raise PanelError("source.url must not contain spaces or control characters")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise PanelError("source.url is not a valid URL") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise PanelError("source.url must be an http or https URL")
        if not parts.hostname:
            raise PanelError("source.url has no host")
        if parts.username or parts.password:
            raise PanelError("source.url must not carry credentials")
        fmt = source.get("format", "json")
        if fmt not in FORMATS:
            raise PanelError("source.format must be json or csv")
        out = {
            "type": "http",
            "url": url,
            "format": fmt,
            "interval_s": _check_interval(source.get("interval_s", DEFAULT_HTTP_INTERVAL_S)),
        }
        path = source.get("path")
        if path is not None:
            if fmt != "json":
                raise PanelError("source.path applies to json sources only")
            if not isinstance(path, str) or not path or len(path) > MAX_PATH:
                raise PanelError(f"source.path must be a dotted path of at most {MAX_PATH} characters")
            if any(not seg for seg in path.split(".")):
                raise PanelError("source.path must look like data.items")
            out["path"] = path
        return out
    raise PanelError("source.type must be simulated or http")


def validate_options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise PanelError("options must be an object")
    try:
        encoded = json.dumps(options, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        raise PanelError("options must be plain JSON") from None
    if len(encoded.encode("utf-8")) > MAX_OPTIONS_BYTES:
        raise PanelError(f"options must be at most {MAX_OPTIONS_BYTES} bytes as JSON")
    return json.loads(encoded)  # a deep copy the caller cannot mutate behind our back


@dataclass
class PanelSpec:
    id: str
    room_id: str
    title: str
    kind: str  # "timeseries" | "kpi" | "table"
    source: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_id("id", self.id, MAX_PANEL_ID)
        _check_id("room_id", self.room_id)
        if not isinstance(self.title, str):
            raise PanelError("title must be a string")
        title = " ".join(self.title.split())
        if not (1 <= len(title) <= MAX_TITLE) or not title.isprintable():
            raise PanelError(f"title must be 1 to {MAX_TITLE} printable characters")
        self.title = title
        if self.kind not in KINDS:
            raise PanelError(f"kind must be one of {', '.join(KINDS)}")
        self.source = validate_source(self.source)
        self.options = validate_options(self.options)

    @classmethod
    def new(
        cls,
        room_id: str,
        title: str,
        kind: str,
        source: dict[str, Any],
        options: dict[str, Any] | None = None,
    ) -> "PanelSpec":
        """A new panel with a fresh random id."""
        return cls(id=uuid.uuid4().hex, room_id=room_id, title=title, kind=kind, source=source, options=options or {})

    @property
    def interval_s(self) -> float:
        """Polling interval: the source's, else 5 s for simulated feeds (the feed's own step)."""
        default = DEFAULT_SIMULATED_INTERVAL_S if self.source["type"] == "simulated" else DEFAULT_HTTP_INTERVAL_S
        return float(self.source.get("interval_s", default))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room_id": self.room_id,
            "title": self.title,
            "kind": self.kind,
            "source": dict(self.source),
            "options": json.loads(json.dumps(self.options)),
        }

    @classmethod
    def from_dict(cls, d: Any) -> "PanelSpec":
        if not isinstance(d, dict):
            raise PanelError("panel must be an object")
        extra = set(d) - {"id", "room_id", "title", "kind", "source", "options"}
        if extra:
            raise PanelError(f"unknown panel fields: {', '.join(sorted(extra))}")
        missing = {"id", "room_id", "title", "kind", "source"} - set(d)
        if missing:
            raise PanelError(f"missing panel fields: {', '.join(sorted(missing))}")
        return cls(
            id=d["id"],
            room_id=d["room_id"],
            title=d["title"],
            kind=d["kind"],
            source=d["source"],
            options=d.get("options") or {},
        )


# --------------------------------------------------------------------------------------------
# PanelData shape checks (used for data that comes from outside, e.g. an HTTP source)

MAX_ROWS = 1000
MAX_COLUMNS = 50
MAX_POINTS = 1000
MAX_SERIES = 50
MAX_TILES = 50
MAX_CELL_CHARS = 500


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, bool) or _is_number(v):
        return v
    if isinstance(v, float):  # NaN / inf
        return None
    if isinstance(v, str):
        return v[:MAX_CELL_CHARS]
    return json.dumps(v, ensure_ascii=False, default=str)[:MAX_CELL_CHARS]


def validate_panel_data(kind: str, data: Any) -> PanelData:
    """Check ``data`` against the documented shape for ``kind`` and return a clean copy.

    Raises :class:`PanelError` (code ``"bad_data"``) if the shape is wrong. Over-long tables and
    series are cut (newest points are kept); cells are cut to a sane length.
    """
    def bad(msg: str) -> PanelError:
        return PanelError(f"{kind} data: {msg}", code="bad_data")

    if not isinstance(data, dict):
        raise bad("must be an object")
    if kind == "timeseries":
        t, series = data.get("t"), data.get("series")
        if not isinstance(t, list) or not isinstance(series, dict):
            raise bad('needs "t" (list) and "series" (object)')
        if len(series) > MAX_SERIES:
            raise bad(f"at most {MAX_SERIES} series")
        out_series: dict[str, list[Any]] = {}
        for name, values in series.items():
            if not isinstance(values, list) or len(values) != len(t):
                raise bad(f'series "{name}" must be a list as long as "t"')
            if any(v is not None and not _is_number(v) for v in values):
                raise bad(f'series "{name}" must hold numbers or null')
            out_series[str(name)[:MAX_CELL_CHARS]] = values[-MAX_POINTS:]
        unit = data.get("unit", "")
        return {
            "t": [str(x)[:64] for x in t[-MAX_POINTS:]],
            "series": out_series,
            "unit": str(unit if unit is not None else "")[:32],
        }
    if kind == "kpi":
        tiles = data.get("tiles")
        if not isinstance(tiles, list):
            raise bad('needs "tiles" (list)')
        out_tiles = []
        for tile in tiles[:MAX_TILES]:
            if not isinstance(tile, dict) or "label" not in tile or "value" not in tile:
                raise bad('every tile needs "label" and "value"')
            trend = tile.get("trend", "flat")
            status = tile.get("status")
            out_tiles.append(
                {
                    "label": str(tile["label"])[:MAX_CELL_CHARS],
                    "value": _scalar(tile["value"]),
                    "unit": str(tile.get("unit") or "")[:32],
                    "trend": trend if trend in TRENDS else "flat",
                    "status": status if status in STATUSES else None,
                }
            )
        return {"tiles": out_tiles}
    if kind == "table":
        columns, rows = data.get("columns"), data.get("rows")
        if not isinstance(columns, list) or not isinstance(rows, list):
            raise bad('needs "columns" (list) and "rows" (list)')
        if not columns or len(columns) > MAX_COLUMNS:
            raise bad(f"needs 1 to {MAX_COLUMNS} columns")
        out_rows = []
        for row in rows[:MAX_ROWS]:
            if not isinstance(row, list) or len(row) != len(columns):
                raise bad("every row must be a list as long as columns")
            out_rows.append([_scalar(v) for v in row])
        return {"columns": [str(c)[:MAX_CELL_CHARS] for c in columns], "rows": out_rows}
    raise PanelError(f"unknown kind {kind!r}")
