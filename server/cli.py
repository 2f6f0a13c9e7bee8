"""``sitroom serve`` and ``sitroom db upgrade``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from pathlib import Path

from .config import Config, ConfigError, from_env, parse_announce, parse_ice_servers, split_list


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitroom", description="Sitroom: meetings and live city data")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    _database_args(serve)
    serve.add_argument("--secret", help="secret that signs invite tokens (default: generated, kept in the data dir)")
    serve.add_argument("--public-url", help="base URL used in invite links (default http://HOST:PORT)")
    serve.add_argument("--node-url", metavar="URL",
                       help="this node's own URL at the proxy (several nodes behind one --public-url): other "
                            "nodes send a room's clients here while this node holds it (default: --public-url)")
    serve.add_argument("--join-deadline", dest="join_deadline_s", type=float, metavar="SECONDS",
                       help="close a connection that has not joined within SECONDS (default 10)")
    serve.add_argument("--max-connections-per-address", type=int, metavar="N",
                       help="refuse (HTTP 429) a TCP connection beyond N open at once from one address "
                            "(default 64; 0: no cap; raise it behind a reverse proxy or a large NAT)")
    serve.add_argument("--trusted-proxy", dest="trusted_proxies", action="append", metavar="ADDRESS|NETWORK",
                       help="a reverse proxy in front of this server: its connections are not capped per address, "
                            "and its requests count against the X-Forwarded-For client's rate limits (repeat)")
    serve.add_argument("--allowed-origin", dest="allowed_origins", action="append", metavar="ORIGIN",
                       help="another origin (scheme://host[:port]) whose pages may connect, besides the "
                            "server's own and --public-url's (repeat)")
    serve.add_argument("--ice-address", action="append", dest="ice_addresses", metavar="IP",
                       help="address the SFU gathers ICE candidates on (repeatable; default 127.0.0.1)")
    serve.add_argument("--announce", action="append", metavar="LOCAL=PUBLIC",
                       help="announce PUBLIC in place of LOCAL in ICE candidates (1:1 NAT; repeatable)")
    serve.add_argument("--ice-servers", metavar="URLS|JSON",
                       help="STUN/TURN servers for clients and the SFU (default: none)")
    serve.add_argument("--redis", help="Redis URL to share Socket.IO rooms between processes")
    serve.add_argument("--redis-channel", help="Redis pub/sub channel (default: sitroom)")
    serve.add_argument("--panel-url-allow", metavar="ENTRIES",
                       help="what HTTP panels may fetch: comma-separated 'public', hosts, *.domain, host:port, "
                            "URL prefixes, networks ('' turns HTTP panels off; default: public hosts only)")
    serve.add_argument("--video-codecs", metavar="LIST",
                       help="video codecs to forward, in order of preference, e.g. H264,VP8 (default: VP8 and "
                            "H264, each publisher's preference chooses)")
    serve.add_argument("--rx-batch-ms", type=float, metavar="MS",
                       help="while busy, wake for network I/O at most once per MS milliseconds and handle what "
                            "arrived together: less CPU per packet, at most MS more latency (default 1; 0: off)")
    serve.add_argument("--media-workers", type=int, metavar="N",
                       help="media worker processes, each running rooms' SFU and packet path on its own core "
                            "(default: one per core; 0: the SFU runs in the server process)")
    serve.add_argument("--media-span-cpu", type=float, metavar="PCT",
                       help="a room extends to a less-loaded media worker for new viewers once its worker is above "
                            "PCT %% of a core (new publishers from PCT+15; default 70)")
    serve.add_argument("--media-span-peers", type=int, metavar="N",
                       help="a room extends to another media worker for every peer beyond the first N (default: off)")
    serve.add_argument("--opus-dtx", action=argparse.BooleanOptionalAction, default=None,
                       help="ask publishers for Opus DTX: a silent microphone sends a packet every 400 ms instead "
                            "of 50 a second (default on)")
    serve.add_argument("--simulcast", action=argparse.BooleanOptionalAction, default=None,
                       help="accept publishers' simulcast (up to three layers of a camera): each viewer gets the "
                            "layer its tile and link call for (default on)")
    serve.add_argument("--max-uploads", type=int, metavar="N",
                       help="uploads received at once in the whole server; one more is refused as busy (default 4)")
    serve.add_argument("--max-uploads-per-room", type=int, metavar="N",
                       help="uploads received at once in one room; one more is refused as busy (default 2)")
    serve.add_argument("--retention-interval", dest="retention_interval_s", type=float, metavar="SECONDS",
                       help="sweep the rooms' old records and recordings (each room's retention setting) at "
                            "start and then every SECONDS (default 3600; 0: never)")
    serve.add_argument("--admin-token", help="bearer token that /api/metrics requires")
    serve.add_argument("--organiser-key", "--create-key", dest="create_key",
                       help="the key organisers need to create rooms (default: generated, kept in the data dir's "
                            "organiser-key, its start-page link printed at start-up)")
    serve.add_argument("--rate-limit-scale", type=float, metavar="X",
                       help="multiply the HTTP rate limits per client address by X (default 1)")
    serve.add_argument("--test-mode", action="store_true", default=None,
                       help="accept only loopback ICE candidates and STUN sources")
    serve.add_argument("--demo", action="store_true", default=None, help="create the demo room")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate the database to the newest schema")
    _database_args(upgrade)
    return parser


def _database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in the data dir)")
    parser.add_argument("--data-dir", type=Path, help="where the SQLite file and generated secret live")


def build_config(args: argparse.Namespace) -> Config:
    cfg = from_env()
    for name in ("host", "port", "database", "data_dir", "secret", "public_url", "node_url", "redis", "redis_channel",
                 "admin_token", "create_key", "test_mode", "demo", "log_level"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(cfg, name, value)
    if getattr(args, "ice_addresses", None):
        cfg.ice_addresses = args.ice_addresses
    if getattr(args, "announce", None):
        cfg.announce = parse_announce(args.announce)
    if getattr(args, "ice_servers", None) is not None:
        cfg.ice_servers = parse_ice_servers(args.ice_servers)
    if getattr(args, "panel_url_allow", None) is not None:
        cfg.panel_url_allow = split_list(args.panel_url_allow)
    if getattr(args, "join_deadline_s", None) is not None:
        cfg.join_deadline_s = args.join_deadline_s
    if getattr(args, "max_connections_per_address", None) is not None:
        cfg.max_connections_per_address = args.max_connections_per_address
    if getattr(args, "allowed_origins", None) is not None:
        cfg.allowed_origins = list(args.allowed_origins)
    if getattr(args, "trusted_proxies", None) is not None:
        cfg.trusted_proxies = list(args.trusted_proxies)
    if getattr(args, "video_codecs", None) is not None:
        cfg.video_codecs = [c.upper() for c in split_list(args.video_codecs)]
    if getattr(args, "rx_batch_ms", None) is not None:
        cfg.rx_batch_ms = args.rx_batch_ms
    for name in ("media_workers", "media_span_cpu", "media_span_peers", "opus_dtx", "simulcast", "rate_limit_scale",
                 "max_uploads", "max_uploads_per_room", "retention_interval_s"):
        if getattr(args, name, None) is not None:
            setattr(cfg, name, getattr(args, name))
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = build_config(args)
        cfg.validate()
    except ConfigError as exc:
        print(f"sitroom: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, cfg.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet = logging.DEBUG if cfg.log_level.lower() == "debug" else logging.WARNING
    # aioice logs every candidate pair's state change at INFO (dozens of lines per join) and
    # aiortc each transceiver's; they are what --log-level debug is for.
    for noisy in ("aiohttp.access", "alembic", "aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(quiet)
    if args.command == "db":
        from rooms.db import Database

        async def upgrade() -> None:
            db = Database(cfg.database_url)
            await db.upgrade()
            await db.dispose()

        asyncio.run(upgrade())
        print(f"database at the newest schema: {cfg.database_url}")
        return 0

    from aiohttp import web

    from .app import HUB, create_app
    from .listener import Listener, bind, serve

    try:  # listening from the start (a busy port is said plainly); accepting once the app has started
        listener = Listener(bind(cfg.host, cfg.port), cfg.max_connections_per_address,
                            uncapped=cfg.trusted_proxy_networks)
    except OSError as exc:
        print(f"sitroom: cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    token_given = bool(cfg.admin_token)
    key_given = bool(cfg.create_key)
    app = create_app(cfg)
    app[HUB].listener = listener  # (/api/metrics reports its counts)

    async def announce(app: web.Application) -> None:
        hub = app[HUB]
        # What start-up allocated lives as long as the process: out of the garbage collector's
        # sight, full collections (a join's burst of aiortc objects triggers them) pause the
        # event loop, and so every meeting's packets, for much less (docs/performance.md)
        gc.collect()
        gc.freeze()
        print(f"Sitroom is serving {cfg.base_url}/", flush=True)
        if hub.demo_links:
            print(f"  demo room, host link:        {hub.demo_links['host']}", flush=True)
            print(f"  demo room, participant link: {hub.demo_links['participant']}", flush=True)
            print(f"  demo room, code:             {hub.demo_code} (type it on {cfg.base_url}/)", flush=True)
        if key_given:
            print(f"  create rooms: {cfg.base_url}/#organiser=<the organiser key you configured>", flush=True)
        else:
            print(f"  create rooms: {cfg.organiser_link()}", flush=True)
            print(f"    (the organiser key, kept in {cfg.organiser_key_path}: give this link only to organisers)",
                  flush=True)
        if not token_given:
            print(f"  metrics: {cfg.base_url}/api/metrics with 'Authorization: Bearer <the token in "
                  f"{Path(cfg.data_dir) / 'admin-token'}>'", flush=True)

    app.on_startup.append(announce)
    from media.loop import new_event_loop

    loop = new_event_loop(cfg.rx_batch_ms)
    serve(app, listener, loop, shutdown_timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
