"""The control channel between the server and a media worker: length-prefixed JSON over a Unix socket.

A frame is a 4-byte big-endian length, then that many bytes of UTF-8 JSON holding one object:

- a request ``{"id": int, "method": str, "params": {...}}``;
- its reply ``{"id": int, "ok": true, "result": ...}`` or
  ``{"id": int, "ok": false, "error": {"type": "SdpError" | "StaleRevision" | "Error", "message": str}}``;
- an event ``{"event": str, ...}`` (no reply).

Only control messages travel here (SDP, pauses, router events, load reports): packets never leave
the worker. Both ends use :class:`Channel`, an ``asyncio.Protocol`` on the socket: frames are
decoded in ``data_received`` and dispatched at once, with no reader task. Every request has a
timeout; when the connection ends (the other process died: EOF), every pending request fails
at once with :class:`WorkerLost`. A malformed frame cannot be skipped (the framing is lost), so it
closes the channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from typing import Any, Awaitable, Callable, Optional

from .errors import SdpError, StaleRevision
from .service import WorkerError, WorkerLost, WorkerTimeout

logger = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024  # far above any SDP; a longer length means the stream is corrupt
REQUEST_TIMEOUT = 10.0

RequestHandler = Callable[[str, dict], Awaitable[Any]]
EventHandler = Callable[[dict], None]


class FrameError(ValueError):
    """A frame that is not a length-prefixed JSON object (the stream cannot be resynchronised)."""


def encode(message: dict) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Bytes in, whole messages out; a frame may arrive split across any number of reads."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._broken: Optional[str] = None

    def feed(self, data: bytes) -> list[dict]:
        if self._broken is not None:
            raise FrameError(self._broken)
        self._buffer += data
        messages = []
        buffer = self._buffer
        offset = 0
        try:
            while len(buffer) - offset >= 4:
                (length,) = HEADER.unpack_from(buffer, offset)
                if length > self.max_frame:
                    raise FrameError(f"frame length {length} exceeds {self.max_frame}")
                end = offset + 4 + length
                if len(buffer) < end:
                    break
                try:
                    message = json.loads(bytes(buffer[offset + 4:end]).decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise FrameError(f"frame is not UTF-8 JSON: {exc}") from None
                if not isinstance(message, dict):
                    raise FrameError(f"frame holds a {type(message).__name__}, not an object")
                messages.append(message)
                offset = end
        except FrameError as exc:
            self._broken = str(exc)
            raise
        finally:
            del buffer[:offset]
        return messages

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)


def read_frame_blocking(sock: socket.socket, decoder: FrameDecoder, timeout: Optional[float]) -> dict:
    """The first message on a blocking socket (a worker's start-up parameters); whatever follows
    it stays in ``decoder`` (hand the decoder to :meth:`Channel.open`). Raises EOFError."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                raise EOFError("channel closed before the first frame")
            messages = decoder.feed(data)
            if messages:
                first, rest = messages[0], messages[1:]
                if rest:  # put them back: re-encode in front of what is still buffered
                    decoder._buffer[:0] = b"".join(encode(m) for m in rest)
                return first
    finally:
        sock.settimeout(None)


def error_reply(exc: BaseException) -> dict:
    if isinstance(exc, SdpError):
        kind = "SdpError"
    elif isinstance(exc, StaleRevision):
        kind = "StaleRevision"
    else:
        kind = "Error"
    message = str(exc) if kind != "Error" else f"{type(exc).__name__}: {exc}"
    return {"type": kind, "message": message}


def error_from_reply(error: Any, method: str) -> Exception:
    if not isinstance(error, dict):
        return WorkerError(f"{method}: malformed error {error!r}")
    kind, message = error.get("type"), str(error.get("message", ""))
    if kind == "SdpError":
        return SdpError(message)
    if kind == "StaleRevision":
        return StaleRevision(message)
    return WorkerError(f"{method}: {message}")


class Channel(asyncio.Protocol):
    """One end of the control channel.

    ``on_request(method, params)`` (async) answers requests from the other end (its exceptions
    become error replies); ``on_event(message)`` is called for each event; ``on_close(exc)``
    once, when the connection ends or the channel is closed."""

    def __init__(self, on_request: Optional[RequestHandler] = None, on_event: Optional[EventHandler] = None,
                 on_close: Optional[Callable[[Optional[BaseException]], None]] = None, name: str = "channel",
                 decoder: Optional[FrameDecoder] = None) -> None:
        self.name = name
        self.on_request = on_request
        self.on_event = on_event
        self.on_close = on_close
        self._decoder = decoder or FrameDecoder()
        self._transport: Optional[asyncio.Transport] = None
        self._pending: dict[int, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self._next_id = 1
        self.closed = False
        self.close_reason: Optional[str] = None

    @classmethod
    async def open(cls, sock: socket.socket, **kwargs) -> "Channel":
        """A channel on a connected Unix stream socket (taken over: closing the channel closes it)."""
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        _, channel = await loop.create_unix_connection(lambda: cls(**kwargs), sock=sock)
        return channel

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self._transport = transport
        if self._decoder.pending:  # bytes read before the channel opened (read_frame_blocking)
            self.data_received(b"")

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._decoder.feed(data)
        except FrameError as exc:
            logger.error("%s: malformed frame, closing: %s", self.name, exc)
            self.close(f"malformed frame: {exc}")
            return
        for message in messages:
            if self.closed:
                return
            try:
                self._dispatch(message)
            except Exception:
                logger.exception("%s: handling %.200r failed", self.name, message)

    def eof_received(self):
        return False  # close the transport: the other end is gone

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._transport = None
        self._shut(self.close_reason or ("connection lost" if exc is None else f"connection lost: {exc}"), exc)

    # sending

    def send(self, message: dict) -> bool:
        """Write one message; False if the channel is closed."""
        if self.closed or self._transport is None or self._transport.is_closing():
            return False
        self._transport.write(encode(message))
        return True

    def send_event(self, event: str, **fields) -> bool:
        fields["event"] = event
        return self.send(fields)

    async def request(self, method: str, params: Optional[dict] = None, timeout: float = REQUEST_TIMEOUT) -> Any:
        """Send a request and wait for its reply: its result, or the error it carries raised
        (SdpError, StaleRevision, WorkerError); WorkerTimeout after ``timeout`` seconds,
        WorkerLost if the channel is or becomes closed."""
        if self.closed:
            raise WorkerLost(f"{self.name}: {self.close_reason or 'closed'}")
        request_id = self._next_id
        self._next_id += 1
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            if not self.send({"id": request_id, "method": method, "params": params or {}}):
                raise WorkerLost(f"{self.name}: {self.close_reason or 'closed'}")
            try:
                reply = await asyncio.wait_for(asyncio.shield(future), timeout)
            except asyncio.TimeoutError:
                raise WorkerTimeout(f"{self.name}: no answer to {method} within {timeout:g} s") from None
        finally:
            self._pending.pop(request_id, None)
        if reply.get("ok"):
            return reply.get("result")
        raise error_from_reply(reply.get("error"), method)

    # receiving

    def _dispatch(self, message: dict) -> None:
        if "event" in message:
            if self.on_event is not None:
                self.on_event(message)
            return
        request_id = message.get("id")
        if "method" in message:
            task = asyncio.ensure_future(self._answer(request_id, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        future = self._pending.get(request_id)
        if future is not None and not future.done():
            future.set_result(message)

    async def _answer(self, request_id, message: dict) -> None:
        method = message.get("method")
        params = message.get("params")
        try:
            if self.on_request is None:
                raise WorkerError("this end takes no requests")
            if not isinstance(method, str) or not isinstance(params, dict):
                raise WorkerError("a request needs a method name and a params object")
            result = await self.on_request(method, params)
            reply = {"id": request_id, "ok": True, "result": result}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, (SdpError, StaleRevision, WorkerError)):
                logger.exception("%s: %s failed", self.name, method)
            reply = {"id": request_id, "ok": False, "error": error_reply(exc)}
        try:
            self.send(reply)
        except FrameError as exc:  # a result too large for a frame
            self.send({"id": request_id, "ok": False, "error": error_reply(WorkerError(str(exc)))})

    # closing

    def close(self, reason: str = "closed") -> None:
        """Close the connection; pending requests fail with WorkerLost."""
        if self.close_reason is None:
            self.close_reason = reason
        transport = self._transport
        if transport is not None:
            transport.close()  # connection_lost follows (on the next loop iteration)
        self._shut(reason, None)

    def _shut(self, reason: str, exc: Optional[BaseException]) -> None:
        if self.closed:
            return
        self.closed = True
        if self.close_reason is None:
            self.close_reason = reason
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerLost(f"{self.name}: {reason}"))
                future.exception()  # retrieved: no "never retrieved" warning if nobody awaits it
        for task in list(self._tasks):
            task.cancel()
        if self.on_close is not None:
            try:
                self.on_close(exc)
            except Exception:
                logger.exception("%s: close hook failed", self.name)
