"""The first minutes, as a new user meets them: the start page's invitation and room code, the
host who leaves, a host's screen share on the stage, toasts that name people, the meeting clock,
and the phone (self view, the "More" sheet, pre-join above the fold)."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from collab_helpers import SCREENSHOTS
from conftest import ORGANISER_KEY, create_room, host_and_guest, join, show_panel, video_frames_advancing, wait_for_tile  # noqa: I001

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PHONE = {"width": 390, "height": 844}
CLIPBOARD = ("clipboard-read", "clipboard-write")


def inside(box, width, height) -> bool:
    return bool(box) and box["x"] >= -0.5 and box["y"] >= -0.5 and \
        box["x"] + box["width"] <= width + 0.5 and box["y"] + box["height"] <= height + 0.5


def test_start_page_hands_out_an_invitation_and_joins_by_room_code(server, new_page):
    page = new_page(permissions=CLIPBOARD, timezone_id="Asia/Seoul")
    page.goto(f"{server}/#organiser={ORGANISER_KEY}")  # the organiser link the server prints
    page.fill("#meeting-title", "Han River flood coordination")
    page.select_option("#meeting-city", "lisbon")
    page.fill("#meeting-starts", "2031-03-04T10:00")
    page.select_option("#meeting-duration", "90")
    page.click("#create-room")
    page.wait_for_selector('[data-testid="room-code"]')

    # Two cards that say what each link is for, each field labelled.
    guest_card, host_card = page.locator('[data-testid="guest-card"]'), page.locator('[data-testid="host-card"]')
    assert "host" in host_card.inner_text().lower() and "guests" in guest_card.inner_text().lower()
    participant_link = page.input_value("#participant-link")
    host_link = page.input_value("#host-link")
    assert participant_link != host_link
    for field in ("#participant-link", "#host-link"):
        label = page.locator(f'label[for="{field[1:]}"]')
        assert label.count() == 1 and label.inner_text().strip()
    code = page.inner_text('[data-testid="room-code"]').strip()
    assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{3}-[A-Z2-9]{3}", code), code
    when = page.inner_text('[data-testid="created-when"]')
    assert "2031" in when and "10:00" in when, when  # the planned time, in the creator's zone

    # "Copy invitation": the text a person pastes into an email.
    page.screenshot(path=str(SCREENSHOTS / "start-created.png"), full_page=True)
    page.click('[data-testid="copy-invitation"]')
    text = page.evaluate("navigator.clipboard.readText()")
    assert "Han River flood coordination" in text and participant_link in text and code in text, text
    assert "2031" in text and "10:00" in text
    opener = page.locator('[data-testid="open-participant"]')
    assert opener.get_attribute("href") == participant_link and opener.get_attribute("target") == "_blank"

    # The room's city and time are the room's.
    room_id = participant_link.split("/r/", 1)[1].split("?", 1)[0]
    with urllib.request.urlopen(f"{server}/api/codes/{code}", timeout=10) as response:
        room = json.loads(response.read())["room"]
    assert (room["id"], room["city"], room["starts_at"], room["ends_at"]) == \
        (room_id, "lisbon", "2031-03-04T01:00:00Z", "2031-03-04T02:30:00Z")

    # Another person types the code (any case, spaces for dashes) and lands on the pre-join.
    guest = new_page()
    guest.goto(server + "/")
    guest.fill("#join-code", "nope")
    guest.click('[data-testid="join-code-submit"]')
    assert guest.inner_text("#join-code-error").strip()
    guest.fill("#join-code", "AAA-AAA-AAA")
    guest.click('[data-testid="join-code-submit"]')
    guest.wait_for_function("document.querySelector('#join-code-error').textContent.includes('No meeting')")
    guest.fill("#join-code", code.lower().replace("-", " "))
    guest.click('[data-testid="join-code-submit"]')
    guest.wait_for_selector("#prejoin-name")
    assert f"/r/{room_id}?t=" in guest.url
    assert guest.inner_text(".prejoin-form .eyebrow").strip().lower() == "you are invited to"

    # The host opening their link is told it is their meeting, not that they are invited.
    page.goto(host_link)
    page.wait_for_selector("#prejoin-name")
    assert page.inner_text(".prejoin-form .eyebrow").strip().lower() == "your meeting"


def test_a_host_who_leaves_hands_the_host_role_over_or_ends_the_meeting(server, new_page):
    links = create_room(server, "Handover")["links"]
    host, guest = new_page(), new_page()
    join(host, links["host"], "Mayor Kim")
    guest_id = join(guest, links["participant"], "Deputy Lee")
    wait_for_tile(host, guest_id)

    host.click("#leave-button")
    host.wait_for_selector('[data-testid="leave-dialog"]')
    assert host.input_value('[data-testid="handover-to"]') == guest_id
    host.click('[data-testid="leave-cancel"]')
    assert host.evaluate("window.sitroom.state.status") == "joined", "Cancel stays in the meeting"

    host.click("#leave-button")
    host.click('[data-testid="leave-handover"]')
    host.wait_for_selector("#rejoin-button")
    guest.wait_for_function("window.sitroom.state.role === 'host'", timeout=10_000)

    # The new host leaves as the last host with someone else there: End for all.
    third = new_page()
    third_id = join(third, links["participant"], "Observer Park")
    wait_for_tile(guest, third_id)
    guest.click("#leave-button")
    guest.click('[data-testid="leave-end-all"]')
    third.wait_for_selector("#notice-title:has-text('The meeting has ended')", timeout=10_000)


def test_a_hosts_screen_share_goes_to_the_stage_once_and_stopping_gives_the_panel_back(server, new_page):
    host, guest, host_id, guest_id = host_and_guest(server, new_page, "Share to stage", "Mayor Kim", "Deputy Lee")
    panel_id = show_panel(host)
    guest.wait_for_selector(f'[data-testid=stage][data-showing=panel] [data-panel-id="{panel_id}"]')

    host.click('[data-testid="share-screen"]')  # one step
    guest.wait_for_selector(f'[data-testid=stage][data-showing=participant] [data-testid=stage-participant]'
                            f'[data-participant-id="{host_id}"][data-source=screen]', timeout=15_000)
    frames = guest.evaluate("""async () => {
        const v = document.querySelector('[data-testid=stage-participant] video');
        const start = v.getVideoPlaybackQuality().totalVideoFrames;
        for (let i = 0; i < 100; i++) {
            if (v.getVideoPlaybackQuality().totalVideoFrames - start >= 3) return true;
            await new Promise((r) => setTimeout(r, 100));
        }
        return false;
    }""")
    assert frames, "the screen share plays on the guest's stage"
    # Shown once: not again in the gallery's spotlight, on either page.
    assert guest.is_hidden(".spotlight") and host.is_hidden(".spotlight")
    host.wait_for_selector('[data-testid=stage-stop-share]:visible')  # the sharer sees a note, not a mirror

    host.click('[data-testid="stage-stop-share"]')
    guest.wait_for_selector(f'[data-testid=stage][data-showing=panel] [data-panel-id="{panel_id}"]', timeout=15_000)
    host.wait_for_selector('[data-testid=stage][data-showing=panel]')


def test_hands_and_chat_are_announced_by_name_without_taking_the_focus(server, new_page):
    host, guest, _, guest_id = host_and_guest(server, new_page, "Toasts", "Mayor Kim", "Deputy Lee")
    host.focus("button.toggle-mic")

    guest.click('[data-testid="raise-hand"]')
    toast = host.locator('[data-testid="hand-toast"]').locator("xpath=..")
    toast.wait_for(state="visible", timeout=10_000)
    assert "Deputy Lee" in toast.inner_text()
    assert host.evaluate("document.activeElement.classList.contains('toggle-mic')"), "the focus stayed"

    guest.click('[data-testid="chat"]')
    guest.fill(".chat-input", "The bridge on Olympic-daero is closed northbound since 9:40, detour via Mapo")
    guest.click(".chat-send")
    chat = host.locator('[data-testid="chat-toast"]').locator("xpath=..")
    chat.wait_for(state="visible", timeout=10_000)
    assert "Deputy Lee" in chat.inner_text() and "The bridge on Olympic-daero" in chat.inner_text()
    assert host.evaluate("document.activeElement.classList.contains('toggle-mic')")
    host.click('[data-testid="chat-toast"]')
    host.wait_for_selector(".side-panel:visible .chat-text:has-text('The bridge')")


def test_the_clock_counts_the_meetings_time_and_shows_its_planned_end(server, new_page):
    request = urllib.request.Request(server + "/api/rooms", method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {ORGANISER_KEY}"},
                                     data=json.dumps({"title": "Planned", "starts_at": "2020-01-01T09:00:00Z",
                                                      "duration_minutes": 60}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        links = json.loads(response.read())["links"]
    host, late = new_page(), new_page()
    join(host, links["host"], "Mayor Kim")
    started = host.evaluate("window.sitroom.state.meeting.started_at")
    assert started and started.endswith("Z")
    join(late, links["participant"], "Late Comer")
    assert late.evaluate("window.sitroom.state.meeting.started_at") == started, "one clock for everyone"
    clock = late.locator('[data-testid="meeting-clock"]')
    late.wait_for_function("document.querySelector('[data-testid=meeting-clock]').textContent.includes('·')")
    assert clock.get_attribute("data-state") == "overtime", clock.inner_text()  # planned for 2020


def test_the_phone_docks_the_self_view_and_keeps_the_more_sheet_on_screen(server, new_page):
    links = create_room(server, "Phone")["links"]
    laptop = new_page()
    host_id = join(laptop, links["host"], "Mayor Kim")
    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto(links["participant"])
    phone.wait_for_selector("#prejoin-name")
    # Pre-join: Join on the first screen, the preview not cropped.
    join_box = phone.locator("#join-button").bounding_box()
    assert inside(join_box, PHONE["width"], PHONE["height"]), join_box
    assert phone.evaluate("getComputedStyle(document.querySelector('.preview-video')).objectFit") == "contain"
    phone.fill("#prejoin-name", "Ana Silva")
    phone.click("#join-button")
    wait_for_tile(phone, host_id)
    assert video_frames_advancing(phone, host_id, frames=3)["ok"]

    dock = phone.locator('[data-testid="self-dock"]')
    dock.wait_for(state="visible")
    box = dock.bounding_box()
    remote = phone.locator(f'.tile[data-participant-id="{host_id}"]').bounding_box()
    assert inside(box, PHONE["width"], PHONE["height"]), box
    assert box["width"] * box["height"] < 0.12 * PHONE["width"] * PHONE["height"], box
    assert remote["width"] * remote["height"] > 3 * box["width"] * box["height"]
    assert dock.locator('.tile[data-self="true"]').count() == 1
    corner = dock.get_attribute("data-corner")
    phone.click('[data-testid="self-dock-move"]')
    assert dock.get_attribute("data-corner") != corner
    # A name on a narrow tile is readable, not cut to "Ma…".
    name = phone.locator(f'.tile[data-participant-id="{host_id}"] .tile-name')
    assert name.evaluate("(el) => el.scrollWidth <= el.clientWidth + 1"), name.inner_text()

    phone.tap('[data-testid="more"]')
    sheet = phone.locator('[data-testid="more-sheet"]')
    sheet.wait_for(state="visible")
    assert inside(sheet.bounding_box(), PHONE["width"], PHONE["height"]), sheet.bounding_box()
    for item in sheet.locator("button:visible").all():
        assert inside(item.bounding_box(), PHONE["width"], PHONE["height"]), item.inner_text()
    phone.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    phone.screenshot(path=str(SCREENSHOTS / "phone-more.png"))


def test_a_host_puts_a_participants_screen_share_on_the_stage_in_one_click(server, new_page):
    host, guest, _, guest_id = host_and_guest(server, new_page, "Participant share", "Mayor Kim", "Deputy Lee")
    guest.click('[data-testid="share-screen"]')  # a participant cannot set the stage: the spotlight shows it
    button = host.locator('[data-testid="spotlight-to-stage"]')
    button.wait_for(state="visible", timeout=15_000)
    assert guest.locator('[data-testid="spotlight-to-stage"]').is_hidden(), "only hosts and staff get the button"
    button.click()
    host.wait_for_selector(f'[data-testid=stage][data-showing=participant] [data-testid=stage-participant]'
                           f'[data-participant-id="{guest_id}"][data-source=screen]', timeout=10_000)
    host.wait_for_selector(".spotlight", state="hidden")  # shown once


def test_the_client_talks_over_a_websocket_and_a_join_without_media_is_retried_then_reported(server, new_page):
    links = create_room(server, "Stuck media")["links"]
    page = new_page()
    pid = join(page, links["participant"], "Ana Silva")
    # Requests go over a WebSocket from the start (long-polling POSTs were what a lossy link cut).
    assert page.evaluate("window.sitroom.meeting.conn.socket.io.engine.transport.name") == "websocket"

    # A publish connection that never connects (here: reported so): the client joins again once, as
    # the same participant...
    joins = page.evaluate("window.sitroom.state.joins")
    page.evaluate("""() => {
        const m = window.sitroom.meeting;
        m.mediaWatch.pcs = () => ({publish: {connectionState: "new"}, subscribe: null});
        m.mediaWatch.check(m.session);
    }""")
    page.wait_for_function(f"window.sitroom.state.joins > {joins} && window.sitroom.state.status === 'joined'",
                           timeout=20_000)
    assert page.evaluate("window.sitroom.selfId()") == pid
    assert page.evaluate("window.sitroom.state.resumed") is True
    # ...and when that does not help either, says so with "Try again".
    page.evaluate("() => { const m = window.sitroom.meeting; m.mediaWatch.check(m.session); }")
    page.wait_for_selector('[data-testid="media-try-again"]', timeout=10_000)
    assert page.locator(".banner").is_visible()
