"""The city clock strip of a scheduled meeting (issue "records"): under the meeting header, the
viewer's own local time first, then each city of the meeting (here the delegations' Lisbon and
Seoul) with its local time and a "+1"/"−1" when its date differs from the viewer's; a delegate's
tile shows the local time of their delegation's city. Two browsers with forced time zones (Sao Paulo
and Seoul); the expected times are computed here with zoneinfo for the moment the page is read
(the minute may tick meanwhile: now or a minute later is accepted)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import ORGANISER_KEY, create_room, join, wait_for_tile  # noqa: I001 - this folder's conftest
from test_languages_a11y import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

LISBON = {"name": "Lisbon City Hall", "city": "Lisbon", "time_zone": "Europe/Lisbon", "role": "participant",
          "seats": 3}
SEOUL = {"name": "Seoul Metropolitan Government", "city": "Seoul", "time_zone": "Asia/Seoul",
         "role": "participant", "seats": 2}

_READ_STRIP = """() => {
  const strip = document.querySelector('[data-testid="clock-strip"]');
  return {hidden: strip.hidden, top: strip.getBoundingClientRect().top,
          header: document.querySelector('.meeting-header').getBoundingClientRect().bottom,
          items: [...strip.querySelectorAll('[data-testid="clock-item"]')].map((el) => ({
            city: el.querySelector('.clock-city').textContent,
            datetime: el.querySelector('time').getAttribute('datetime'),
            text: el.querySelector('time').textContent,
            day: el.querySelector('.clock-day')?.textContent || "",
            zone: el.dataset.timeZone}))};
}"""


def schedule(base_url: str) -> dict:
    """A meeting starting in 10 minutes (the delegations' invites open 30 minutes before)."""
    start = (datetime.now(UTC) + timedelta(minutes=10)).astimezone(ZoneInfo("Europe/Lisbon"))
    body = {"title": "Air quality coordination", "agenda": "",
            "start": {"date": start.date().isoformat(), "time": f"{start:%H:%M}", "time_zone": "Europe/Lisbon"},
            "duration_minutes": 60, "delegations": [LISBON, SEOUL]}
    request = urllib.request.Request(
        base_url + "/api/meetings", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ORGANISER_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def marker(at: datetime, zone: str, viewer: str) -> str:
    days = (at.astimezone(ZoneInfo(zone)).date() - at.astimezone(ZoneInfo(viewer)).date()).days
    return "" if days == 0 else f"+{days}" if days > 0 else f"\u2212{-days}"


def english(local: datetime) -> str:
    """How the page's language (English) writes a time: a 12-hour clock, "3:15 PM"."""
    return f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def expected(at: datetime, viewer: str) -> list[tuple[str, str, str, str]]:
    """(city, hh:mm, as shown, day marker) as the strip should read at ``at`` in ``viewer``."""
    rows = [("You", viewer)] + [(d["city"], d["time_zone"]) for d in (LISBON, SEOUL)]
    return [(city, f"{at.astimezone(ZoneInfo(zone)):%H:%M}", english(at.astimezone(ZoneInfo(zone))),
             marker(at, zone, viewer)) for city, zone in rows]


def assert_strip(page, viewer: str) -> None:
    before = datetime.now(UTC)
    strip = page.evaluate(_READ_STRIP)
    assert not strip["hidden"] and strip["top"] >= strip["header"] - 1, strip
    seen = [(item["city"], item["datetime"], item["text"], item["day"]) for item in strip["items"]]
    assert strip["items"][0]["zone"] == viewer
    assert seen in (expected(before, viewer), expected(before + timedelta(minutes=1), viewer)), (seen, before)


def test_the_clock_strip_and_a_delegates_tile_show_local_times(server, new_page):
    meeting = schedule(server)
    seoul_link = meeting["delegations"][1]["link"]
    host = new_page(timezone_id="America/Sao_Paulo", locale="en-US")
    join(host, meeting["links"]["host"], "Mayor")
    host.wait_for_selector('[data-testid="clock-strip"]:not([hidden]) [data-testid="clock-item"]')
    assert_strip(host, "America/Sao_Paulo")

    delegate = new_page(timezone_id="Asia/Seoul", locale="en-US")
    delegate_id = join(delegate, seoul_link, "Min-jun", "Seoul Metropolitan Government")
    delegate.wait_for_selector('[data-testid="clock-strip"]:not([hidden]) [data-testid="clock-item"]')
    assert_strip(delegate, "Asia/Seoul")

    # the delegate's tile on the host's page: Seoul's local time, with +1 when Seoul is a day ahead
    wait_for_tile(host, delegate_id)
    local = host.locator(f'.tile[data-participant-id="{delegate_id}"] [data-testid="tile-local-time"]')
    local.wait_for(state="visible")
    at = datetime.now(UTC)
    shown, datetime_attr = local.text_content(), local.get_attribute("datetime")
    options = []
    for moment in (at, at + timedelta(minutes=1)):
        local_seoul = moment.astimezone(ZoneInfo("Asia/Seoul"))
        day = marker(moment, "Asia/Seoul", "America/Sao_Paulo")
        options.append((f"{local_seoul:%H:%M}", f"{english(local_seoul)} {day}" if day else english(local_seoul)))
    assert (datetime_attr, shown) in options, (datetime_attr, shown, at)
    assert "Seoul" in local.get_attribute("title")
    # the host came through the host link, not a delegation: no local time on its tile
    host_tile = delegate.locator('.tile:not([data-self="true"]) [data-testid="tile-local-time"]')
    assert host_tile.count() == 1 and host_tile.is_hidden()
    assert axe_violations(host) == [], "the meeting with its clock strip and a delegate's local time"


def test_a_room_without_clocks_has_no_strip(server, new_page):
    links = create_room(server, "Ad hoc")["links"]
    page = new_page(timezone_id="Asia/Seoul")
    join(page, links["host"], "Ana")
    strip = page.locator('[data-testid="clock-strip"]')
    assert strip.count() == 1 and strip.is_hidden() and strip.locator('[data-testid="clock-item"]').count() == 0
