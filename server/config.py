"""Settings: from environment variables (``SITROOM_*``), overridden by CLI flags.

Every setting has one name, used three ways: the attribute ``port``, the environment variable
``SITROOM_PORT`` and the flag ``--port``. README.md lists them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from rooms.panels.urlpolicy import UrlPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "var"
LOOPBACK_NETWORKS = ["127.0.0.0/8", "::1/128"]


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    database: str = ""  # SQLAlchemy URL; default: SQLite file in data_dir
    data_dir: Path = DEFAULT_DATA_DIR
    secret: str = ""  # signs invite tokens; default: generated once, kept in data_dir/secret
    public_url: str = ""  # base URL in invite links; default http://host:port
    # Several nodes behind one public URL: this node's own URL (its own host name at the proxy), where
    # other nodes send the clients of a room it holds (room_elsewhere, the page's 307); default public_url.
    node_url: str = ""
    # Origins (scheme://host[:port]) whose pages may open a Socket.IO connection, besides the page's
    # own (same origin) and public_url's: e.g. a city portal that embeds Sitroom.
    allowed_origins: list[str] = field(default_factory=list)
    # Media / ICE
    ice_addresses: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    announce: dict[str, str] = field(default_factory=dict)  # local address -> public address
    ice_servers: list[dict] = field(default_factory=list)  # handed to browsers and to aiortc
    test_mode: bool = False  # accept only loopback ICE candidates and STUN sources
    # Scale-out and operations
    redis: str = ""  # redis://127.0.0.1:6379/0 to share Socket.IO rooms between processes
    redis_channel: str = "sitroom"  # the pub/sub channel; one per Sitroom installation
    admin_token: str = ""  # bearer token for /api/metrics; unset: generated, kept in data_dir/admin-token
    # The organiser key: POST /api/rooms needs "Authorization: Bearer <create_key>"; unset: generated,
    # kept in data_dir/organiser-key (organiser_key()).
    create_key: str = ""
    # Reverse proxies in front of this node (addresses or networks): connections from them are not
    # capped per address (every client comes through them), and an HTTP request from one counts
    # against the limits of the client that X-Forwarded-For names.
    trusted_proxies: list[str] = field(default_factory=list)
    # Multiplies every HTTP rate limit per client address (server/api.py HTTP_LIMITS): test servers
    # that create hundreds of rooms from 127.0.0.1 raise it; the default holds in production.
    rate_limit_scale: float = 1.0
    demo: bool = False  # create the demo room at start-up and print its links
    client_dist: Path = REPO_ROOT / "client_web" / "dist"
    # Limits
    max_upload_bytes: int = 50 * 1024 * 1024
    max_document_pages: int = 300
    render_time_limit_s: float = 60.0
    # Uploads whose body is being received at once, in one room and in the whole server; one more is
    # refused at once ("busy"), before its body is read. Each streams to a file in data_dir/uploads.
    max_uploads: int = 4
    max_uploads_per_room: int = 2
    # A Socket.IO connection that has sent no join by then is closed (a client joins at once).
    join_deadline_s: float = 10.0
    # TCP connections open at once from one remote address; more are refused (HTTP 429) at accept.
    # 0: no cap. Behind a reverse proxy or a large NAT every client shares one address: raise it.
    max_connections_per_address: int = 64
    max_panels_per_room: int = 32
    # URLs HTTP panels may fetch (rooms/panels/urlpolicy.py); None: public hosts only, plus loopback
    # in test and demo mode. Set: exactly these entries ("public", hosts, host:port, URL prefixes,
    # networks); empty: no HTTP panels.
    panel_url_allow: list[str] | None = None
    # Video codecs the SFU forwards. None: VP8 and H.264, each publisher's own preference chooses
    # (Safari sends H.264, Chrome and Firefox VP8). Set: only these, in this order of preference
    # for every publisher, e.g. ["H264", "VP8"] for rooms with many iPhones.
    video_codecs: list[str] | None = None
    # The event loop's I/O wake-ups are at least this far apart while it is busy (media/loop.py):
    # packets that arrive meanwhile are handled together, at a fraction of the CPU; 0: every
    # datagram wakes the process as it arrives. Adds at most this much latency per packet.
    rx_batch_ms: float = 1.0
    # Media worker processes, each running its own routers and their whole packet path (media/
    # workers.py); None: one per core. 0: the SFU runs in this process (one core for everything).
    media_workers: int | None = None
    # A room extends to another worker (its producers piped over 127.0.0.1): new viewers once its
    # worker is busier than this % of a core, new publishers from 15 points more; and, if set,
    # every new peer once the room has this many on its first worker.
    # Ask publishers for Opus DTX: a silent microphone sends a packet every 400 ms, not 50 a second.
    opus_dtx: bool = True
    # Accept publishers' simulcast: each viewer gets the camera layer its tile and link call for.
    simulcast: bool = True
    media_span_cpu: float = 70.0
    media_span_peers: int | None = None
    # Seconds between two sweeps of the rooms' record retention (rooms/retention.py; one at start);
    # 0: no sweeps (rooms' retention settings are then not applied).
    retention_interval_s: float = 3600.0
    log_level: str = "info"

    @property
    def media_worker_count(self) -> int:
        """How many media worker processes to run (``media_workers``, or one per core)."""
        if self.media_workers is not None:
            return self.media_workers
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite+aiosqlite:///{self.data_dir / 'sitroom.db'}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def cluster_url(self) -> str:
        """Where other nodes send the clients of a room this node holds (``node_url``, else ``base_url``)."""
        return self.node_url.rstrip("/") if self.node_url else self.base_url

    @property
    def panel_url_entries(self) -> list[str]:
        """The allow-list of HTTP panel URLs in force (see ``panel_url_allow``)."""
        if self.panel_url_allow is not None:
            return list(self.panel_url_allow)
        return ["public", *LOOPBACK_NETWORKS] if (self.test_mode or self.demo) else ["public"]

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies]

    @property
    def allowed_remote_networks(self) -> list[str] | None:
        return list(LOOPBACK_NETWORKS) if self.test_mode else None

    def secret_bytes(self) -> bytes:
        """The signing secret; generated and kept in ``data_dir/secret`` when not configured."""
        if not self.secret:
            self.secret = _kept_secret(Path(self.data_dir) / "secret")
        return self.secret.encode()

    def metrics_token(self) -> str:
        """The bearer token ``/api/metrics`` requires: ``admin_token``, else one generated and kept
        in ``data_dir/admin-token`` (a caller on the same host is not enough: behind a reverse
        proxy on that host, every request comes from loopback)."""
        if not self.admin_token:
            self.admin_token = _kept_secret(Path(self.data_dir) / "admin-token")
        return self.admin_token

    def organiser_key(self) -> str:
        """The key creating rooms requires (``create_key``), else one generated and kept in
        ``data_dir/organiser-key``: anyone who can reach the server may join by link or code, only
        organisers create rooms."""
        if not self.create_key:
            self.create_key = _kept_secret(self.organiser_key_path)
        return self.create_key

    @property
    def organiser_key_path(self) -> Path:
        return Path(self.data_dir) / "organiser-key"

    def organiser_link(self) -> str:
        """The start page with the organiser key in its fragment (``#organiser=KEY``): a fragment
        never reaches the server's logs or a ``Referer``; the page keeps the key and removes it."""
        return f"{self.base_url}/#organiser={quote(self.organiser_key(), safe='')}"

    def validate(self) -> None:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"a trusted proxy must be an address or a network: {entry!r}") from None
        if not self.rate_limit_scale > 0:
            raise ConfigError(f"the rate limit scale must be a positive number: {self.rate_limit_scale!r}")
        if not (0 < self.port < 65536):
            raise ConfigError(f"port out of range: {self.port}")
        if self.node_url and not re.fullmatch(r"https?://[^/\s?#]+/?", self.node_url):
            raise ConfigError(f"the node URL must be http(s)://HOST[:PORT], not {self.node_url!r}")
        if not self.join_deadline_s > 0:
            raise ConfigError(f"the join deadline must be a positive number of seconds: {self.join_deadline_s}")
        if self.max_connections_per_address < 0:
            raise ConfigError(f"max connections per address must be 0 (no cap) or more: "
                              f"{self.max_connections_per_address}")
        for addr in [*self.ice_addresses, *self.announce, *self.announce.values()]:
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise ConfigError(f"not an IP address: {addr!r}") from None
        for server in self.ice_servers:
            if not isinstance(server, dict) or "urls" not in server:
                raise ConfigError(f"ICE server needs 'urls': {server!r}")
        if self.video_codecs is not None:
            unknown = [c for c in self.video_codecs if c.upper() not in ("VP8", "H264")]
            if unknown or not self.video_codecs:
                raise ConfigError(f"video codecs must be VP8 and/or H264, not {','.join(self.video_codecs)!r}")
        if not 0 <= self.rx_batch_ms <= 20:
            raise ConfigError(f"rx batch interval must be 0 to 20 ms, not {self.rx_batch_ms!r}")
        if self.media_workers is not None and not 0 <= self.media_workers <= 64:
            raise ConfigError(f"media workers must be 0 to 64, not {self.media_workers!r}")
        if not 0 < self.media_span_cpu <= 100:
            raise ConfigError(f"media span CPU must be 1 to 100 (% of a core), not {self.media_span_cpu!r}")
        if self.max_uploads < 1 or self.max_uploads_per_room < 1:
            raise ConfigError(f"max uploads must be at least 1, not {self.max_uploads!r} / "
                              f"{self.max_uploads_per_room!r} per room")
        if not 0 <= self.retention_interval_s <= 7 * 24 * 3600:
            raise ConfigError(f"the retention interval must be 0 (off) to 604800 seconds (a week), "
                              f"not {self.retention_interval_s!r}")
        if self.media_span_peers is not None and self.media_span_peers < 1:
            raise ConfigError(f"media span peers must be at least 1, not {self.media_span_peers!r}")
        try:
            UrlPolicy.parse(self.panel_url_entries)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def parse_announce(items: list[str]) -> dict[str, str]:
    """``["10.0.0.5=203.0.113.7"]`` -> ``{"10.0.0.5": "203.0.113.7"}``."""
    result = {}
    for item in items:
        local, sep, public = item.partition("=")
        if not sep:
            raise ConfigError(f"--announce takes LOCAL=PUBLIC, got {item!r}")
        result[local.strip()] = public.strip()
    return result


def parse_ice_servers(value: str) -> list[dict]:
    """A JSON list of RTCIceServer objects, or comma-separated URLs (``turn:…,stun:…``)."""
    value = value.strip()
    if not value:
        return []
    if value.startswith("["):
        try:
            servers = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"ICE servers: bad JSON: {exc}") from None
        if not isinstance(servers, list):
            raise ConfigError("ICE servers: expected a JSON list")
        return servers
    return [{"urls": [u.strip() for u in value.split(",") if u.strip()]}]


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


# The numeric settings: (SITROOM_<variable>, Config attribute, type).
NUMBERS = (
    ("port", "port", int),
    ("join_deadline", "join_deadline_s", float),
    ("max_connections_per_address", "max_connections_per_address", int),
    ("media_workers", "media_workers", int),
    ("media_span_cpu", "media_span_cpu", float),
    ("media_span_peers", "media_span_peers", int),
    ("max_uploads", "max_uploads", int),
    ("max_uploads_per_room", "max_uploads_per_room", int),
    ("rate_limit_scale", "rate_limit_scale", float),
    ("rx_batch_ms", "rx_batch_ms", float),
    ("retention_interval", "retention_interval_s", float),
)


def from_env(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    cfg = Config()

    def get(name: str) -> str | None:
        return env.get("SITROOM_" + name.upper())

    if (v := get("host")) is not None:
        cfg.host = v
    for name in ("database", "secret", "public_url", "node_url", "redis", "redis_channel", "admin_token", "create_key",
                 "log_level"):
        if (v := get(name)) is not None:
            setattr(cfg, name, v)
    if (v := get("data_dir")) is not None:
        cfg.data_dir = Path(v)
    if (v := get("ice_addresses")) is not None:
        cfg.ice_addresses = split_list(v)
    if (v := get("announce")) is not None:
        cfg.announce = parse_announce(split_list(v))
    if (v := get("ice_servers")) is not None:
        cfg.ice_servers = parse_ice_servers(v)
    if (v := get("opus_dtx")) is not None:
        cfg.opus_dtx = v.lower() in ("1", "true", "yes", "on")
    if (v := get("allowed_origins")) is not None:
        cfg.allowed_origins = split_list(v)
    if (v := get("trusted_proxies")) is not None:
        cfg.trusted_proxies = split_list(v)
    if (v := get("simulcast")) is not None:
        cfg.simulcast = v.lower() in ("1", "true", "yes", "on")
    if (v := get("test_mode")) is not None:
        cfg.test_mode = v.lower() in ("1", "true", "yes")
    if (v := get("panel_url_allow")) is not None:
        cfg.panel_url_allow = split_list(v)
    if (v := get("video_codecs")) is not None:
        cfg.video_codecs = [c.upper() for c in split_list(v)]
    for variable, attribute, kind in NUMBERS:
        if (v := get(variable)) is not None:
            try:
                setattr(cfg, attribute, kind(v))
            except ValueError:
                raise ConfigError(f"SITROOM_{variable.upper()} is not a number: {v!r}") from None
    if (v := get("organiser_key")) is not None:  # the same as SITROOM_CREATE_KEY
        cfg.create_key = v
    return cfg


def _kept_secret(path: Path) -> str:
    """A random token kept in ``path`` (made once, readable by the server's user only)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value
