"""Accepting TCP connections: Sitroom's own accept loop, in place of asyncio's ``create_server``.

Two reasons (issue "survive": 248 idle sockets under ``ulimit -n 256`` made ``/healthz`` and every
join fail, and the accept loop wrote 46,204 tracebacks in 14 s):

- Out of file descriptors, CPython 3.11's selector loop (``_accept_connection``) hands EMFILE to
  the loop's exception handler (a traceback) and schedules a retry in 1 s, and then goes on with
  the rest of its accept batch (``backlog`` = 128 tries), each one another traceback and another
  retry, each retry another 128 of them: 13,285 tracebacks (5.8 MB of log) in 8 s here, while
  every new connection waited in the listen queue.
- A cap of connections per remote address costs least where the address is first known, at
  accept: before a transport, a task and an HTTP parser exist for the connection.

So ``Listener`` reads the listening sockets itself (``loop.add_reader``) and hands each accepted
socket to aiohttp with ``loop.connect_accepted_socket``:

- It counts the open connections of each remote address (a connection counts until its
  protocol's ``connection_lost``). One beyond ``max_per_address`` is answered ``429`` with a
  JSON error and closed at once. Loopback is not exempt: behind a reverse proxy every client is
  127.0.0.1 (raise the cap there, or set 0 for none).
- It keeps one descriptor in reserve. When accept fails for want of descriptors it gives the
  spare up, accepts, answers ``503`` with a JSON error, closes, and takes the spare again: a
  client (``/healthz`` included) hears at once that the server is out of descriptors, and the
  listen queue drains instead of leaving the listening socket readable. Connections are
  accepted again as soon as descriptors are free. If even the spare cannot be had, it stops
  reading the listening sockets until a connection closes or ``RETRY_S`` passes.
- It logs refusals as a summary: at once when they start, then at most one line per kind every
  ``LOG_INTERVAL_S`` ("refused 291 connections in the last 10 s ...").

``HTTP_IDLE_S`` is aiohttp's keep-alive timeout: a connection that sends no (further) request for
that long is closed, a connection that never sends one included.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import logging
import os
import resource
import socket
import time
from contextlib import suppress
from typing import Callable

from aiohttp import web

log = logging.getLogger("sitroom.listener")

BACKLOG = 128  # listen queue of each listening socket (aiohttp's default)
ACCEPT_BATCH = 64  # connections accepted per readiness of a listening socket, at most
RETRY_S = 0.5  # listening paused (no descriptor even for a refusal): try again after this long
LOG_INTERVAL_S = 10.0  # refusals of one kind: a log line at most this often
HTTP_IDLE_S = 15.0  # aiohttp's keep-alive timeout: an idle HTTP connection is closed after this
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# errors of one connection that accept reports (man 2 accept): that one is lost, the next is taken
CONNECTION_ERRORS = {getattr(errno, name) for name in ("ENETDOWN", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
                                                       "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "EPERM")
                     if hasattr(errno, name)}
MAX_ADDRESSES_NOTED = 1000  # distinct addresses a log line counts, at most


def _response(status: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Retry-After: 5\r\nConnection: close\r\nServer: Sitroom\r\n\r\n")
    return head.encode() + body


OUT_OF_FDS_RESPONSE = _response(
    "503 Service Unavailable", "overloaded",
    "the server has no file descriptors left for new connections; try again shortly")


def in_networks(address: str | None, networks) -> bool:
    """Whether ``address`` (an IPv4-mapped IPv6 address as its IPv4 address) is in one of ``networks``."""
    if not networks or not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for ``host``:``port`` (one per address it resolves to, as asyncio's
    ``create_server`` makes them), non-blocking."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _take_spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def _refuse(conn: socket.socket, response: bytes) -> None:
    """Answer ``response`` on a just-accepted connection and close it, without waiting for
    anything: what the client already sent is read first (closing with unread data would reset
    the connection, and the client might lose the answer)."""
    try:
        conn.setblocking(False)
        with suppress(BlockingIOError, InterruptedError):
            for _ in range(4):
                if not conn.recv(65536):
                    break
        conn.send(response)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()


class _Counted(asyncio.Protocol):
    """The HTTP protocol of one connection, which gives its address's count back when it ends."""

    __slots__ = ("_inner", "_listener", "_address")

    def __init__(self, inner: asyncio.Protocol, listener: "Listener", address: str) -> None:
        self._inner = inner
        self._listener = listener
        self._address = address

    def release(self) -> None:
        if self._listener is not None:
            self._listener._release(self._address)
            self._listener = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.release()
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _Summary:
    """Log lines about refused connections: one when a kind of refusal starts, then at most one
    per ``interval`` for that kind, counting what happened meanwhile."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._counts: dict[str, int] = {}
        self._addresses: dict[str, set[str]] = {}
        self._texts: dict[str, str] = {}
        self._last: dict[str, float] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}

    def note(self, kind: str, address: str | None, text: str) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + 1
        addresses = self._addresses.setdefault(kind, set())
        if address is not None and len(addresses) < MAX_ADDRESSES_NOTED:
            addresses.add(address)
        self._texts[kind] = text  # (as things stand at the latest refusal)
        since = time.monotonic() - self._last.get(kind, -1e9)
        if since >= self.interval:
            self.flush(kind)
        elif kind not in self._pending:
            self._pending[kind] = asyncio.get_running_loop().call_later(self.interval - since, self.flush, kind)

    def flush(self, kind: str) -> None:
        handle = self._pending.pop(kind, None)
        if handle is not None:
            handle.cancel()
        count = self._counts.pop(kind, 0)
        addresses = sorted(self._addresses.pop(kind, set()))
        if not count:
            return
        now = time.monotonic()
        elapsed = now - self._last.get(kind, now)
        first = kind not in self._last
        self._last[kind] = now
        shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more" if len(addresses) > 3 else "")
        log.warning("%s: %d time(s)%s%s", self._texts[kind], count,
                    "" if first else f" in the last {max(elapsed, 1):.0f} s", f" (from {shown})" if shown else "")

    def close(self) -> None:
        for kind in list(self._counts):
            self.flush(kind)


class Listener:
    """Accepts connections on ``sockets`` for an aiohttp server (see the module's docstring)."""

    def __init__(self, sockets: list[socket.socket], max_per_address: int, *,
                 uncapped: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()) -> None:
        self.sockets = sockets
        self.max_per_address = max_per_address  # 0: no cap
        self.uncapped = list(uncapped)  # trusted reverse proxies: every client comes through them
        self.open: dict[str, int] = {}  # remote address -> connections open from it
        self.open_connections = 0
        self.refused_per_address = 0  # connections refused by the cap (totals since start)
        self.refused_out_of_fds = 0  # connections refused for want of file descriptors
        self._cap_text = (f"refused a connection beyond {max_per_address} open from one address "
                          "(--max-connections-per-address; behind a reverse proxy or a NAT, clients share one)")
        self._too_many = _response(
            "429 Too Many Requests", "too_many_connections",
            f"more than {max_per_address} connections at once from your address; close some and try again")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._factory: Callable[[], asyncio.Protocol] | None = None
        self._spare: int | None = None
        self._paused = False
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self._summary = _Summary(LOG_INTERVAL_S)

    def stats(self) -> dict:
        """For /api/metrics: connections open now, and those refused since start."""
        return {
            "open": self.open_connections,
            "addresses": len(self.open),
            "most_from_one_address": max(self.open.values(), default=0),
            "max_per_address": self.max_per_address,
            "refused_per_address": self.refused_per_address,
            "refused_out_of_fds": self.refused_out_of_fds,
        }

    def start(self, protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        self._loop = asyncio.get_running_loop()
        self._factory = protocol_factory
        self._spare = _take_spare()
        self._listen()

    def close(self) -> None:
        self._unlisten()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for sock in self.sockets:
            sock.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        self._summary.close()

    def _listen(self) -> None:
        self._paused = False
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _unlisten(self) -> None:
        if self._loop is not None:
            for sock in self.sockets:
                if sock.fileno() >= 0:
                    self._loop.remove_reader(sock.fileno())

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in CONNECTION_ERRORS:
                    self._summary.note("lost", None, f"accept failed ({exc.strerror})")
                    continue
                if exc.errno in OUT_OF_DESCRIPTORS and self._refuse_with_spare(sock):
                    continue
                self._pause(exc)
                return
            self._admit(conn, addr)

    def _admit(self, conn: socket.socket, addr) -> None:
        address = addr[0] if isinstance(addr, tuple) else str(addr)
        count = self.open.get(address, 0)
        if self.max_per_address and count >= self.max_per_address and not in_networks(address, self.uncapped):
            self.refused_per_address += 1
            self._summary.note("cap", address, self._cap_text)
            _refuse(conn, self._too_many)
            return
        self.open[address] = count + 1
        self.open_connections += 1
        protocol = _Counted(self._factory(), self, address)
        task = self._loop.create_task(self._connect(conn, protocol))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket, protocol: _Counted) -> None:
        try:
            conn.setblocking(False)
            await self._loop.connect_accepted_socket(lambda: protocol, conn)
        except (OSError, RuntimeError):
            protocol.release()
            conn.close()

    def _release(self, address: str) -> None:
        count = self.open.get(address, 0) - 1
        self.open_connections -= 1
        if count > 0:
            self.open[address] = count
        else:
            self.open.pop(address, None)
        if self._paused:
            self._resume()

    def _refuse_with_spare(self, sock: socket.socket) -> bool:
        """Out of descriptors: accept one connection on the spare, answer 503 and close it.
        False if not even that could be done."""
        if self._spare is None:
            self._spare = _take_spare()
            if self._spare is None:
                return False
        os.close(self._spare)
        self._spare = None
        try:
            conn, addr = sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            self._spare = _take_spare()
            return True  # (the next accept finds the queue empty, or the connection)
        except OSError:
            self._spare = _take_spare()
            return False
        self.refused_out_of_fds += 1
        self._summary.note("fds", addr[0] if isinstance(addr, tuple) else str(addr), self._fds_text())
        _refuse(conn, OUT_OF_FDS_RESPONSE)
        self._spare = _take_spare()
        return True

    def _fds_text(self) -> str:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return (f"out of file descriptors (limit {limit}, {self.open_connections} connections open): "
                "refused a connection with 503")

    def _pause(self, exc: OSError) -> None:
        """Stop reading the listening sockets until a connection closes or RETRY_S passes (a
        listening socket with a connection waiting stays readable: asked again at once, accept
        would fail again at once)."""
        self._summary.note("paused", None, f"accept failed ({exc.strerror}): not accepting for a moment")
        if self._paused:
            return
        self._unlisten()
        self._paused = True
        self._retry = self._loop.call_later(RETRY_S, self._resume)

    def _resume(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._paused:
            self._listen()


class ListenerSite(web.BaseSite):
    """An aiohttp site served by a ``Listener``."""

    __slots__ = ("_listener",)

    def __init__(self, runner: web.BaseRunner, listener: Listener) -> None:
        super().__init__(runner)
        self._listener = listener

    @property
    def name(self) -> str:
        host, port = self._listener.sockets[0].getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def start(self) -> None:
        await super().start()
        self._listener.start(self._runner.server)

    async def stop(self) -> None:
        self._listener.close()
        await super().stop()


def serve(app: web.Application, listener: Listener, loop: asyncio.AbstractEventLoop,
          shutdown_timeout: float) -> None:
    """Run ``app`` on ``listener`` until SIGINT or SIGTERM (what ``web.run_app`` does for a site
    of its own making), then shut it down: connections closed, the app's cleanup run."""

    async def main() -> None:
        runner = web.AppRunner(app, handle_signals=True, access_log=None, keepalive_timeout=HTTP_IDLE_S,
                               shutdown_timeout=shutdown_timeout)
        await runner.setup()
        try:
            await ListenerSite(runner, listener).start()
            await loop.create_future()  # until a signal raises GracefulExit
        finally:
            await runner.cleanup()

    asyncio.set_event_loop(loop)
    task = loop.create_task(main())
    try:
        loop.run_until_complete(task)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    loop.run_until_complete(task)
        finally:
            rest = asyncio.all_tasks(loop)
            for other in rest:
                other.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
