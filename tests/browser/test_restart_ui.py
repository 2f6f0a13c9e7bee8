"""The server stopped under a meeting (issue 15, "State that survives a restart"): two Chromium pages,
a panel on stage with following locked, the guest's raised hand and a host's held mute; the server
is SIGKILLed (or stopped with SIGTERM, when it tells the pages first) and started again on the same
data and address. Both pages come back on their own,
as the same participants with the same roles, and find the stage, the hand and the mute as they
were; the guest's video reaches the host again. Prints how long the pages took to come back."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from contextlib import closing

import pytest

from collab_helpers import SCREENSHOTS  # noqa: I001 - this folder's helpers
from conftest import free_port, host_and_guest, launch, show_panel, stop, video_frames_advancing

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

STAGE = '[data-testid="stage"]'
BACK_TIMEOUT_MS = 30_000  # a bound against hanging; the time taken is printed


def kept_state(tmp_path) -> dict:
    with closing(sqlite3.connect(tmp_path / "db.sqlite", timeout=10)) as db:
        rows = db.execute("SELECT stage, meeting FROM room_states").fetchall()
    return {"stages": [json.loads(r[0]) for r in rows], "meetings": [json.loads(r[1]) for r in rows]}


def wait_kept(tmp_path, ok, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        state = kept_state(tmp_path)
        if ok(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def request(page, event: str, payload: dict) -> dict:
    return page.evaluate("([event, payload]) => window.sitroom.meeting.conn.request(event, payload)",
                         [event, payload])


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_pages_come_back_after_a_restart_with_stage_hand_and_mute(tmp_path, new_page, stop_signal):
    port = free_port()
    proc = launch(tmp_path, port)
    try:
        base_url = f"http://127.0.0.1:{port}"
        host, guest, host_id, guest_id = host_and_guest(base_url, new_page, "Restart", "Mayor Host", "Councillor")
        assert video_frames_advancing(host, guest_id, frames=5)["ok"]
        panel_id = show_panel(host, "Air quality")
        request(host, "stage_follow_lock", {"locked": True})
        request(host, "set_allow_self_unmute", {"allowed": False})
        guest.click('[data-testid="raise-hand"]')
        host.wait_for_selector(f'.tile[data-participant-id="{guest_id}"] .hand-badge', state="visible")
        assert request(host, "mute", {"participant_id": guest_id, "kind": "audio"})["changed"]
        guest.wait_for_selector('[data-testid="ask-unmute"]', state="visible", timeout=10_000)
        guest.wait_for_selector(f'{STAGE}[data-kind="panel"] [data-panel-id="{panel_id}"]', timeout=10_000)
        kept = wait_kept(tmp_path, lambda s: any(m["hands"] and m["held"] for m in s["meetings"]))
        assert any(m["hands"] and m["held"] for m in kept["meetings"]), kept
        joins = [page.evaluate("window.sitroom.state.joins") for page in (host, guest)]

        # SIGKILL: the server says nothing and writes nothing on its way out; SIGTERM: it tells
        # the pages it is restarting and closes their connections
        proc.send_signal(stop_signal)
        proc.wait(timeout=20)
        killed_at = time.monotonic()
        if stop_signal == signal.SIGTERM:
            for page in (host, guest):
                page.wait_for_selector(".banner:has-text('The server is restarting')", timeout=10_000)
        proc = launch(tmp_path, port)  # the same data, the same address
        answering_at = time.monotonic()

        for page, before in zip((host, guest), joins):
            page.wait_for_function(
                "(before) => window.sitroom.state.status === 'joined' && window.sitroom.state.joins > before",
                arg=before, timeout=BACK_TIMEOUT_MS)
        back_at = time.monotonic()
        print(f"\nrestart after {signal.Signals(stop_signal).name}: server down {answering_at - killed_at:.1f} s (start-up included); pages joined "
              f"again {back_at - answering_at:.1f} s after it answered, {back_at - killed_at:.1f} s after the kill")

        # the same people, with the same roles
        assert host.evaluate("window.sitroom.selfId()") == host_id
        assert guest.evaluate("window.sitroom.selfId()") == guest_id
        assert host.evaluate("window.sitroom.state.role") == "host"
        assert guest.evaluate("window.sitroom.state.role") == "participant"
        # the stage, following locked
        for page in (host, guest):
            page.wait_for_selector(f'{STAGE}[data-kind="panel"] [data-panel-id="{panel_id}"]', timeout=10_000)
        assert guest.evaluate("window.sitroom.stage.stage.locked_follow") is True
        # the hand, on both pages
        guest.wait_for_selector('[data-testid="raise-hand"][aria-pressed="true"]', timeout=10_000)
        host.wait_for_selector(f'.tile[data-participant-id="{guest_id}"] .hand-badge', state="visible",
                               timeout=10_000)
        # the held mute: the guest may only ask to be unmuted
        guest.wait_for_selector('[data-testid="ask-unmute"]', state="visible", timeout=10_000)
        assert guest.evaluate("window.sitroom.state.self.audio_muted") is True
        # and media flows again
        frames = video_frames_advancing(host, guest_id, frames=10, timeout_s=30)
        assert frames["ok"], frames
        if stop_signal == signal.SIGKILL:
            host.screenshot(path=str(SCREENSHOTS / "restart-host.png"))
            guest.screenshot(path=str(SCREENSHOTS / "restart-guest.png"))
    finally:
        stop(proc, tmp_path)
