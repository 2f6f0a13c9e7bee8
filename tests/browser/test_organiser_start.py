"""The start page and the organiser key (issue "survive"): the organiser link the server prints
(``/#organiser=KEY``) lets this browser create rooms, and the key leaves the address bar; without a
key, or with a wrong one, creating asks for it in a field that says where to get it; joining by
code needs none."""

from __future__ import annotations

import json
import urllib.request

import pytest

from collab_helpers import SCREENSHOTS
from conftest import ORGANISER_KEY  # noqa: I001 - this folder's conftest
from test_languages_a11y import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
STORED = "localStorage.getItem('sitroom.organiserKey')"


def room_by_code(server: str, code: str) -> dict:
    with urllib.request.urlopen(f"{server}/api/codes/{code}", timeout=10) as response:
        return json.loads(response.read())["room"]


def create(page, title: str) -> None:
    page.fill("#meeting-title", title)
    page.click("#create-room")


def test_the_organiser_link_creates_rooms_and_leaves_the_address_bar(server, new_page):
    page = new_page(viewport=LAPTOP)
    page.goto(f"{server}/#organiser={ORGANISER_KEY}")
    page.wait_for_selector("#meeting-title")
    assert page.evaluate("location.href") == f"{server}/"  # the key is gone from the address bar...
    assert page.evaluate(STORED) == ORGANISER_KEY  # ...and kept by this browser
    assert page.is_visible('[data-testid="organiser-key-kept"]')
    assert not page.is_visible('[data-testid="organiser-key-field"]')
    create(page, "Flood barrier inspection")
    code = page.inner_text('[data-testid="room-code"]').strip()
    assert room_by_code(server, code)["title"] == "Flood barrier inspection"

    # Later visits (no fragment) still create rooms; "Forget it" drops the key
    page.goto(f"{server}/")
    create(page, "Second briefing")
    second = page.inner_text('[data-testid="room-code"]').strip()
    assert room_by_code(server, second)["title"] == "Second briefing"
    page.click(".created-again")
    page.screenshot(path=str(SCREENSHOTS / "start-organiser-kept.png"))
    page.click('[data-testid="forget-organiser-key"]')
    assert page.evaluate(STORED) is None and not page.is_visible('[data-testid="organiser-key-kept"]')

    # a guest joins by the code without any key
    guest = new_page()
    guest.goto(f"{server}/")
    guest.fill("#join-code", code)
    guest.click('[data-testid="join-code-submit"]')
    guest.wait_for_url(f"{server}/r/**")
    guest.wait_for_selector("#prejoin-name")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_without_the_key_creating_asks_for_it_and_says_where_to_get_it(server, new_page, viewport):
    page = new_page(viewport=viewport)
    page.goto(f"{server}/")
    page.wait_for_selector("#meeting-title")
    field = page.locator('[data-testid="organiser-key-field"]')
    assert not field.is_visible()
    create(page, "Heat wave plan")
    field.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "organiser-key"
    assert "organiser link or key" in field.inner_text()  # where to get it
    assert page.inner_text("#organiser-key-error").strip() == "Enter the organiser key to create the room."
    assert page.get_attribute("#organiser-key", "aria-invalid") == "true"
    assert page.input_value("#meeting-title") == "Heat wave plan"  # nothing typed is lost
    assert page.locator('[data-testid="room-code"]').count() == 0
    tag = "laptop" if viewport is LAPTOP else "phone"
    page.screenshot(path=str(SCREENSHOTS / f"start-organiser-key-{tag}.png"), full_page=True)
    assert axe_violations(page) == []

    # a wrong key: the server refuses, the field says so
    page.fill("#organiser-key", "not-the-key")
    page.click("#create-room")
    page.wait_for_function("document.querySelector('#organiser-key-error').textContent.includes('not the organiser key')")
    assert page.evaluate(STORED) is None  # a refused key is not kept
    assert page.locator('[data-testid="room-code"]').count() == 0

    # the whole organiser link, pasted: created, and kept for next time
    page.fill("#organiser-key", f"{server}/#organiser={ORGANISER_KEY}")
    page.click("#create-room")
    page.wait_for_selector('[data-testid="room-code"]')
    assert room_by_code(server, page.inner_text('[data-testid="room-code"]').strip())["title"] == "Heat wave plan"
    assert page.evaluate(STORED) == ORGANISER_KEY


def test_a_kept_key_the_server_refuses_is_asked_for_again(server, new_page):
    page = new_page(viewport=PHONE)
    page.goto(f"{server}/#organiser=an-old-key")
    page.wait_for_selector("#meeting-title")
    assert page.evaluate(STORED) == "an-old-key"
    create(page, "Transit strike")
    page.wait_for_function("document.querySelector('#organiser-key-error').textContent.includes('not the organiser key')")
    assert page.is_visible('[data-testid="organiser-key-field"]')
    assert page.evaluate(STORED) is None
    page.fill("#organiser-key", ORGANISER_KEY)
    page.click("#create-room")
    page.wait_for_selector('[data-testid="room-code"]')
    assert page.evaluate(STORED) == ORGANISER_KEY
