"""Recording as the participants see it (issue "records"): the host starts recording, every page
in the meeting shows REC in its header (and hears it in a toast); someone about to join is told on
the pre-join page; when the host stops, REC goes away and the host may open the recording in the
archive."""

from __future__ import annotations

import pytest

from collab_helpers import SCREENSHOTS  # noqa: I001 - this folder's helpers
from conftest import host_and_guest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

REC = '[data-testid="rec-indicator"]'


def request(page, event: str, payload: dict) -> dict:
    return page.evaluate("([event, payload]) => window.sitroom.meeting.conn.request(event, payload)",
                         [event, payload])


def test_rec_is_shown_to_everyone_and_said_before_joining(server, new_page):
    host, guest, _, _ = host_and_guest(server, new_page, "Recorded meeting", "Mayor Host", "Councillor")
    assert host.is_hidden(REC) and guest.is_hidden(REC)
    # the host turns recording on in the host tools
    host.click('[data-testid="host-tools"]')
    host.click('label.switch:has([data-testid="setting-recording"])')
    for page in (host, guest):
        page.wait_for_selector(REC, state="visible", timeout=10_000)
        assert "REC" in page.inner_text(REC)
    guest.wait_for_selector(".toast:has-text('Recording started')", timeout=10_000)
    assert host.is_checked('[data-testid="setting-recording"]')
    host.screenshot(path=str(SCREENSHOTS / "recording-host.png"))
    # a staff member or another host elsewhere could stop it: the switch follows the meeting
    assert request(host, "recording_stop", {})["changed"] is True
    host.wait_for_function("() => !document.querySelector('[data-testid=\"setting-recording\"]').checked")
    request(host, "recording_start", {})
    host.wait_for_function("() => document.querySelector('[data-testid=\"setting-recording\"]').checked")

    # someone about to join the same meeting is told on the pre-join page
    late = new_page()
    late.goto(guest.url)
    late.wait_for_selector('[data-testid="prejoin-recorded"]', state="visible", timeout=10_000)
    assert "being recorded" in late.inner_text('[data-testid="prejoin-recorded"]')

    host.click('label.switch:has([data-testid="setting-recording"])')  # and off again
    for page in (host, guest):
        page.wait_for_selector(REC, state="hidden", timeout=10_000)
    # the host (who came with a host link) may watch it at once: the toast opens the archive
    guest.wait_for_selector(".toast:has-text('Recording stopped')", timeout=10_000)
    assert guest.locator('[data-testid="recording-watch"]').count() == 0  # not a participant's
    with host.context.expect_page() as opened:
        host.click('[data-testid="recording-watch"]', timeout=10_000)
    archive = opened.value
    archive.wait_for_selector('[data-testid="archive-tile"]', state="attached", timeout=15_000)
    assert "/archive#room=" in archive.url
    assert archive.evaluate("() => window.sitroom.archive.state().ready") is True
    archive.close()
    # and after it stopped, the pre-join says nothing of it
    later = new_page()
    later.goto(guest.url)
    later.wait_for_selector("#prejoin-name", timeout=10_000)
    assert later.locator('[data-testid="prejoin-recorded"]').count() == 0
