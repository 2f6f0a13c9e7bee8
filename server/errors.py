"""The server's own refusals (rate limits, an unknown event, a connection that has not joined):
a protocol error code and a message, answered like a ``rooms.errors.DomainError``."""

from __future__ import annotations


class RequestError(Exception):
    """A refusal with a protocol error code."""

    def __init__(self, code: str, message: str, **details: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details  # more fields of the error object (``url`` of ``room_elsewhere``)
