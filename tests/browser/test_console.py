"""The organiser console (``/console``, issue "records"): an organiser schedules a meeting with two
delegations through the form, finds it under Upcoming, copies a delegation's link, downloads its
.ics (in the delegation's zone), opens the meeting early; a past meeting's record downloads as a
ZIP, links to its archive and has its retention changed; without the key the page asks for it, a wrong one is refused, a bad field is named next to it."""

from __future__ import annotations

import io
import json
import re
import urllib.request
import zipfile
from datetime import date, timedelta

import pytest

from collab_helpers import SCREENSHOTS
from conftest import ORGANISER_KEY  # noqa: I001 - this folder's conftest
from test_languages_a11y import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
DELEGATIONS = [("Lisbon City Hall", "Lisbon", "Europe/Lisbon", "6"),
               ("São Paulo", "São Paulo", "America/Sao_Paulo", "4")]


def api(server: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        server + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ORGANISER_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def signed_in(new_page, server: str, viewport: dict, zone: str = "Asia/Seoul"):
    """A console page whose browser keeps the organiser key (as the organiser link leaves it)."""
    page = new_page(viewport=viewport, timezone_id=zone, locale="en-GB", accept_downloads=True)
    page.goto(f"{server}/console#organiser={ORGANISER_KEY}")
    page.wait_for_selector("#meeting-title")
    assert page.evaluate("location.href") == f"{server}/console"  # the key left the address bar
    return page


def fill_meeting(page, title: str, day: date, delegations=DELEGATIONS) -> None:
    page.fill("#meeting-title", title)
    page.fill("#meeting-agenda", "1. Drought outlook\n2. Shared desalination study")
    page.fill("#meeting-date", day.isoformat())
    page.fill("#meeting-time", "18:00")
    page.select_option("#meeting-zone", "Europe/Lisbon")
    page.select_option("#meeting-duration", "90")
    page.select_option("#meeting-retention", "365")  # the record and recordings kept a year
    for name, city, zone, seats in delegations:
        page.click('[data-testid="add-delegation"]')
        row = page.locator('[data-testid="delegation-row"]').last
        row.locator('[data-testid="delegation-name"]').fill(name)
        row.locator('[data-testid="delegation-city"]').fill(city)
        row.locator('[data-testid="delegation-zone"]').select_option(zone)
        row.locator('[data-testid="delegation-seats"]').fill(seats)


def test_an_organiser_schedules_a_meeting_with_two_delegations_and_hands_out_their_invitations(server, new_page):
    page = signed_in(new_page, server, LAPTOP)
    assert page.input_value("#meeting-zone") == "Asia/Seoul"  # the browser's zone first
    day = date.today() + timedelta(days=20)
    title = f"Atlantic water summit {day.isoformat()}"
    fill_meeting(page, title, day)
    page.click('[data-testid="add-delegation"]')  # a third row, removed again
    assert page.locator('[data-testid="delegation-row"]').count() == 3
    page.locator('[data-testid="remove-delegation"]').last.click()
    assert page.locator('[data-testid="delegation-row"]').count() == 2
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-schedule.png"), full_page=True)
    assert axe_violations(page) == []  # the form, its delegation rows, the lists
    page.click('[data-testid="schedule-submit"]')

    # The server has it, as the form said: in Lisbon's time, two delegations
    detail = page.locator('[data-testid="meeting-detail"]')
    detail.wait_for()
    listed = api(server, "/api/meetings")
    [room] = [r for r in listed["upcoming"] if r["title"] == title]
    meeting = api(server, f"/api/meetings/{room['id']}")
    assert meeting["room"]["time_zone"] == "Europe/Lisbon" and meeting["room"]["agenda"].startswith("1. Drought")
    assert [(d["name"], d["city"], d["time_zone"], d["seats"]) for d in meeting["delegations"]] == \
        [(n, c, z, int(s)) for n, c, z, s in DELEGATIONS]
    assert meeting["room"]["record_retention_days"] == 365
    assert page.input_value("#meeting-title") == ""  # the form is empty again: no second meeting by accident

    # ... and it is under Upcoming, with both times (the organiser's in Seoul, the meeting's in Lisbon)
    page.click('[data-testid="detail-back"]')
    item = page.locator(f'[data-testid="meetings-upcoming"] [data-room-id="{room["id"]}"]')
    assert "Europe/Lisbon" in item.inner_text() and "2 delegations" in item.inner_text()
    item.click()
    detail.wait_for()
    cards = detail.locator('[data-testid="delegation-card"]')
    assert cards.count() == 2
    lisbon, sao_paulo = meeting["delegations"]
    assert cards.nth(0).locator('[data-testid="delegation-link"]').input_value() == lisbon["link"]
    assert cards.nth(1).locator('[data-testid="delegation-link"]').input_value() == sao_paulo["link"]
    # 18:00 in Lisbon is 15:00 in São Paulo (the page's language, English, may write it 3:00 PM)
    assert re.search(r"\b(15:00|3:00\sPM)\b", cards.nth(1).locator('[data-testid="delegation-when"]').inner_text())
    assert page.input_value('[data-testid="host-link"]') == meeting["links"]["host"]

    # the .ics of São Paulo's delegation: fetched with the key, saved as a file, in its zone
    with page.expect_download() as download_info:
        cards.nth(1).locator('[data-testid="download-ics"]').click()
    download = download_info.value
    assert download.suggested_filename.endswith(".ics")
    ics = open(download.path(), "rb").read().decode("utf-8")  # as sent: CRLF lines (RFC 5545)
    assert ics.startswith("BEGIN:VCALENDAR") and "DTSTART;TZID=America/Sao_Paulo:" in ics
    assert sao_paulo["link"] in ics.replace("\r\n ", "")  # unfolded lines

    # Open now: the server says it is open
    assert meeting["room"]["opened_at"] is None
    page.click('[data-testid="open-now"]')
    page.locator('[data-testid="open-status"]').filter(has_text="The meeting is open").wait_for()
    assert api(server, f"/api/meetings/{room['id']}")["room"]["opened_at"] is not None
    assert page.locator('[data-testid="open-now"]').count() == 0


def test_a_past_meeting_offers_its_record_as_a_zip(server, new_page):
    day = date.today() - timedelta(days=3)
    past = api(server, "/api/meetings", "POST", {
        "title": f"Heat plan review {day.isoformat()}", "duration_minutes": 60,
        "start": {"date": day.isoformat(), "time": "09:00", "time_zone": "America/Sao_Paulo"},
        "delegations": [{"name": "Lisbon City Hall", "time_zone": "Europe/Lisbon", "seats": 3}]})
    page = signed_in(new_page, server, PHONE)
    item = page.locator(f'[data-testid="meetings-past"] [data-room-id="{past["room"]["id"]}"]')
    item.click()
    page.locator('[data-testid="meeting-detail"]').wait_for()
    assert page.locator('[data-testid="open-now"]').count() == 0  # nothing to open any more
    assert axe_violations(page) == []  # a meeting's detail, on a phone
    # its archive is a link away; how long its record is kept can be changed here
    assert page.get_attribute('[data-testid="open-archive"]', "href") == f"/archive#room={past['room']['id']}"
    assert page.input_value('[data-testid="retention-select"]') == ""  # kept for ever
    page.select_option('[data-testid="retention-select"]', "30")
    page.click('[data-testid="retention-save"]')
    page.locator('[data-testid="retention-status"]').filter(has_text="30 days").wait_for()
    assert api(server, f"/api/meetings/{past['room']['id']}")["room"]["record_retention_days"] == 30
    with page.expect_download() as download_info:
        page.click('[data-testid="download-record"]')
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(open(download.path(), "rb").read())) as archive:
        record = json.loads(archive.read("record.json"))
    assert record["room"]["id"] == past["room"]["id"]


def test_without_the_key_the_console_asks_for_it_and_refuses_a_wrong_one(server, new_page):
    page = new_page(viewport=PHONE)
    page.goto(f"{server}/console")
    field = page.locator('[data-testid="organiser-key-field"]')
    field.wait_for()
    assert "organiser link or key" in field.inner_text()  # the start page's hint: where to get it
    assert page.locator("#meeting-title").count() == 0
    page.fill("#organiser-key", "not-the-key")
    page.click('[data-testid="console-key-submit"]')
    page.locator("#organiser-key-error").filter(has_text="not the organiser key").wait_for()
    assert page.evaluate("localStorage.getItem('sitroom.organiserKey')") is None
    page.fill("#organiser-key", f"{server}/#organiser={ORGANISER_KEY}")  # the whole link works too
    page.click('[data-testid="console-key-submit"]')
    page.wait_for_selector("#meeting-title")
    assert page.evaluate("localStorage.getItem('sitroom.organiserKey')") == ORGANISER_KEY
    page.screenshot(path=str(SCREENSHOTS / "console-phone.png"))

    # a room made without a date (the demo room) is listed too, and opens with its host link
    page.locator('[data-testid="meetings-unscheduled"] [data-testid="meeting-item"]').first.click()
    page.locator('[data-testid="meeting-detail"]').wait_for()
    assert "/r/" in page.input_value('[data-testid="host-link"]')

    # the start page now links to the console
    page.goto(f"{server}/")
    page.click('[data-testid="console-link"]')
    page.wait_for_selector("#meeting-title")
    assert page.evaluate("location.pathname") == "/console"

    # "Forget it" on the start page: the key and the link to the console go
    page.goto(f"{server}/")
    page.click('[data-testid="forget-organiser-key"]')
    assert page.locator('[data-testid="console-link"]').count() == 0


def test_a_bad_field_is_named_next_to_it_and_nothing_is_scheduled(server, new_page):
    page = signed_in(new_page, server, LAPTOP)
    day = date.today() + timedelta(days=30)
    title = f"Seats check {day.isoformat()}"
    fill_meeting(page, title, day, delegations=[("Lisbon City Hall", "Lisbon", "Europe/Lisbon", "900")])
    page.click('[data-testid="schedule-submit"]')
    row = page.locator('[data-testid="delegation-row"]').first
    seats_error = row.locator('[id$="-seats-error"]')
    seats_error.filter(has_text="from 1 to 500").wait_for()
    assert row.locator('[data-testid="delegation-seats"]').get_attribute("aria-invalid") == "true"
    assert title not in json.dumps(api(server, "/api/meetings"))
    assert page.input_value("#meeting-title") == title  # nothing typed is lost

    # an empty title never reaches the server
    page.fill("#meeting-title", " ")
    page.click('[data-testid="schedule-submit"]')
    page.locator("#meeting-title-error").filter(has_text="give the meeting a title").wait_for()
