"""Domain errors. The server turns any :class:`DomainError` into a protocol error by its ``code`` and
``message`` (see docs/protocol.md, "Error codes"); nothing here knows about HTTP or Socket.IO."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a protocol error code (``bad_request``, ``invalid_token``, ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class TokenError(DomainError):
    """The invite token is forged, malformed, expired, revoked or for another room."""

    def __init__(self, code: str = "invalid_token", message: str = "invalid invite token"):
        super().__init__(code, message)


class NotYetOpen(DomainError):
    """The invite opens later (its ``not_before``) and no host has opened the meeting yet. The
    refusal carries the planned start and the opening time (ISO 8601 UTC) for a waiting page."""

    def __init__(self, starts_at: str | None, opens_at: str):
        super().__init__("not_yet_open", f"this meeting opens at {opens_at}"
                         + (f" (it starts at {starts_at})" if starts_at else "") + ", or when a host opens it")
        self.details = {"starts_at": starts_at, "opens_at": opens_at}

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), **self.details}


class RoomNotFound(DomainError):
    """The room does not exist (or was deleted)."""

    def __init__(self, message: str = "room not found"):
        super().__init__("room_not_found", message)


class ValidationError(DomainError):
    """A value is missing, of the wrong shape or out of bounds."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__("bad_request", message)
        self.field = field


class Forbidden(DomainError):
    """The participant's role does not grant this action."""

    def __init__(self, message: str = "your role does not allow this"):
        super().__init__("forbidden", message)


class NotJoined(DomainError):
    """The participant is not (or no longer) in the live meeting."""

    def __init__(self, message: str = "join the meeting first"):
        super().__init__("not_joined", message)
