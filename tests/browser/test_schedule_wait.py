"""A delegation's invite to a scheduled meeting, opened before the meeting opens (issue "records",
Scheduling): the page loads, its join is refused `not_yet_open`, and the page says when the meeting
starts in the browser's own time zone (Sao Paulo and Seoul here) and waits; once the host opens the
meeting early, the page joins by itself."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import ORGANISER_KEY, join  # noqa: I001 - this folder's conftest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def schedule(base_url: str, start: datetime) -> dict:
    local = start.astimezone(ZoneInfo("Europe/Lisbon"))
    body = {"title": "Flood coordination", "agenda": "1. River levels",
            "start": {"date": local.date().isoformat(), "time": f"{local:%H:%M}", "time_zone": "Europe/Lisbon"},
            "duration_minutes": 60,
            "delegations": [{"name": "Lisbon City Hall", "city": "Lisbon", "time_zone": "Europe/Lisbon",
                             "role": "participant", "seats": 3}]}
    request = urllib.request.Request(
        base_url + "/api/meetings", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ORGANISER_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("zone", ["America/Sao_Paulo", "Asia/Seoul"])
def test_an_invite_before_the_start_waits_in_local_time_and_joins_when_opened(server, new_page, zone):
    start = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    meeting = schedule(server, start)
    link = meeting["delegations"][0]["link"]
    page = new_page(timezone_id=zone, locale="en-GB")
    page.goto(link)
    page.fill("#prejoin-name", "Delegate")
    page.click("#join-button")
    banner = page.wait_for_selector(".banner:has-text('The meeting starts')", timeout=15_000)
    local = start.astimezone(ZoneInfo(zone))
    text = banner.inner_text()
    # (the page's language, English, writes a 12-hour clock)
    clock = f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
    assert clock in text and f"{local:%B} {local.day}" in text, (text, local)
    assert page.evaluate("window.sitroom.state.status") == "waiting"
    # The host opens the meeting early (joining opens it): the delegate's page joins by itself.
    host = new_page()
    join(host, meeting["links"]["host"], "Mayor")
    page.wait_for_selector('.tile[data-self="true"]', timeout=45_000)
    assert page.evaluate("window.sitroom.state.status") == "joined"
