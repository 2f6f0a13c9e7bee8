"""HTTP panel sources: the network side of live panels (``rooms.panels`` does no networking).

:class:`HttpSource` polls a URL (JSON or CSV) with a size cap and a timeout and converts what it
gets with ``rooms.panels.sources.parse_json`` / ``parse_csv`` into PanelData for the panel's
kind. Every failure becomes :class:`~rooms.panels.sources.SourceError` with a short, stable
message for the participants ("could not connect to …", "timed out after 5 s", "HTTP 404 Not
Found", "response is not valid JSON", "response larger than … bytes"); the details go to the
server's log. Every request and redirect is checked against the
:class:`~rooms.panels.urlpolicy.UrlPolicy` (SSRF). :func:`http_source_factory` is what the
server hands to ``PanelRunner`` and ``make_source``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import urljoin

import aiohttp
from aiohttp.resolver import DefaultResolver

from rooms.panels.sources import DataSource, SourceError, parse_csv, parse_json
from rooms.panels.spec import KINDS, PanelData, PanelError, PanelSpec, validate_source
from rooms.panels.urlpolicy import UrlGrant, UrlPolicy, UrlRefused

log = logging.getLogger("rooms.panels.sources")  # the name the panel messages have always logged under

DEFAULT_MAX_BYTES = 1024 * 1024
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class _CheckingResolver:
    """aiohttp resolver that lets through only the addresses the :class:`UrlPolicy` allows.

    Checking inside the resolver means the addresses checked are exactly the ones connected to (a
    name that resolves differently a moment later cannot slip past). ``grant`` is the URL being
    fetched; set before each request (an :class:`HttpSource` fetches one URL at a time).
    """

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy
        self.grant: UrlGrant | None = None
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict]:
        infos = await self._inner.resolve(host, port, family)
        allowed = set(self.policy.allowed_addresses(self.grant, host, [info["host"] for info in infos]))
        return [info for info in infos if info["host"] in allowed]

    async def close(self) -> None:
        await self._inner.close()


class HttpSource:
    """Polls an http(s) URL for JSON or CSV and converts it to PanelData of ``kind``.

    ``policy`` says which URLs and addresses may be fetched; the default allows public hosts only
    (the server passes the configured one). Redirects are followed by hand, at most
    :data:`MAX_REDIRECTS`, each checked like the first URL.
    """

    def __init__(
        self,
        url: str,
        format: str = "json",
        interval_s: float = 30.0,
        path: str | None = None,
        kind: str = "table",
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = 5.0,
        policy: UrlPolicy | None = None,
    ) -> None:
        spec = {"type": "http", "url": url, "format": format, "interval_s": interval_s}
        if path is not None:
            spec["path"] = path
        spec = validate_source(spec)
        if kind not in KINDS:
            raise PanelError(f"kind must be one of {', '.join(KINDS)}")
        self.url = url
        self.format = format
        self.interval_s = spec["interval_s"]
        self.path = path
        self.kind = kind
        self.max_bytes = int(max_bytes)
        self.timeout_s = float(timeout_s)
        self.policy = policy if policy is not None else UrlPolicy()
        self._session: Any = None
        self._resolver: _CheckingResolver | None = None
        self._lock = asyncio.Lock()

    def _fail(self, message: str, detail: str | None = None) -> SourceError:
        """The participants' message; the details (exception text) go to the server's log only."""
        log.info("panel source %s: %s%s", self.url[:200], message, f" ({detail[:300]})" if detail else "")
        return SourceError(message)

    def _open(self) -> Any:
        if self._session is None or self._session.closed:
            self._resolver = _CheckingResolver(self.policy)
            # No DNS cache and no keep-alive: every connection is made to freshly checked addresses.
            connector = aiohttp.TCPConnector(resolver=self._resolver, use_dns_cache=False, force_close=True, limit=2)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"User-Agent": "Sitroom panel poller", "Accept": "application/json, text/csv, */*;q=0.5"},
            )
        return self._session

    async def _get(self) -> tuple[bytes, str | None]:
        """The body (within the size cap) and charset of the URL, after at most 3 checked redirects."""
        session = self._open()
        url = self.url
        for hop in range(MAX_REDIRECTS + 1):
            try:
                grant = self.policy.check_url(url)
            except UrlRefused as e:
                raise self._fail(f"redirected to a URL that is not allowed: {e.message}" if hop else e.message, url) from None
            host = f"{grant.host}:{grant.port}"
            assert self._resolver is not None
            self._resolver.grant = grant
            try:
                async with session.get(url, allow_redirects=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in REDIRECT_STATUSES and location:
                        if hop == MAX_REDIRECTS:
                            raise self._fail(f"too many redirects (more than {MAX_REDIRECTS})", url)
                        url = urljoin(url, location)
                        continue
                    if resp.status >= 300:
                        try:
                            phrase = HTTPStatus(resp.status).phrase
                        except ValueError:
                            phrase = ""
                        raise self._fail(f"HTTP {resp.status} {phrase}".strip(), f"{url}: {resp.reason}")
                    too_big = f"response larger than {self.max_bytes} bytes"
                    if resp.content_length is not None and resp.content_length > self.max_bytes:
                        raise self._fail(too_big, f"Content-Length {resp.content_length}")
                    body = bytearray()
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        body += chunk
                        if len(body) > self.max_bytes:
                            raise self._fail(too_big)
                    return bytes(body), resp.charset
            except UrlRefused as e:  # from the resolver: the name resolved to a refused address
                raise self._fail(f"redirected to a URL that is not allowed: {e.message}" if hop else e.message, url) from None
            except (asyncio.TimeoutError, TimeoutError):
                raise
            except aiohttp.InvalidURL as e:
                raise self._fail("the URL is not valid", repr(e)) from None
            except aiohttp.ClientConnectorDNSError as e:
                raise self._fail(f"could not resolve the host {grant.host}", repr(e)) from None
            except aiohttp.ClientConnectorCertificateError as e:
                raise self._fail(f"the TLS certificate of {host} was not accepted", repr(e)) from None
            except aiohttp.ClientSSLError as e:
                raise self._fail(f"the TLS handshake with {host} failed", repr(e)) from None
            except aiohttp.ClientConnectorError as e:
                raise self._fail(f"could not connect to {host}", repr(e)) from None
            except aiohttp.ClientResponseError as e:
                raise self._fail(f"{host} sent a malformed HTTP response", repr(e)) from None
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                raise self._fail(f"the connection to {host} broke off", repr(e)) from None
            except aiohttp.ClientError as e:
                raise self._fail(f"the request to {host} failed", repr(e)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetch(self) -> PanelData:
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout_s):
                    body, charset = await self._get()
            except (asyncio.TimeoutError, TimeoutError):
                raise self._fail(f"timed out after {self.timeout_s:g} s") from None
        if self.format == "json":
            return parse_json(body, self.kind, self.path)
        try:
            text = body.decode(charset or "utf-8-sig")
        except (UnicodeDecodeError, LookupError):
            raise self._fail("response is not valid CSV text in its declared encoding (UTF-8 by default)") from None
        return parse_csv(text, self.kind)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def http_source_factory(policy: UrlPolicy | None = None) -> Callable[[PanelSpec], DataSource]:
    """``spec -> HttpSource`` fetching under ``policy`` (default: public hosts only)."""

    def make(spec: PanelSpec) -> DataSource:
        src = spec.source
        return HttpSource(src["url"], src["format"], src["interval_s"], src.get("path"), spec.kind, policy=policy)

    return make
