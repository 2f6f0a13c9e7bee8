"""A media worker killed under two Chromium pages in a meeting (``--media-workers 2``): the server
makes the room's router again on a live worker and sends ``media_reset``; both pages connect their
media again (client_web/src/meeting.js ``resetMedia``) without leaving the meeting: the same
participant ids, no new join, the other's tile kept, and its video frames advance again."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import pytest

from conftest import ADMIN_TOKEN, host_and_guest, serving, video_frames_advancing  # noqa: I001 - this folder's conftest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]


def metrics(base_url: str) -> dict:
    request = urllib.request.Request(base_url + "/api/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def worker_of_rooms(base_url: str, timeout_s: float = 15) -> dict:
    """The one worker with a room (bounded wait until both peers are on it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        busy = [w for w in metrics(base_url)["workers"] if w["rooms"] > 0 and w["alive"]]
        if len(busy) == 1 and busy[0]["peers"] >= 2 or time.monotonic() > deadline:
            return busy[0] if busy else {}
        time.sleep(0.2)


def test_pages_keep_their_meeting_when_its_media_worker_dies(tmp_path, new_page):
    with serving(tmp_path) as base_url:
        host, guest, host_id, guest_id = host_and_guest(base_url, new_page, "Failover")
        assert video_frames_advancing(host, guest_id, frames=5)["ok"]
        assert video_frames_advancing(guest, host_id, frames=5)["ok"]
        joins = [page.evaluate("window.sitroom.state.joins") for page in (host, guest)]

        worker = worker_of_rooms(base_url)
        assert worker.get("pid"), metrics(base_url)["workers"]
        os.kill(worker["pid"], signal.SIGKILL)

        # media back on both pages, on new connections, in the same meeting
        host_frames = video_frames_advancing(host, guest_id, frames=10, timeout_s=30)
        guest_frames = video_frames_advancing(guest, host_id, frames=10, timeout_s=30)
        assert host_frames["ok"] and guest_frames["ok"], (host_frames, guest_frames)
        for page, me, other in ((host, host_id, guest_id), (guest, guest_id, host_id)):
            assert page.evaluate("window.sitroom.selfId()") == me
            assert page.locator(f'.tile[data-participant-id="{other}"]').count() == 1
        assert [page.evaluate("window.sitroom.state.joins") for page in (host, guest)] == joins

        now = worker_of_rooms(base_url)
        assert now.get("pid") not in (None, worker["pid"]) and now["peers"] == 2, metrics(base_url)["workers"]
