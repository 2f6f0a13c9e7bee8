"""Invite tokens: ``v1.<base64url(json claims)>.<base64url(HMAC-SHA256)>``.

The MAC covers ``"v1." + payload`` exactly as sent, so neither the version nor any claim (the role
above all) can be changed without the secret. Claims::

    {"room": str, "role": str, "inv": str, "exp": int unix seconds | null}

Verifying proves only that this server issued the token and that it has not expired; revocation
and the room's existence are checked against the database by ``RoomService.verify_token``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

from .errors import TokenError

VERSION = "v1"
MAX_TOKEN_LENGTH = 4096
_MAC_LENGTH = hashlib.sha256().digest_size

__all__ = ["MAX_TOKEN_LENGTH", "TokenError", "VERSION", "sign", "verify"]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict, canonical unpadded base64url; raises ValueError otherwise."""
    if not text or "=" in text:
        raise ValueError("empty or padded")
    data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64encode(data) != text:  # non-zero trailing bits: another spelling of the same bytes
        raise ValueError("non-canonical base64")
    return data


def _mac(signing_input: str, secret: bytes) -> bytes:
    return hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, (bytes, bytearray)) or not secret:
        raise ValueError("the token secret must be non-empty bytes")


def sign(claims: dict[str, Any], secret: bytes) -> str:
    """Sign ``claims`` (a JSON-serialisable dict) with ``secret``."""
    _check_secret(secret)
    if not isinstance(claims, dict):
        raise TypeError("claims must be a dict")
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    signing_input = f"{VERSION}.{_b64encode(payload.encode('ascii'))}"
    return f"{signing_input}.{_b64encode(_mac(signing_input, secret))}"


def _unix(now: float | int | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.timestamp()
    return float(now)


def verify(token: str, secret: bytes, now: float | int | datetime | None = None) -> dict[str, Any]:
    """Return the claims of a genuine, unexpired token; raise :class:`TokenError` otherwise.

    ``now`` (unix seconds or an aware datetime) defaults to the current time.
    """
    _check_secret(secret)
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("invalid_token", "malformed invite token")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("invalid_token", "malformed invite token")
    version, payload_b64, mac_b64 = parts
    if version != VERSION:
        raise TokenError("invalid_token", "unsupported invite token version")
    try:
        mac = _b64decode(mac_b64)
        signing_input = f"{version}.{payload_b64}"
        signing_input.encode("ascii")
    except (ValueError, binascii.Error, UnicodeError):
        raise TokenError("invalid_token", "malformed invite token") from None
    if len(mac) != _MAC_LENGTH or not hmac.compare_digest(mac, _mac(signing_input, secret)):
        raise TokenError("invalid_token", "invite token signature does not match")
    # Only a payload this server signed is ever parsed.
    try:
        claims = json.loads(_b64decode(payload_b64))
    except (ValueError, binascii.Error, UnicodeError):
        raise TokenError("invalid_token", "malformed invite token") from None
    _check_claims(claims)
    exp = claims["exp"]
    if exp is not None and _unix(now) >= exp:
        raise TokenError("invalid_token", "invite token has expired")
    return claims


def _check_claims(claims: Any) -> None:
    if not isinstance(claims, dict):
        raise TokenError("invalid_token", "malformed invite token claims")
    for key in ("room", "role", "inv"):
        value = claims.get(key)
        if not isinstance(value, str) or not value:
            raise TokenError("invalid_token", f"invite token claim {key!r} is missing")
    exp = claims.get("exp", None)
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, (int, float))):
        raise TokenError("invalid_token", "invite token claim 'exp' is malformed")
    claims.setdefault("exp", None)
