"""Issue "survive": only organisers create rooms, and the HTTP API has rate limits per client address.

Against real servers: no organiser key, a wrong one, the right one; a key the server generates is
kept across restarts and printed as a start-page link; the production limits refuse a flood of room
creations and code guesses with 429, ``Retry-After`` and ``rate_limited``, while pages and /healthz
stay open. In this process: the limiter table per address (another address is unaffected, the table
stays bounded) and the settings.
"""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from server import ratelimit
from server.api import HTTP_LIMITS, RATE_LIMITS, limit_of, rate_limit_middleware, rate_limits
from server.cli import _parser, build_config
from server.config import ConfigError, from_env
from server.ratelimit import AddressLimits, client_key
from tests.conftest import ORGANISER_KEY, organiser_header, start_server, stop_server
from tests.room_harness import db_count, module_server

pytestmark = pytest.mark.timeout(120)

server = module_server("organiser")


def request(url: str, method: str = "GET", body: dict | None = None, headers: dict | None = None):
    """-> (status, JSON answer or None, headers)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            raw = response.read()
            return response.status, _json(raw, response.headers), response.headers
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, _json(raw, error.headers), error.headers


def _json(raw: bytes, headers) -> dict | None:
    return json.loads(raw) if headers.get("Content-Type", "").startswith("application/json") else None


def create(base_url: str, key: str | None, title: str = "Flood control") -> tuple[int, dict | None, dict]:
    return request(base_url + "/api/rooms", "POST", {"title": title}, organiser_header(key))


# ---- the organiser key ------------------------------------------------------------------------

def test_creating_a_room_takes_the_organiser_key(server):
    before = db_count(server, "SELECT COUNT(*) FROM rooms")
    status, answer, _ = create(server.base_url, None)
    assert (status, answer["error"]["code"]) == (401, "organiser_key_required")
    assert "organiser key" in answer["error"]["message"]
    for wrong in ("nope", ORGANISER_KEY + "x", ORGANISER_KEY[:-1], "clé-organisateur"):
        status, answer, _ = request(server.base_url + "/api/rooms", "POST", {"title": "x"},
                                    {"Authorization": "Bearer " + wrong.encode().decode("latin-1")})
        assert (status, answer["error"]["code"]) == (403, "organiser_key_invalid"), wrong
    # the key is a header, never a URL parameter (URLs end up in logs)
    status, answer, _ = request(server.base_url + f"/api/rooms?t={ORGANISER_KEY}", "POST", {"title": "x"})
    assert status == 401
    assert db_count(server, "SELECT COUNT(*) FROM rooms") == before

    status, answer, _ = create(server.base_url, ORGANISER_KEY, "Budget review")
    assert status == 201 and answer["room"]["title"] == "Budget review"
    # joining needs no key: the code and the invite links are enough
    status, found, _ = request(server.base_url + "/api/codes/" + answer["code"])
    assert status == 200 and found["room"]["id"] == answer["room"]["id"]
    token = answer["links"]["participant"].split("?t=", 1)[1]
    status, room, _ = request(server.base_url + f"/api/rooms/{answer['room']['id']}",
                              headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and room["role"] == "participant"


def test_a_cross_site_text_plain_post_creates_nothing(server):
    """What any web page a city employee visits can send to an intranet server without a preflight."""
    before = db_count(server, "SELECT COUNT(*) FROM rooms")
    req = urllib.request.Request(server.base_url + "/api/rooms", data=b'{"title": "Sneaky"}', method="POST",
                                 headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code in (401, 415)
    assert json.loads(refused.value.read())["error"]["code"] in ("organiser_key_required", "unsupported_type")
    assert db_count(server, "SELECT COUNT(*) FROM rooms") == before


def test_a_generated_key_is_kept_across_restarts_and_printed(tmp_path):
    srv = start_server(tmp_path, organiser_key=None)
    try:
        path = tmp_path / "data" / "organiser-key"
        key = path.read_text().strip()
        assert len(key) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"create rooms: {srv.base_url}/#organiser={key}" in srv.log()
        assert create(srv.base_url, None)[0] == 401
        assert create(srv.base_url, key)[0] == 201
    finally:
        stop_server(srv)
    srv = start_server(tmp_path, organiser_key=None)
    try:
        assert path.read_text().strip() == key
        assert f"#organiser={key}" in srv.log()
        assert create(srv.base_url, key)[0] == 201
        assert create(srv.base_url, ORGANISER_KEY)[0] == 403
    finally:
        stop_server(srv)


# ---- rate limits, as in production ------------------------------------------------------------

def test_the_default_limits_refuse_a_flood_from_one_address(tmp_path):
    srv = start_server(tmp_path, rate_limit_scale=None)
    try:
        rate, burst = HTTP_LIMITS["create_room"]
        statuses = [create(srv.base_url, ORGANISER_KEY, f"Room {i}")[0] for i in range(burst + 5)]
        # the burst passes (a refill of 1 per 6 s may add one more on a slow machine), then 429
        passed = statuses.count(201)
        assert burst <= passed <= burst + 1 and statuses[:burst] == [201] * burst, statuses
        status, answer, headers = create(srv.base_url, ORGANISER_KEY)
        assert (status, answer["error"]["code"]) == (429, "rate_limited")
        assert 1 <= int(headers["Retry-After"]) <= round(1 / rate)
        assert db_count_of(tmp_path) == passed
        # a wrong key costs a token as well: guessing is no faster
        assert create(srv.base_url, "guess")[0] == 429

        rate, burst = HTTP_LIMITS["resolve_code"]
        guesses = [request(srv.base_url + f"/api/codes/AAA-AAA-{i:03d}")[0] for i in range(burst + 5)]
        assert guesses[:burst] == [404] * burst and guesses[-1] == 429, guesses
        status, answer, headers = request(srv.base_url + "/api/codes/AAA-AAA-AAA")
        assert (status, answer["error"]["code"]) == (429, "rate_limited") and int(headers["Retry-After"]) >= 1

        # the rest of the API, the pages and /healthz still answer
        assert request(srv.base_url + "/api/cities")[0] == 200
        for _ in range(30):
            assert request(srv.base_url + "/healthz")[0] == 200
        assert request(srv.base_url + "/")[0] != 429  # (503 when the client is not built)
    finally:
        stop_server(srv)


def db_count_of(tmp_path) -> int:
    class Server:
        db_path = tmp_path / "data" / "sitroom.db"
    return db_count(Server, "SELECT COUNT(*) FROM rooms")


def mocked(method: str, path: str, address: str, app: web.Application) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (address, 40000, 0, 0) if ":" in address else (address, 40000)) if name == "peername" else default
    return make_mocked_request(method, path, app=app, transport=transport)


async def test_the_middleware_limits_each_address_on_its_own():
    app = web.Application()
    app[RATE_LIMITS] = rate_limits()
    _, burst = HTTP_LIMITS["create_room"]

    async def created(request):
        return web.json_response({}, status=201)

    async def send(address: str):
        return await rate_limit_middleware(mocked("POST", "/api/rooms", address, app), created)

    assert [(await send("127.0.0.1")).status for _ in range(burst)] == [201] * burst
    refused = await send("127.0.0.1")
    assert refused.status == 429 and json.loads(refused.body)["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await send("::1")).status == 201  # another address: its own bucket
    assert (await send("::ffff:127.0.0.1")).status == 429  # the same client over IPv6
    # static files and /healthz pass, however many
    for path in ("/healthz", "/static/app.js", "/", "/r/abc"):
        for _ in range(burst * 3):
            assert (await rate_limit_middleware(mocked("GET", path, "127.0.0.1", app), created)).status == 201


def test_which_routes_count_against_which_limit():
    app = web.Application()
    cases = {("POST", "/api/rooms"): "create_room", ("GET", "/api/codes/K7M-4PD-Q2R"): "resolve_code",
             ("GET", "/api/rooms/abc"): "api", ("GET", "/api/cities"): "api",
             ("POST", "/api/rooms/abc/documents"): "api", ("GET", "/healthz"): None, ("GET", "/"): None,
             ("GET", "/static/app.js"): None, ("GET", "/socket.io/"): None, ("GET", "/r/abc"): None}
    for (method, path), expected in cases.items():
        assert limit_of(mocked(method, path, "127.0.0.1", app)) == expected, path


def test_client_keys():
    assert client_key("127.0.0.1") == "127.0.0.1"
    assert client_key("::ffff:127.0.0.1") == "127.0.0.1"
    assert client_key("::1") == client_key("::ffff:1") == "::/64"  # one /64, one client
    assert client_key("0:0:0:1::1") != client_key("::1")
    assert client_key("::1") != client_key("127.0.0.1")
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key(None) == "?"


def test_the_table_per_address_stays_bounded(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    limits = AddressLimits(rate=1.0, burst=2, max_clients=100)
    for i in range(5000):
        assert limits.take(f"client-{i}") == 0.0  # (the table takes any key; addresses are grouped before)
        assert len(limits) <= 100
    # a flooder stays refused while others come and go (it is the most recently seen)
    assert limits.take("flooder") == 0.0 and limits.take("flooder") == 0.0
    assert limits.take("flooder") == pytest.approx(1.0)
    for i in range(50):
        limits.take(f"passer-by-{i}")
        assert limits.take("flooder") > 0
    # buckets that have filled up again are dropped: the table empties once everyone is idle
    now[0] += 10
    limits.take("newcomer")
    assert len(limits) == 1


def test_settings_of_the_organiser_key_and_the_rate_limits(tmp_path):
    def serve(*flags: str):
        return build_config(_parser().parse_args(["serve", *flags]))

    assert serve("--organiser-key", "k1").create_key == "k1"
    assert serve("--create-key", "k2").create_key == "k2"  # the older name still works
    assert from_env({"SITROOM_ORGANISER_KEY": "k3"}).create_key == "k3"
    assert from_env({"SITROOM_CREATE_KEY": "k4"}).create_key == "k4"
    assert from_env({}).rate_limit_scale == 1.0
    assert from_env({"SITROOM_RATE_LIMIT_SCALE": "50"}).rate_limit_scale == 50.0
    assert serve("--rate-limit-scale", "10").rate_limit_scale == 10.0
    with pytest.raises(ConfigError, match="not a number"):
        from_env({"SITROOM_RATE_LIMIT_SCALE": "lots"})
    cfg = serve("--rate-limit-scale", "0")
    with pytest.raises(ConfigError, match="rate limit scale"):
        cfg.validate()
    cfg = serve("--data-dir", str(tmp_path), "--public-url", "https://sitroom.city.example/")
    key = cfg.organiser_key()
    assert (tmp_path / "organiser-key").read_text().strip() == key
    assert cfg.organiser_link() == f"https://sitroom.city.example/#organiser={key}"
    assert serve("--organiser-key", "a b/c").organiser_link().endswith("/#organiser=a%20b%2Fc")
