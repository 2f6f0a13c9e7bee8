"""Browser fixtures: headless Debian Chromium driven by Playwright, against the real server.

``browser``   one Chromium for the session, with fake camera/microphone and loopback WebRTC.
``server``    ``sitroom serve`` in a subprocess (test mode, fresh SQLite); yields its base URL.
``new_page``  factory: a page in a fresh browser context (own storage, own fake devices).
Helpers ``create_room``, ``join``, ``video_frames_advancing``, ``audio_packets_received`` are used
by the tests in this folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import (  # noqa: F401 - CHROMIUM_ARGS and the rest are this folder's API too
    CHROMIUM,
    CHROMIUM_ARGS,
    OUR_DISABLED_FEATURES,
    launch_chromium,
    playwright_disabled_features,
)
from tests.conftest import end_process

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"
SERVER_START_TIMEOUT_S = 30
JOIN_TIMEOUT_MS = 20_000


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium through the real pages")


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where a missing browser is an error."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


# ---- browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = launch_chromium(pw.chromium)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser):
    """new_page(viewport=..., permissions=(...), **context options such as locale, is_mobile) -> a
    Page in its own context (bypassing the server's Content-Security-Policy unless
    ``bypass_csp=False``); all are closed after the test."""
    contexts = []

    def make(viewport=None, permissions=(), **options):
        # Playwright's string predicates (wait_for_function) are eval'd in the page, which the
        # server's Content-Security-Policy forbids: tests bypass it, except test_csp.py's page.
        options.setdefault("bypass_csp", True)
        context = browser.new_context(
            viewport=viewport or {"width": 1280, "height": 720},
            permissions=["camera", "microphone", *permissions],
            **options,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: m.type in ("error", "warning") and print(f"[console {m.type}] {m.text}"))
        page.on("pageerror", lambda e: print(f"[pageerror] {e}"))
        return page

    yield make
    for context in contexts:
        try:
            context.close()
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass


# ---- server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_TOKEN = "test-admin-token"  # what the test server's /api/metrics asks for
ORGANISER_KEY = "test-organiser-key"  # what the test server's POST /api/rooms asks for


def launch(tmp: Path, port: int) -> subprocess.Popen:
    """``sitroom serve`` (test mode, demo room, SQLite in ``tmp``) in a subprocess on ``port``, once
    it answers ``/healthz``. Started by the calling thread, so inside a network lab if the thread
    is in one (tests/netlab.py). Launched again on the same ``tmp``, it serves the same data."""
    dist = REPO / "client_web" / "dist"
    if not (dist / "room.html").exists() or not list(dist.glob("app-*.js")):
        pytest.fail("client_web/dist is not built: run `cd client_web && npm ci && npm run build`",
                    pytrace=False)
    log_path = tmp / "server.log"
    cmd = [
        sys.executable, "-m", "server.cli", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--database", f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}",
        "--data-dir", str(tmp / "data"),
        "--secret", "test-secret",
        "--ice-address", "127.0.0.1",
        "--test-mode", "--demo", "--admin-token", ADMIN_TOKEN, "--organiser-key", ORGANISER_KEY,
        "--rate-limit-scale", "1000",  # the tests create many rooms from 127.0.0.1
        "--max-connections-per-address", "1000",  # every page and client here is 127.0.0.1
    ]
    with open(log_path, "a") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log_path.read_text()}", pytrace=False)
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not answer /healthz within {SERVER_START_TIMEOUT_S} s:\n"
                        f"{log_path.read_text()}", pytrace=False)
        time.sleep(0.1)


def stop(proc: subprocess.Popen, tmp: Path) -> None:
    """Stop a launched server (SIGTERM, then SIGKILL); its log is printed if it failed."""
    end_process(proc)
    log_path = tmp / "server.log"
    if proc.returncode not in (0, -15, -9) and log_path.exists():
        print(f"--- server log ---\n{log_path.read_text()[-4000:]}")


@contextlib.contextmanager
def serving(tmp: Path) -> Iterator[str]:
    """A launched server for the block; yields its base URL."""
    port = free_port()
    proc = launch(tmp, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, tmp)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The real server in a subprocess; yields its base URL (http://127.0.0.1:PORT).

    SITROOM_BROWSER_BASE_URL=http://... runs the tests against a server that is already running.
    """
    external = os.environ.get("SITROOM_BROWSER_BASE_URL")
    if external:
        yield external.rstrip("/")
        return
    with serving(tmp_path_factory.mktemp("sitroom-browser")) as base_url:
        yield base_url


# ---- helpers ---------------------------------------------------------------------------------


def create_room(base_url: str, title: str = "Browser test") -> dict:
    """POST /api/rooms -> {"room": {...}, "links": {"host": url, "participant": url}}."""
    request = urllib.request.Request(
        base_url + "/api/rooms", data=json.dumps({"title": title}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ORGANISER_KEY}"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status
        return json.loads(response.read())


def join_timed(page, url: str, name: str, organisation: str | None = None,
               timeout_ms: int = JOIN_TIMEOUT_MS) -> tuple[str, float]:
    """Open an invite link, fill the pre-join form, click Join and wait for the self tile.
    Returns (participant id, time.monotonic() just before the click)."""
    page.goto(url)
    page.fill("#prejoin-name", name)
    if organisation is not None:
        page.fill("#prejoin-org", organisation)
    page.wait_for_selector("#join-button:enabled")
    clicked_at = time.monotonic()
    page.click("#join-button")
    page.wait_for_selector('.tile[data-self="true"]', timeout=timeout_ms)
    return page.evaluate("window.sitroom.selfId()"), clicked_at


def join(page, url: str, name: str, organisation: str | None = None, timeout_ms: int = JOIN_TIMEOUT_MS) -> str:
    """Open an invite link, fill the pre-join form, click Join; return the participant id."""
    return join_timed(page, url, name, organisation, timeout_ms)[0]


def wait_for_tile(page, participant_id: str, timeout_ms: int = 15_000) -> None:
    page.wait_for_selector(f'.tile[data-participant-id="{participant_id}"]', timeout=timeout_ms)


def host_and_guest(base_url: str, new_page, title: str, host_name: str = "Host",
                   guest_name: str = "Guest") -> tuple:
    """A new room, its host and a participant joined on two pages, the guest's tile shown on the
    host's page. Returns (host page, guest page, host id, guest id)."""
    links = create_room(base_url, title)["links"]
    host, guest = new_page(), new_page()
    host_id = join(host, links["host"], host_name)
    guest_id = join(guest, links["participant"], guest_name)
    wait_for_tile(host, guest_id)
    return host, guest, host_id, guest_id


def show_panel(page, title: str = "PM2.5", kind: str = "timeseries", feed: str = "air_quality") -> str:
    """As a host: create a simulated panel and put it on the stage; returns its id."""
    return page.evaluate("""async ([title, kind, feed]) => {
        const ack = await window.sitroom.meeting.conn.request("panel_create",
            {title, kind, source: {type: "simulated", feed}});
        await window.sitroom.meeting.stageView.setStage({kind: "panel", panel_id: ack.panel.id});
        return ack.panel.id;
    }""", [title, kind, feed])


def wait_for_tile_gone(page, participant_id: str, timeout_ms: int = 10_000) -> None:
    page.wait_for_selector(f'.tile[data-participant-id="{participant_id}"]', state="detached",
                           timeout=timeout_ms)


_FRAMES_JS = """
async ([pid, frames, timeoutMs]) => {
  const deadline = performance.now() + timeoutMs;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let video = null;
  while (!video && performance.now() < deadline) {
    video = document.querySelector(`.tile[data-participant-id="${pid}"] video`);
    if (!video || !video.srcObject) { video = null; await sleep(100); }
  }
  if (!video) return {ok: false, why: "no video element with a stream", frames: 0};
  if (video.requestVideoFrameCallback) {
    let seen = 0, last = -1, width = 0;
    while (seen < frames && performance.now() < deadline) {
      const meta = await Promise.race([
        new Promise((r) => video.requestVideoFrameCallback((now, m) => r(m))),
        sleep(Math.max(0, Math.min(1000, deadline - performance.now()))).then(() => null),
      ]);
      if (meta && meta.presentedFrames !== last) { last = meta.presentedFrames; seen++; width = meta.width; }
    }
    return {ok: seen >= frames, frames: seen, width, height: video.videoHeight};
  }
  const start = video.getVideoPlaybackQuality().totalVideoFrames;
  let n = 0;
  while (performance.now() < deadline) {
    n = video.getVideoPlaybackQuality().totalVideoFrames - start;
    if (n >= frames) break;
    await sleep(100);
  }
  return {ok: n >= frames, frames: n, width: video.videoWidth, height: video.videoHeight};
}
"""


def video_frames_advancing(page, participant_id: str, frames: int = 5, timeout_s: float = 15) -> dict:
    """Wait (bounded) until the tile's <video> presents `frames` new frames; returns a dict with ok."""
    return page.evaluate(_FRAMES_JS, [participant_id, frames, int(timeout_s * 1000)])


_AUDIO_JS = """
async () => {
  const pc = window.sitroom.pcs.subscribe;
  if (!pc) return 0;
  let total = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") total += s.packetsReceived || 0;
  });
  return total;
}
"""


def audio_packets_received(page, minimum: int = 1, timeout_s: float = 10) -> int:
    """Audio packets received on the subscribe connection, polled until >= minimum or timeout."""
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = page.evaluate(_AUDIO_JS)
        if count >= minimum:
            break
        time.sleep(0.2)
    return count
