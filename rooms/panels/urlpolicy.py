"""Which URLs an HTTP panel may fetch: the server's defence against request forgery (SSRF).

Host and staff type the URL of an HTTP panel and the *server* fetches it, from inside the
operator's network. Without a check, staff could make it read the cloud metadata service
(169.254.169.254: credentials) or any internal host. :class:`UrlPolicy` is the allow-list
(``SITROOM_PANEL_URL_ALLOW``, comma-separated entries):

- ``public``: any host whose addresses are all public (globally routable). The default.
- ``data.city.gov``: that host, on any port; ``*.city.gov``: its subdomains.
- ``data.city.gov:8443``, ``10.0.0.7:8080``, ``[fd00::7]:8080``: that host on that port.
- ``https://data.city.gov/api/``: URLs under that prefix (scheme, host, port and path).
- ``10.20.0.0/16``, ``10.0.0.7``, ``fd00::/8``: hosts whose addresses lie in these networks.

An empty list allows no HTTP panel at all. A host listed *by name* may resolve to private or
loopback addresses (the operator named it), but never to link-local, metadata-service,
multicast or unspecified addresses: those pass only when an address entry lists them, or when
the URL names the address literally and a host entry lists that literal.

The check runs twice: :meth:`UrlPolicy.check_url` when a panel is created or edited (no DNS), and
at fetch time on every request and redirect, where :meth:`UrlPolicy.allowed_addresses` filters the
addresses the name resolved to, inside the HTTP client's resolver, so the addresses checked are
the addresses connected to (no window for DNS rebinding). Pure: no sockets, no aiohttp.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .spec import PanelError

__all__ = ["UrlGrant", "UrlPolicy", "UrlRefused", "address_class", "ENV_NAME"]

ENV_NAME = "SITROOM_PANEL_URL_ALLOW"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata and platform services. Some are public addresses (Azure's 168.63.129.16), so they
# are named here rather than left to ``is_global``.
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.169.254/32", "169.254.170.2/32", "168.63.129.16/32", "100.100.100.200/32", "fd00:ec2::254/128")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Never reached through a host listed by name: only an address entry (or a listed literal) unlocks them.
SENSITIVE = frozenset({"metadata-service", "link-local", "unspecified", "multicast"})
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class UrlRefused(PanelError):
    """A URL (or the address it resolves to) that the allow-list does not permit. ``bad_request``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="bad_request")


def address_class(addr: IPAddress) -> str | None:
    """None for a public address; else what it is: ``loopback``, ``private``, ``link-local``,
    ``metadata-service``, ``unspecified``, ``multicast`` or ``non-public``."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return address_class(addr.ipv4_mapped)
        if addr in NAT64:  # 64:ff9b::a.b.c.d reaches a.b.c.d through a NAT64 gateway
            inner = address_class(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
            if inner is not None:
                return inner
    if any(addr in net for net in METADATA_NETWORKS):
        return "metadata-service"
    if addr.is_unspecified:
        return "unspecified"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr.is_private:
        return "private"
    if not addr.is_global or addr.is_reserved:
        return "non-public"
    return None


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _norm_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _clean_path(path: str) -> str:
    """The path a server will see: percent-encoded dots decoded, ``.``/``..`` segments removed."""
    segments = re.sub(r"%2e", ".", path or "/", flags=re.IGNORECASE).split("/")
    out: list[str] = []
    for i, seg in enumerate(segments[1:], start=1):
        last = i == len(segments) - 1
        if seg in (".", ".."):
            if seg == ".." and out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


@dataclass(frozen=True)
class _HostRule:
    host: str  # normalised name, "*.suffix" for subdomains, or an IP literal
    port: int | None = None
    scheme: str | None = None
    path: str | None = None  # URL-prefix entries only

    def matches(self, scheme: str, host: str, port: int, path: str) -> bool:
        if self.host.startswith("*."):
            if not host.endswith(self.host[1:]):
                return False
        elif host != self.host:
            return False
        if self.scheme is not None and scheme != self.scheme:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.path is not None:
            clean = _clean_path(path)
            if self.path.endswith("/"):
                return clean.startswith(self.path)
            return clean == self.path or clean.startswith(self.path + "/")
        return True


@dataclass(frozen=True)
class UrlGrant:
    """A URL that passed :meth:`UrlPolicy.check_url`; ``trust`` says how its addresses are judged:
    ``"literal"`` (a listed IP literal: no further check), ``"named"`` (a listed name: anything but
    sensitive addresses) or None (addresses must be public or in a listed network)."""

    url: str
    scheme: str
    host: str
    port: int
    trust: str | None


@dataclass(frozen=True)
class UrlPolicy:
    public: bool = True
    hosts: tuple[_HostRule, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> "UrlPolicy":
        """The policy of ``SITROOM_PANEL_URL_ALLOW`` entries; ValueError names a bad entry."""
        public = False
        hosts: list[_HostRule] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if entry.lower() == "public":
                public = True
                continue
            if "://" in entry:
                hosts.append(cls._prefix_rule(entry))
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host, port = entry, None
            match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", entry)
            if match:
                host, port = match.group(1) or match.group(3), int(match.group(2) or match.group(4))
                if not 0 < port < 65536:
                    raise ValueError(f"{ENV_NAME}: port out of range in {raw!r}")
            hosts.append(_HostRule(cls._host_of(host, raw), port))
        return cls(public=public, hosts=tuple(hosts), networks=tuple(networks))

    @staticmethod
    def _host_of(host: str, raw: str) -> str:
        name = _norm_host(host)
        if _literal(name) is not None:
            return str(_literal(name))
        labels = name[2:].split(".") if name.startswith("*.") else name.split(".")
        if not name or not all(_HOST_LABEL.match(label) for label in labels):
            raise ValueError(f"{ENV_NAME}: not a host name, host:port, URL prefix, address or network: {raw!r}")
        return name

    @classmethod
    def _prefix_rule(cls, entry: str) -> _HostRule:
        parts = urlsplit(entry)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{ENV_NAME}: bad port in {entry!r}") from None
        if scheme not in DEFAULT_PORTS or not parts.hostname or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{ENV_NAME}: a URL prefix is http(s)://host[:port]/path, got {entry!r}")
        return _HostRule(cls._host_of(parts.hostname, entry), port or DEFAULT_PORTS[scheme], scheme,
                         _clean_path(parts.path or "/"))

    # ---- checks ---------------------------------------------------------------------------------

    def check_url(self, url: str) -> UrlGrant:
        """Whether ``url`` may be fetched, judged without DNS; raises :class:`UrlRefused`.

        A URL naming an address literally (or ``localhost``) is judged on that address here; a
        name that no entry lists passes if ``public`` or a network entry may admit its addresses,
        which :meth:`allowed_addresses` decides at fetch time.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UrlRefused("source.url is not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise UrlRefused("source.url must be an http or https URL with a host")
        host = _norm_host(parts.hostname)
        port = port or DEFAULT_PORTS[scheme]
        literal = _literal(host)
        if literal is not None:
            host = str(literal)
        for rule in self.hosts:
            if rule.matches(scheme, host, port, parts.path):
                trust = "literal" if literal is not None else "named"
                return UrlGrant(url, scheme, host, port, trust)
        if literal is not None or host == "localhost" or host.endswith(".localhost"):
            addr = literal if literal is not None else ipaddress.ip_address("127.0.0.1")
            reason = self.address_refusal(addr, None)
            if reason is not None:
                raise UrlRefused(f"{self._who(host)} is {reason}; {self._hint()}")
            return UrlGrant(url, scheme, host, port, None)
        if not self.public and not self.networks:
            raise UrlRefused(f"this URL (host {host}) is not on the allow-list; {self._hint()}")
        return UrlGrant(url, scheme, host, port, None)

    def address_refusal(self, addr: IPAddress, trust: str | None) -> str | None:
        """None if a URL judged with ``trust`` may connect to ``addr``; else why not, in words."""
        if trust == "literal" or any(addr in net for net in self.networks if addr.version == net.version):
            return None
        kind = address_class(addr)
        if kind is None:
            return None if (self.public or trust == "named") else "an address outside the allowed networks"
        if kind in SENSITIVE or trust != "named":
            return f"{_article(kind)} {kind} address"
        return None

    def allowed_addresses(self, grant: UrlGrant | None, host: str, addresses: Iterable[str]) -> list[str]:
        """The resolved ``addresses`` of ``host`` that may be connected to (in their order).

        ``grant`` is the checked URL being fetched (its ``trust`` applies when it names ``host``).
        Raises :class:`UrlRefused` when none may.
        """
        name = _norm_host(host)
        trust = grant.trust if grant is not None and grant.host == name else None
        allowed, reasons = [], []
        for text in addresses:
            try:
                addr = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                reasons.append("not an address")
                continue
            reason = self.address_refusal(addr, trust)
            if reason is None:
                allowed.append(text)
            else:
                reasons.append(reason)
        if not allowed:
            why = reasons[0] if reasons else "no address"
            raise UrlRefused(f"{name} resolves to {why}; {self._hint()}")
        return allowed

    @staticmethod
    def _who(host: str) -> str:
        return host if _literal(host) is not None else f"{host} (a loopback name)"

    @staticmethod
    def _hint() -> str:
        return f"the server's administrator can allow it in {ENV_NAME}"
