"""Fixtures shared by the whole suite.

``sitroom_server`` starts the real ``sitroom serve`` in a subprocess (its own CPU and counters are
then the SFU's alone), on a free loopback port, with a fresh SQLite database and test mode on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.media_pools"]  # the media worker tests' fixtures: client_peers, worker_pools
IN_CI = os.environ.get("CI", "").lower() == "true"
ADMIN_TOKEN = "test-admin-token"  # what every test server's /api/metrics asks for
ORGANISER_KEY = "test-organiser-key"  # what every test server's POST /api/rooms asks for
# Test servers create hundreds of rooms from 127.0.0.1: their HTTP rate limits are this many times
# the production ones (tests/test_access.py checks the defaults on a server started with None).
TEST_RATE_LIMIT_SCALE = 1000


def pytest_addoption(parser):
    parser.addoption("--media-workers", type=int, default=2,
                     help="media worker processes of every server the tests start (SITROOM_MEDIA_WORKERS; "
                          "0: the SFU in the server process); default 2, as CI runs them")


def pytest_configure(config):
    # The servers the tests start (subprocesses, and apps made in this process from the
    # environment) run their SFU in this many media worker processes.
    os.environ["SITROOM_MEDIA_WORKERS"] = str(config.getoption("--media-workers"))


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: with CI=true a missing browser, database or Redis is a failure."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def redis_up(address: tuple[str, int] = ("127.0.0.1", 6379)) -> bool:
    """Whether Redis answers PING at ``address`` (the suite's, for tests of several nodes)."""
    try:
        with socket.create_connection(address, timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get_json(self, path: str, token: str | None = None) -> dict:
        request = urllib.request.Request(self.base_url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def post_json(self, path: str, body: dict, token: str | None = None) -> dict:
        request = urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **organiser_header(token)}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def create_room(self, title: str = "Test meeting") -> dict:
        return self.post_json("/api/rooms", {"title": title}, ORGANISER_KEY)

    def metrics(self) -> dict:
        return self.get_json("/api/metrics", ADMIN_TOKEN)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def organiser_header(key: str | None = ORGANISER_KEY) -> dict[str, str]:
    """The header creating a room takes (none for ``None``)."""
    return {"Authorization": f"Bearer {key}"} if key else {}


def start_server(tmp: Path, *extra: str, admin_token: str | None = ADMIN_TOKEN,
                 organiser_key: str | None = ORGANISER_KEY,
                 rate_limit_scale: float | None = TEST_RATE_LIMIT_SCALE,
                 port: int | None = None, preexec_fn=None) -> ServerProcess:
    """``sitroom serve`` in a subprocess on ``tmp``'s data (on ``port``, or a free one), once it
    answers; ``organiser_key=None`` lets it generate its own key, ``rate_limit_scale=None`` keeps the
    production rate limits; ``preexec_fn`` runs in the child first (e.g. a lower RLIMIT_NOFILE)."""
    port = port or free_port()
    log_path = tmp / "server.log"
    cmd = [
        sys.executable, "-m", "server.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(tmp / "data"),
        "--secret", "test-secret",
        "--ice-address", "127.0.0.1",
        # every client of a test or benchmark is 127.0.0.1 (bench/sfu.py: 150 viewers); a later
        # --max-connections-per-address in extra wins
        "--max-connections-per-address", "1000",
        "--test-mode", *(["--admin-token", admin_token] if admin_token else []),
        *(["--organiser-key", organiser_key] if organiser_key else []),
        *(["--rate-limit-scale", str(rate_limit_scale)] if rate_limit_scale else []), *extra,
    ]
    tmp.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1):
                return ServerProcess(proc, base_url, log_path)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not answer within 30 s:\n{log_path.read_text()}")


def end_process(proc: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if the process is still there 10 s later (a test never hangs on it)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def stop_server(server: ServerProcess) -> None:
    end_process(server.proc)


@pytest.fixture
def sitroom_server(tmp_path):
    server = start_server(tmp_path)
    yield server
    stop_server(server)


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main thread
    for as long as the session-scoped browser lives, and pytest-asyncio cannot run after that."""
    items.sort(key=lambda item: "browser" in item.keywords or "/browser/" in str(item.fspath))
