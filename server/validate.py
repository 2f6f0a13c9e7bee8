"""Payload validation for Socket.IO events and HTTP bodies.

Small and strict: a field is read with its type and size limits, or a ``BadRequest`` names what is
wrong. Handlers never touch a raw payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class BadRequest(Exception):
    code = "bad_request"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


MAX_DEPTH = 32  # containers within containers in one payload


def payload(data: Any) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("payload must be a JSON object")
    if too_deep(data, MAX_DEPTH):
        raise BadRequest(f"payload is nested more than {MAX_DEPTH} deep")
    return data


def too_deep(value: Any, limit: int) -> bool:
    """Whether JSON-like ``value`` nests lists and objects more than ``limit`` deep (iteratively:
    a hostile payload must not exhaust the stack of whatever walks it later)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            items = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in items)
    return False


def string(data: dict, name: str, *, max_len: int, min_len: int = 0, required: bool = True,
           default: str = "") -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise BadRequest(f"'{name}' is required")
        return default
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    if required or value:
        value = value.strip() if name not in ("sdp", "token") else value
        if len(value) < min_len:
            raise BadRequest(f"'{name}' must have at least {min_len} characters")
    if len(value) > max_len:
        raise BadRequest(f"'{name}' is longer than {max_len} characters")
    if "\x00" in value:
        raise BadRequest(f"'{name}' contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"'{name}' is not valid Unicode text") from None
    return value


def integer(data: dict, name: str, *, minimum: int = 0, maximum: int = 2**53) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{name}' must be an integer")
    if not (minimum <= value <= maximum):
        raise BadRequest(f"'{name}' is out of range")
    return value


def time(data: dict, name: str, *, required: bool = False) -> datetime | None:
    """An ISO 8601 time with its offset (``2026-12-02T10:00:00+09:00`` or ``...Z``): an aware time."""
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise BadRequest(f"'{name}' must be an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{name}' must be an ISO 8601 time") from None
    if parsed.utcoffset() is None:
        raise BadRequest(f"'{name}' must give its offset from UTC (Z or +hh:mm)")
    return parsed


def boolean(data: dict, name: str, *, required: bool = True, default: bool = False) -> bool:
    value = data.get(name)
    if value is None and not required:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"'{name}' must be true or false")
    return value


def choice_map(data: dict, name: str, *, choices: frozenset[str], max_items: int,
               max_key_len: int = 32) -> dict[str, str]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > max_items:
        raise BadRequest(f"'{name}' must be an object with at most {max_items} entries")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > max_key_len:
            raise BadRequest(f"'{name}' has a bad key")
        if not isinstance(item, str) or item not in choices:
            raise BadRequest(f"'{name}.{key}' must be one of {', '.join(sorted(choices))}")
        result[key] = item
    return result
