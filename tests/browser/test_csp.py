"""The server's Content-Security-Policy (issue 15) with the Sitroom client under it, not bypassed:
the start page, pre-join and a meeting with a live panel on stage and the other's video work, and
Chromium reports no violation. (The other browser tests bypass the policy only because
Playwright's string predicates are evaluated in the page, which it forbids.)"""

from __future__ import annotations

import pytest

from conftest import create_room, join, show_panel, video_frames_advancing, wait_for_tile  # noqa: I001

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_the_client_works_under_the_content_security_policy(server, new_page):
    links = create_room(server, "Policy")["links"]
    strict = new_page(bypass_csp=False)
    other = new_page()
    violations = []
    strict.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    strict.on("pageerror", lambda e: "Content Security Policy" in str(e) and violations.append(str(e)))

    strict.goto(server)  # the start page
    strict.wait_for_selector("body")
    host_id = join(strict, links["host"], "Strict Host", "Seoul")
    guest_id = join(other, links["participant"], "Guest", "Lisbon")
    wait_for_tile(strict, guest_id)
    wait_for_tile(other, host_id)
    panel_id = show_panel(strict)
    # chart.js draws the live panel, on both pages
    for page in (strict, other):
        page.wait_for_selector(f'[data-panel-id="{panel_id}"] canvas', timeout=15_000)
    frames = video_frames_advancing(strict, guest_id, frames=10, timeout_s=20)
    assert frames["ok"], frames
    back = video_frames_advancing(other, host_id, frames=10, timeout_s=20)
    assert back["ok"], back
    assert violations == []
