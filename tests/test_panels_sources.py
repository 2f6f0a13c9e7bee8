"""HttpSource against a real aiohttp server on 127.0.0.1, SimulatedSource, and the PanelRunner."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp import web

from rooms.panels.cities import CITIES
from rooms.panels.feed import CityFeed
from rooms.panels.sources import (
    PanelRunner,
    SimulatedSource,
    SourceError,
    make_source,
    parse_csv,
    parse_json,
)
from rooms.panels.spec import PanelError, PanelSpec
from rooms.panels.urlpolicy import UrlPolicy
from server.panel_http import HttpSource, http_source_factory

WAIT = 10.0  # upper bound for every wait in this file
LOOPBACK = UrlPolicy.parse(["127.0.0.0/8"])  # the test servers; the default policy refuses loopback

RECORDS = [
    {"district": "Mapo", "pm25": 21.5, "status": "moderate"},
    {"district": "Gangnam", "pm25": 33.0, "status": "moderate", "note": "sensor 4 offline"},
]
TIMESERIES = {"t": ["2025-03-04T00:00:00Z", "2025-03-04T00:01:00Z"], "series": {"a": [1, 2]}, "unit": "km/h"}
CSV_TABLE = "road,district,speed\nTeheran-ro,Gangnam,23.5\nMapo-daero,Mapo,31\n"
CSV_TS = "timestamp,Mapo,Gangnam\n2025-03-04T00:00:00Z,21.5,30\n2025-03-04T00:01:00Z,22,\n"


@contextlib.asynccontextmanager
async def local_http(handle):
    """An aiohttp server on 127.0.0.1 (a free port) answering GET /{name} with ``handle``; yields
    its base URL."""
    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def server():
    release = asyncio.Event()
    hits: dict[str, int] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hits[name] = hits.get(name, 0) + 1
        if name == "records.json":
            return web.json_response(RECORDS)
        if name == "nested.json":
            return web.json_response({"data": {"items": RECORDS, "count": 2}})
        if name == "timeseries.json":
            return web.json_response(TIMESERIES)
        if name == "kpi.json":
            return web.json_response({"Open": 3, "Dispatched": 5})
        if name == "table.csv":
            return web.Response(text=CSV_TABLE, content_type="text/csv")
        if name == "ts.csv":
            return web.Response(text=CSV_TS, content_type="text/csv")
        if name == "error":
            return web.Response(status=500, text="boom")
        if name == "missing":
            return web.Response(status=404)
        if name == "big.json":
            return web.Response(body=b"[" + b"1," * (1024 * 1024) + b"1]", content_type="application/json")
        if name == "big-stream":
            # No Content-Length: the cap has to hold while reading.
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(64):
                await resp.write(b"x" * 65536)
            return resp
        if name == "redirect":
            raise web.HTTPFound(request.query["to"])
        if name == "loop":
            raise web.HTTPFound("/loop")
        if name == "bad.csv":
            return web.Response(text='a,b\n"unclosed,1\n', content_type="text/csv")
        if name == "malformed.json":
            return web.Response(text='{"columns": ["a"], "rows": [[1]', content_type="application/json")
        if name == "wrong-shape.json":
            return web.json_response({"hello": "world"})
        if name == "latin1.csv":
            return web.Response(body="a,b\n\xff\xfe,1\n".encode("latin-1"), content_type="text/csv", charset="utf-8")
        if name == "slow":
            try:
                await asyncio.wait_for(release.wait(), timeout=WAIT)
            except asyncio.TimeoutError:
                pass
            return web.json_response(RECORDS)
        if name == "flaky.json":
            if hits[name] % 2 == 0:
                return web.Response(status=503)
            return web.json_response(RECORDS)
        raise web.HTTPNotFound()

    async with local_http(handle) as url:
        yield url, hits
        release.set()  # a slow handler still waiting returns before the server stops


async def fetch(url: str, **kw: Any) -> Any:
    kw.setdefault("policy", LOOPBACK)
    src = HttpSource(url, **kw)
    try:
        return await asyncio.wait_for(src.fetch(), WAIT)
    finally:
        await src.aclose()


# --------------------------------------------------------------------------------------------
# HttpSource


async def test_json_records_become_a_table(server) -> None:
    base, _ = server
    data = await fetch(f"{base}/records.json", kind="table")
    assert data["columns"] == ["district", "pm25", "status", "note"]
    assert data["rows"] == [["Mapo", 21.5, "moderate", None], ["Gangnam", 33.0, "moderate", "sensor 4 offline"]]


async def test_json_path(server) -> None:
    base, _ = server
    data = await fetch(f"{base}/nested.json", path="data.items", kind="table")
    assert len(data["rows"]) == 2
    with pytest.raises(SourceError, match="not found"):
        await fetch(f"{base}/nested.json", path="data.nothing", kind="table")


async def test_json_already_panel_data(server) -> None:
    base, _ = server
    assert await fetch(f"{base}/timeseries.json", kind="timeseries") == TIMESERIES


async def test_json_mapping_becomes_kpi_tiles(server) -> None:
    base, _ = server
    data = await fetch(f"{base}/kpi.json", kind="kpi")
    assert [(t["label"], t["value"]) for t in data["tiles"]] == [("Open", 3), ("Dispatched", 5)]


async def test_csv_table(server) -> None:
    base, _ = server
    data = await fetch(f"{base}/table.csv", format="csv", kind="table")
    assert data == {
        "columns": ["road", "district", "speed"],
        "rows": [["Teheran-ro", "Gangnam", 23.5], ["Mapo-daero", "Mapo", 31]],
    }


async def test_csv_timeseries(server) -> None:
    base, _ = server
    data = await fetch(f"{base}/ts.csv", format="csv", kind="timeseries")
    assert data["t"] == ["2025-03-04T00:00:00Z", "2025-03-04T00:01:00Z"]
    assert data["series"] == {"Mapo": [21.5, 22], "Gangnam": [30, None]}


async def test_csv_timeseries_needs_a_time_column(server) -> None:
    base, _ = server
    with pytest.raises(SourceError, match="time column"):
        await fetch(f"{base}/table.csv", format="csv", kind="timeseries")


@pytest.mark.parametrize("name, message", [("error", "HTTP 500 Internal Server Error"), ("missing", "HTTP 404 Not Found")])
async def test_http_error_status(server, name: str, message: str) -> None:
    base, _ = server
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/{name}")
    assert e.value.message == message


async def test_oversized_body_with_length(server) -> None:
    base, _ = server
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/big.json", max_bytes=1024 * 1024)
    assert e.value.message == "response larger than 1048576 bytes"


async def test_oversized_streamed_body(server) -> None:
    base, _ = server
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/big-stream", max_bytes=256 * 1024)
    assert e.value.message == "response larger than 262144 bytes"


async def test_malformed_json(server, caplog) -> None:
    base, _ = server
    caplog.set_level("INFO", logger="rooms.panels.sources")
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/malformed.json")
    assert e.value.message == "response is not valid JSON"
    assert "Expecting" in caplog.text, "the parser's details are logged, not shown"


async def test_malformed_csv(server) -> None:
    base, _ = server
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/bad.csv", format="csv")
    assert e.value.message == "response is not valid CSV"


async def test_json_of_the_wrong_shape(server) -> None:
    base, _ = server
    with pytest.raises(SourceError):
        await fetch(f"{base}/wrong-shape.json", kind="timeseries")


async def test_csv_in_the_wrong_encoding(server) -> None:
    base, _ = server
    with pytest.raises(SourceError, match="encoding"):
        await fetch(f"{base}/latin1.csv", format="csv")


async def test_slow_endpoint_times_out(server) -> None:
    base, _ = server
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/slow", timeout_s=0.2)
    assert e.value.message == "timed out after 0.2 s"


async def closed_port() -> int:
    """A loopback port nobody listens on: bind one, then close it."""
    s = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = s.sockets[0].getsockname()[1]
    s.close()
    await s.wait_closed()
    return port


async def test_connection_refused(server, caplog) -> None:
    port = await closed_port()
    caplog.set_level("INFO", logger="rooms.panels.sources")
    with pytest.raises(SourceError) as e:
        await fetch(f"http://127.0.0.1:{port}/x")
    assert e.value.message == f"could not connect to 127.0.0.1:{port}"
    assert "ClientConnectorError" in caplog.text, "the exception is logged for the operator"


# --------------------------------------------------------------------------------------------
# The URL allow-list at fetch time (SSRF); every server here is on 127.0.0.1


@pytest.fixture
async def other_server():
    """A second server on 127.0.0.1 (another port) that counts what reaches it."""
    hits = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response(RECORDS)

    async with local_http(handle) as url:
        yield url, hits


async def test_the_default_policy_refuses_loopback_without_connecting(server) -> None:
    base, hits = server
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/records.json", policy=UrlPolicy())
    assert e.value.message.startswith("127.0.0.1 is a loopback address")
    assert "SITROOM_PANEL_URL_ALLOW" in e.value.message
    assert hits == {}, "nothing was sent"


async def test_a_listed_host_and_port_is_fetched_and_another_port_refused(server, other_server) -> None:
    base, hits = server
    other, other_hits = other_server
    policy = UrlPolicy.parse([base.removeprefix("http://")])
    data = await fetch(f"{base}/records.json", policy=policy)
    assert data["columns"][0] == "district" and hits["records.json"] == 1
    with pytest.raises(SourceError, match="loopback address"):
        await fetch(f"{other}/records.json", policy=policy)
    assert other_hits == []


async def test_a_name_that_resolves_to_a_refused_address_is_refused(server) -> None:
    # "0x7f000001" is no IP literal to the URL parser, but the resolver turns it into 127.0.0.1
    # (locally, no DNS): the check after resolution catches it.
    base, hits = server
    port = base.rsplit(":", 1)[1]
    with pytest.raises(SourceError) as e:
        await fetch(f"http://0x7f000001:{port}/records.json", policy=UrlPolicy())
    assert e.value.message.startswith("0x7f000001 resolves to a loopback address")
    assert hits == {}


async def test_redirects_are_followed_to_allowed_urls_only(server, other_server) -> None:
    base, hits = server
    other, other_hits = other_server
    # Within the allow-list: followed.
    data = await fetch(f"{base}/redirect?to=/records.json")
    assert data["rows"] and hits["records.json"] == 1
    # To a host:port the list does not name: refused before anything is sent there.
    only_first = UrlPolicy.parse([base.removeprefix("http://")])
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/redirect?to={other}/records.json", policy=only_first)
    assert e.value.message.startswith("redirected to a URL that is not allowed: 127.0.0.1 is a loopback address")
    assert other_hits == []
    # To a name that resolves to a refused address (checked after resolution, on the redirect too).
    port = base.rsplit(":", 1)[1]
    public_and_first = UrlPolicy.parse(["public", base.removeprefix("http://")])
    with pytest.raises(SourceError, match="redirected to a URL that is not allowed: 0x7f000001 resolves to a loopback"):
        await fetch(f"{base}/redirect?to=http://0x7f000001:{port}/records.json", policy=public_and_first)
    assert hits["records.json"] == 1, "only the first, allowed fetch reached it"
    # To another scheme.
    with pytest.raises(SourceError, match="redirected to a URL that is not allowed"):
        await fetch(f"{base}/redirect?to=file:///etc/passwd")
    # Endless redirects stop.
    with pytest.raises(SourceError) as e:
        await fetch(f"{base}/loop")
    assert e.value.message == "too many redirects (more than 3)" and hits["loop"] == 4


def test_http_source_refuses_other_schemes() -> None:
    with pytest.raises(PanelError):
        HttpSource("file:///etc/passwd")
    with pytest.raises(PanelError):
        HttpSource("http://example.org/", kind="pie")


def test_parsers_directly() -> None:
    assert parse_json(b'[{"label": "Open", "value": "4"}]', "kpi")["tiles"][0]["value"] == 4
    with pytest.raises(SourceError):
        parse_json(b'[1, 2, 3]', "table")
    with pytest.raises(SourceError):
        parse_json(b"\xff\xfe\x00garbage", "table")
    with pytest.raises(SourceError, match="fields"):
        parse_csv("a,b\n1,2,3\n", "table")
    with pytest.raises(SourceError, match="header"):
        parse_csv("a,a\n1,2\n", "table")
    with pytest.raises(SourceError, match="empty"):
        parse_csv("\n\n", "table")
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(SourceError):
        parse_json(deep, "table")


# --------------------------------------------------------------------------------------------
# SimulatedSource and make_source


async def test_simulated_source() -> None:
    feed = CityFeed(1, clock=lambda: datetime(2025, 3, 4, tzinfo=timezone.utc))
    src = SimulatedSource(feed, "traffic", "kpi")
    data = await src.fetch()
    assert data["tiles"][0]["unit"] == "km/h"
    bad = SimulatedSource(feed, "air_quality", "timeseries", options={"pollutant": "co2"})
    with pytest.raises(SourceError):
        await bad.fetch()


def test_make_source() -> None:
    feed = CityFeed(1)
    sim = PanelSpec.new("r", "AQ", "table", {"type": "simulated", "feed": "air_quality", "interval_s": 5})
    src = make_source(sim, feed)
    assert isinstance(src, SimulatedSource) and src.interval_s == 5
    http = PanelSpec.new("r", "T", "table", {"type": "http", "url": "http://127.0.0.1:1/x.csv", "format": "csv"})
    src = make_source(http, http_source=http_source_factory())
    assert isinstance(src, HttpSource) and src.format == "csv" and src.interval_s == 30


def test_make_source_reads_the_panels_city() -> None:
    world = CityFeed(1)
    lisbon = make_source(PanelSpec.new("r", "PM2.5, Lisbon", "timeseries",
                                       {"type": "simulated", "feed": "air_quality", "city": "lisbon"}), world)
    lagos = make_source(PanelSpec.new("r", "Roads, Lagos", "table",
                                      {"type": "simulated", "feed": "traffic", "city": "lagos"}), world)
    old = make_source(PanelSpec.from_dict({"id": "p", "room_id": "r", "title": "Stored before cities",
                                           "kind": "timeseries", "source": {"type": "simulated", "feed": "air_quality"}}),
                      world)
    assert lisbon.feed.city.id == "lisbon" and lagos.feed.city.id == "lagos" and old.feed is world
    assert set(lisbon.feed.snapshot("air_quality")["series"]) == set(CITIES["lisbon"].districts)
    assert {row[0] for row in lagos.feed.snapshot("traffic", "table")["rows"]} == set(CITIES["lagos"].roads)
    assert set(old.feed.snapshot("air_quality")["series"]) == set(CITIES["seoul"].districts)
    # Every panel of a city reads the one feed of that city.
    again = make_source(PanelSpec.new("r", "AQ table", "table",
                                      {"type": "simulated", "feed": "air_quality", "city": "lisbon"}), world)
    assert again.feed is lisbon.feed


# --------------------------------------------------------------------------------------------
# PanelRunner


class CountingSource:
    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.n = 0

    async def fetch(self) -> dict:
        self.n += 1
        return {"tiles": [{"label": "n", "value": self.n, "unit": "", "trend": "up", "status": "good"}]}


class FailingSource:
    interval_s = 0.01

    def __init__(self, exc: Exception) -> None:
        self.exc = exc
        self.calls = 0

    async def fetch(self) -> dict:
        self.calls += 1
        raise self.exc


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[str, Any, Any]] = []
        self.changed = asyncio.Event()

    async def __call__(self, panel_id: str, data: Any, error: Any) -> None:
        self.updates.append((panel_id, data, error))
        self.changed.set()

    def of(self, panel_id: str) -> list[tuple[Any, Any]]:
        return [(d, e) for p, d, e in self.updates if p == panel_id]

    async def until(self, predicate) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), WAIT)


def spec(panel_id: str, kind: str = "kpi") -> PanelSpec:
    return PanelSpec(panel_id, "room1", f"Panel {panel_id}", kind, {"type": "simulated", "feed": "traffic"})


async def test_runner_updates_repeatedly_and_keeps_latest() -> None:
    rec = Recorder()
    runner = PanelRunner(rec, min_interval_s=0)
    src = CountingSource()
    try:
        await runner.start(spec("a"), src)
        await rec.until(lambda: len(rec.of("a")) >= 5)
        assert runner.running() == ["a"]
        values = [d["tiles"][0]["value"] for d, e in rec.of("a")]
        assert values == sorted(values) and len(set(values)) == len(values)
        latest = runner.latest("a")
        assert latest is not None and latest.error is None and latest.ok_at is not None
        assert latest.data["tiles"][0]["value"] >= values[-1]
        assert json.dumps(latest.to_dict())
    finally:
        await runner.stop_all()
    assert runner.running() == [] and runner.latest("a") is None
    n = src.n
    await asyncio.sleep(0.05)
    assert src.n == n, "stopped panels are no longer polled"


async def test_failing_source_does_not_stop_other_panels() -> None:
    rec = Recorder()
    runner = PanelRunner(rec, min_interval_s=0, max_backoff_s=0.02)
    try:
        bad, bug = FailingSource(SourceError("HTTP 500")), FailingSource(RuntimeError("a bug in a source"))
        await runner.start(spec("bad"), bad)
        await runner.start(spec("bug"), bug)
        await runner.start(spec("good"), CountingSource())
        await rec.until(lambda: len(rec.of("good")) >= 5 and bad.calls >= 3 and bug.calls >= 3)
        # The same error again is not sent again; the failing panels keep being polled.
        assert rec.of("bad") == [(None, "HTTP 500")]
        assert all(e and "RuntimeError" in e for d, e in rec.of("bug"))
        assert all(e is None for d, e in rec.of("good"))
        assert runner.latest("bad").error == "HTTP 500"
        assert sorted(runner.running()) == ["bad", "bug", "good"]
    finally:
        await runner.stop_all()


async def test_error_keeps_last_good_data(server) -> None:
    base, hits = server
    rec = Recorder()
    runner = PanelRunner(rec, min_interval_s=0)
    src = HttpSource(f"{base}/flaky.json", kind="table", policy=LOOPBACK)
    src.interval_s = 0.01  # faster than a PanelSpec allows, for the test
    try:
        await runner.start(spec("flaky", "table"), src)
        await rec.until(lambda: any(e for _, e in rec.of("flaky")))
        first_ok, first_err = rec.of("flaky")[0], next(u for u in rec.of("flaky") if u[1])
        assert first_ok[1] is None and first_ok[0]["columns"][0] == "district"
        assert first_err[1].startswith("HTTP 503")
        assert first_err[0] == first_ok[0], "the error carries the last good data"
    finally:
        await runner.stop_all()
    assert src._session is None, "the runner closes the source's HTTP session"


async def test_raising_callback_does_not_stop_the_panel() -> None:
    calls = 0
    done = asyncio.Event()

    async def on_update(panel_id: str, data: Any, error: Any) -> None:
        nonlocal calls
        calls += 1
        if calls >= 3:
            done.set()
        raise RuntimeError("client gone")

    runner = PanelRunner(on_update, min_interval_s=0)
    try:
        await runner.start(spec("a"), CountingSource())
        await asyncio.wait_for(done.wait(), WAIT)
    finally:
        await runner.stop_all()


async def test_start_twice_restarts_and_stop_unknown() -> None:
    rec = Recorder()
    runner = PanelRunner(rec, min_interval_s=0)
    first, second = CountingSource(), CountingSource()
    try:
        await runner.start(spec("a"), first)
        await rec.until(lambda: len(rec.of("a")) >= 1)
        await runner.start(spec("a"), second)
        n = first.n
        await rec.until(lambda: second.n >= 2)
        assert first.n == n
        assert runner.running() == ["a"]
        assert await runner.stop("nope") is False
        assert await runner.stop("a") is True
    finally:
        await runner.stop_all()


async def test_runner_is_bounded() -> None:
    runner = PanelRunner(Recorder(), max_panels=2, min_interval_s=0)
    try:
        await runner.start(spec("a"), CountingSource(1.0))
        await runner.start(spec("b"), CountingSource(1.0))
        with pytest.raises(PanelError) as e:
            await runner.start(spec("c"), CountingSource(1.0))
        assert e.value.code == "too_many_panels"
    finally:
        await runner.stop_all()


async def test_runner_polls_each_panel_in_its_own_city() -> None:
    rec = Recorder()
    runner = PanelRunner(rec, feed=CityFeed(3), min_interval_s=0)
    source = {"type": "simulated", "feed": "air_quality", "interval_s": 1}
    try:
        await runner.start(PanelSpec("lisbon", "room1", "PM2.5, Lisbon", "timeseries", {**source, "city": "lisbon"}))
        await runner.start(PanelSpec("bogota", "room1", "PM2.5, Bogotá", "timeseries", {**source, "city": "bogota"}))
        await rec.until(lambda: rec.of("lisbon") and rec.of("bogota"))
        (lisbon, _), (bogota, _) = rec.of("lisbon")[0], rec.of("bogota")[0]
        assert set(lisbon["series"]) == set(CITIES["lisbon"].districts)
        assert set(bogota["series"]) == set(CITIES["bogota"].districts)
    finally:
        await runner.stop_all()


async def test_runner_with_simulated_panel_spec() -> None:
    rec = Recorder()
    runner = PanelRunner(rec, feed=CityFeed(3))
    try:
        await runner.start(spec("traffic", "table"))
        await rec.until(lambda: len(rec.of("traffic")) >= 1)
        data, error = rec.of("traffic")[0]
        assert error is None and data["columns"][0] == "Road"
        assert runner.latest("traffic").data == data
    finally:
        await runner.stop_all()


class ConstantSource:
    interval_s = 0.01

    def __init__(self, fetches_wanted: int) -> None:
        self.n = 0
        self.enough = asyncio.Event()
        self.wanted = fetches_wanted

    async def fetch(self) -> dict:
        self.n += 1
        if self.n >= self.wanted:
            self.enough.set()
        return {"columns": ["a"], "rows": [[1]]}


@pytest.mark.parametrize("notify_unchanged", [False, True])
async def test_unchanged_data_is_not_sent_again(notify_unchanged: bool) -> None:
    rec = Recorder()
    runner = PanelRunner(rec, min_interval_s=0, notify_unchanged=notify_unchanged)
    src = ConstantSource(5)
    try:
        await runner.start(spec("c", "table"), src)
        await asyncio.wait_for(src.enough.wait(), WAIT)
        await rec.until(lambda: len(rec.of("c")) >= 1)
    finally:
        await runner.stop_all()
    if notify_unchanged:
        assert len(rec.of("c")) >= 4
    else:
        assert len(rec.of("c")) == 1


@pytest.mark.parametrize("allowed", [True, False])
async def test_runner_fetches_http_panels_under_its_url_policy(server, allowed: bool) -> None:
    base, hits = server
    rec = Recorder()
    runner = PanelRunner(rec, min_interval_s=0, http_source=http_source_factory(LOOPBACK if allowed else None))
    panel = PanelSpec("h", "room1", "Records", "table",
                      {"type": "http", "url": f"{base}/records.json", "format": "json", "interval_s": 60})
    try:
        await runner.start(panel)
        await rec.until(lambda: len(rec.of("h")) >= 1)
    finally:
        await runner.stop_all()
    data, error = rec.of("h")[0]
    if allowed:
        assert error is None and data["columns"][0] == "district"
    else:
        assert data is None and error.startswith("127.0.0.1 is a loopback address")
        assert hits == {}


async def test_panel_status_times_are_utc_with_z() -> None:
    rec = Recorder()
    runner = PanelRunner(rec, min_interval_s=0)
    try:
        await runner.start(spec("a"), CountingSource(1.0))
        await rec.until(lambda: len(rec.of("a")) >= 1)
        d = runner.latest("a").to_dict()
    finally:
        await runner.stop_all()
    for key in ("updated_at", "ok_at"):
        assert d[key].endswith("Z") and "+00:00" not in d[key]
        assert datetime.fromisoformat(d[key]).tzinfo is not None
