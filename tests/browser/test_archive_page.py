"""The archive page plays a recorded meeting: two Chromium pages meet and are recorded while the host
shows a live panel and then a PDF page; a third page opens /archive as the room's host, plays it
(frames decoded in every video tile, the clock advancing) and the stage follows the time line: the
panel's chart as it was, then the document page, as the player seeks."""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import quote

import pytest

from collab_helpers import SCREENSHOTS, token_of
from conftest import create_room, join, serving, show_panel, wait_for_tile  # noqa: I001 - this folder's conftest

from tests.test_documents import make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REQUEST_JS = "async (event) => await window.sitroom.meeting.conn.request(event, {})"
STAGE = '[data-testid="archive-stage"]'
STATE_JS = "() => window.sitroom.archive.state()"


def record_a_meeting(base_url: str, new_page, tmp_path) -> tuple[dict, dict]:
    """A recorded meeting of two pages: ~2 s of nothing on the stage, ~5 s of a live panel, ~4 s of
    a PDF page. Returns the room and the recording's stage times (``panel``, ``document``)."""
    room = create_room(base_url, "Seoul–Lisbon climate call")
    host, guest = new_page(), new_page()
    host_id = join(host, room["links"]["host"], "Mayor Oh")
    guest_id = join(guest, room["links"]["participant"], "Ana Costa")
    wait_for_tile(host, guest_id)
    wait_for_tile(guest, host_id)
    time.sleep(1.5)
    ack = host.evaluate(REQUEST_JS, "recording_start")
    assert ack["ok"], ack
    time.sleep(2.0)
    show_panel(host)
    host.wait_for_selector('[data-testid="stage"] .panel-view canvas', timeout=10_000)
    time.sleep(5.0)
    pdf = tmp_path / "climate-plan.pdf"
    pdf.write_bytes(make_pdf([(960.0, 540.0), (960.0, 540.0)]))
    host.set_input_files('[data-testid="stage-upload-input"]', str(pdf))
    host.wait_for_selector('[data-testid="upload-show"]', timeout=30_000)
    host.click('[data-testid="upload-show"]')
    host.wait_for_selector('[data-testid="doc-page"][data-page="0"]', timeout=10_000)
    time.sleep(4.0)
    ack = host.evaluate(REQUEST_JS, "recording_stop")
    assert ack["ok"] and ack["recording"]["complete"], ack
    for page in (host, guest):
        page.close()
    request = urllib.request.Request(f"{base_url}/api/rooms/{room['room']['id']}/archive?t={token_of(room['links']['host'])}")
    with urllib.request.urlopen(request, timeout=10) as response:
        archive = json.load(response)
    [recording] = archive["recordings"]
    shown = {e["stage"]["kind"]: e["t"] for e in recording["stage"] if e["type"] == "stage"}
    assert set(shown) >= {"panel", "document"}, recording["stage"]
    return room, {**shown, "duration": recording["duration"], "tracks": recording["tracks"]}


def test_the_archive_plays_the_recording_with_the_stage_as_it_was(new_page, tmp_path):
    with serving(tmp_path) as base_url:
        room, times = record_a_meeting(base_url, new_page, tmp_path)
        room_id = room["room"]["id"]
        page = new_page(viewport={"width": 1366, "height": 800})
        page.goto(f"{base_url}/archive#room={quote(room_id)}&t={token_of(room['links']['host'])}")
        videos = [t for t in times["tracks"] if t["kind"] == "video"]
        assert len(videos) == 2
        page.wait_for_function("(n) => document.querySelectorAll('[data-testid=archive-tile] video').length >= n",
                               arg=len(videos), timeout=15_000)
        text = page.inner_text("body")
        assert "Mayor Oh" in text and "Ana Costa" in text and "null" not in text and "undefined" not in text

        # play: the clock advances, every video tile decodes frames, the stage turns to the panel
        page.click('[data-testid="archive-play"]')
        page.wait_for_function("() => window.sitroom.archive.state().playing", timeout=5_000)
        page.wait_for_function(f"() => window.sitroom.archive.clock() > {times['panel'] + 1.0}", timeout=20_000)
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid=archive-tile] video')].every(
                   (v) => v.getVideoPlaybackQuality().totalVideoFrames > 10 && v.currentTime > 0.5)""",
            timeout=15_000)
        page.wait_for_selector(f'{STAGE}[data-stage-kind="panel"] .panel-view canvas', timeout=5_000)
        assert page.get_attribute(STAGE, "data-panel-id")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "archive.png"))
        shown = page.inner_text('[data-testid="archive-time"]')
        assert ":" in shown, shown

        # seeking: the document page as it was shown, then back to before the panel
        page.evaluate("(t) => window.sitroom.archive.seek(t)", times["document"] + 1.0)
        page.wait_for_selector(f'{STAGE}[data-stage-kind="document"][data-page="0"]', timeout=5_000)
        image = page.wait_for_selector(f"{STAGE} img", timeout=5_000)
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image, timeout=10_000)
        before = page.evaluate("() => [...document.querySelectorAll('[data-testid=archive-tile] video')].map((v) => v.currentTime)")
        assert all(abs(t - (times["document"] + 1.0)) < 3.0 for t in before), before
        page.evaluate("() => window.sitroom.archive.seek(0.5)")
        page.wait_for_selector(f'{STAGE}[data-stage-kind="empty"]', timeout=5_000)

        # on a phone: the stage above the tiles, the document page as it was shown
        phone = new_page(viewport={"width": 390, "height": 844})
        phone.goto(f"{base_url}/archive#room={quote(room_id)}&t={token_of(room['links']['host'])}")
        phone.wait_for_selector('[data-testid="archive-tile"] video', state="attached", timeout=15_000)
        phone.evaluate("(t) => window.sitroom.archive.seek(t)", times["document"] + 1.0)
        image = phone.wait_for_selector(f'{STAGE}[data-stage-kind="document"] img', timeout=5_000)
        phone.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image, timeout=10_000)
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        phone.screenshot(path=str(SCREENSHOTS / "archive-phone.png"))

        # a participant's invite cannot open it; the page says so
        other = new_page()
        other.goto(f"{base_url}/archive#room={quote(room_id)}&t={token_of(room['links']['participant'])}")
        other.wait_for_selector('[data-testid="archive-error"]', timeout=10_000)
        assert other.locator('[data-testid="archive-tile"]').count() == 0
