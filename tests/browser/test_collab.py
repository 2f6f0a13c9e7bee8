"""Collaboration in the browser client: phone layout, chat, screen share, hands, reactions, the
active speaker, and gallery pages beyond 49 tiles. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import pytest

from collab_helpers import SCREENSHOTS, LoopThread, frames_in, token_of
from conftest import create_room, join, video_frames_advancing, wait_for_tile  # noqa: I001

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_page(browser):
    """phone_page() -> a Page in a phone-like context (390x844, touch, mobile viewport)."""
    contexts = []

    def make():
        context = browser.new_context(bypass_csp=True, viewport=PHONE, is_mobile=True, has_touch=True,
                                      permissions=["camera", "microphone"])
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: print(f"[phone pageerror] {e}"))
        return page

    yield make
    for context in contexts:
        try:
            context.close()
        except Exception:  # noqa: BLE001
            pass


def inside(box, width, height) -> bool:
    return bool(box) and box["x"] >= -0.5 and box["y"] >= -0.5 and \
        box["x"] + box["width"] <= width + 0.5 and box["y"] + box["height"] <= height + 0.5


def test_phone_controls_are_reachable_and_chat_drawer_opens_and_closes(server, new_page, phone_page):
    links = create_room(server, "Council briefing")["links"]
    laptop = new_page()
    host_id = join(laptop, links["host"], "Ana Silva", "Lisbon")
    phone = phone_page()
    phone_id = join(phone, links["participant"], "Rui Costa", "Porto")
    wait_for_tile(phone, host_id)
    wait_for_tile(laptop, phone_id)
    assert video_frames_advancing(phone, host_id, frames=3)["ok"]

    # Every visible control is inside the screen and big enough for a thumb.
    for button in phone.locator(".control-bar button:visible").all():
        box = button.bounding_box()
        assert inside(box, PHONE["width"], PHONE["height"]), box
        assert box["height"] >= 44 and box["width"] >= 44, box
    # The video plays inline, inside the screen.
    for tile in phone.locator(".tile").all():
        assert inside(tile.bounding_box(), PHONE["width"], PHONE["height"])

    phone.tap("button.toggle-mic")
    assert phone.get_attribute("button.toggle-mic", "data-state") == "off"
    laptop.wait_for_selector(f'.tile[data-participant-id="{phone_id}"] .mic-badge', state="visible")

    # Chat: a drawer over the whole screen, then closed again.
    phone.tap('[data-testid="chat"]')
    panel = phone.locator(".side-panel")
    panel.wait_for(state="visible")
    assert inside(panel.bounding_box(), PHONE["width"], PHONE["height"])
    phone.fill(".chat-input", "On my way to the bridge")
    phone.tap(".chat-send")
    laptop.click('[data-testid="chat"]')
    laptop.wait_for_selector(".chat-text:has-text('On my way to the bridge')")
    phone.tap('[data-testid="panel-close"]')
    panel.wait_for(state="hidden")

    # The "More" sheet holds what does not fit in the bar.
    phone.tap('[data-testid="more"]')
    phone.wait_for_selector('[data-testid="sheet-hand"]', state="visible")
    phone.tap('[data-testid="sheet-hand"]')
    laptop.wait_for_selector(f'.tile[data-participant-id="{phone_id}"] .hand-badge', state="visible")

    phone.wait_for_timeout(300)  # let the toasts' entry animation finish for the picture
    phone.screenshot(path=str(SCREENSHOTS / "phone.png"))

    # Landscape: the controls stay reachable.
    phone.set_viewport_size({"width": 844, "height": 390})
    phone.wait_for_timeout(200)
    box = phone.locator("#leave-button").bounding_box()
    assert inside(box, 844, 390), box
    phone.screenshot(path=str(SCREENSHOTS / "phone-landscape.png"))


def test_chat_between_pages_history_for_late_joiner_and_text_is_never_html(server, new_page):
    links = create_room(server, "Chat test")["links"]
    host, guest = new_page(), new_page()
    dialogs = []
    for page in (host, guest):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    join(host, links["host"], "Ana Silva", "Lisbon")
    join(guest, links["participant"], "Hans Weber", "Vienna")
    evil = "<img src=x onerror=alert(1)>"

    host.click('[data-testid="chat"]')
    guest.click('[data-testid="chat"]')
    host.fill(".chat-input", "Good morning, everyone")
    host.press(".chat-input", "Enter")
    guest.wait_for_selector(".chat-text:has-text('Good morning, everyone')")
    guest.fill(".chat-input", evil)
    guest.press(".chat-input", "Enter")
    host.wait_for_selector(".chat-message .chat-text", state="attached")
    host.wait_for_function("(t) => [...document.querySelectorAll('.chat-text')].some((e) => e.textContent === t)",
                           arg=evil)

    # Unread badge: the host closes the chat, the guest writes again.
    host.click('[data-testid="panel-close"]')
    guest.fill(".chat-input", "Second message")
    guest.click(".chat-send")
    host.wait_for_selector('[data-testid="chat"] .control-badge:has-text("1")', state="visible")

    late = new_page()
    late.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    join(late, links["participant"], "Late Arrival", "Aveiro")
    late.click('[data-testid="chat"]')
    host.click('[data-testid="chat"]')
    host.wait_for_selector('[data-testid="chat"] .control-badge', state="hidden")
    texts = late.locator(".chat-text").all_inner_texts()
    assert texts == ["Good morning, everyone", evil, "Second message"], texts
    for page in (host, guest, late):
        assert page.locator(".chat-list img").count() == 0
        assert page.locator(f".chat-text:text-is('{evil}')").is_visible()
    assert dialogs == []


def test_screen_share_is_shown_large_with_the_presenters_name(server, new_page):
    links = create_room(server, "Share test")["links"]
    host, guest = new_page(), new_page()
    join(host, links["host"], "Hans Weber", "Vienna")
    guest_id = join(guest, links["participant"], "Ana Silva", "Lisbon")
    wait_for_tile(host, guest_id)

    guest.click('[data-testid="share-screen"]')
    guest.wait_for_selector(".spotlight:has-text('You are presenting')", state="visible")
    spot = host.locator(".spotlight")
    spot.wait_for(state="visible", timeout=15_000)
    assert spot.get_attribute("data-kind") == "screen"
    assert spot.get_attribute("data-participant-id") == guest_id
    assert "Ana Silva is presenting" in spot.inner_text()
    frames = frames_in(host, ".spotlight video", frames=5, timeout_s=15)
    assert frames["ok"], frames
    # The stage takes most of the screen; the tiles move to a strip.
    box = spot.bounding_box()
    assert box["width"] > 700 and box["height"] > 400, box
    host.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    host.screenshot(path=str(SCREENSHOTS / "screen-share.png"))

    guest.click('[data-testid="share-screen"]')
    spot.wait_for(state="hidden", timeout=10_000)
    guest.wait_for_selector(".spotlight", state="hidden")


def test_raised_hand_is_queued_for_the_host_and_reactions_float_on_the_senders_tile(server, new_page):
    links = create_room(server, "Hands test")["links"]
    host, guest = new_page(), new_page()
    join(host, links["host"], "Mayor Host")
    guest_id = join(guest, links["participant"], "Councillor Two", "Braga")
    wait_for_tile(host, guest_id)

    guest.click('[data-testid="raise-hand"]')
    # The button turns pressed when the server acknowledges (bounded wait, not a race).
    guest.wait_for_selector('[data-testid="raise-hand"][aria-pressed="true"]', timeout=10_000)
    host.wait_for_selector(f'.tile[data-participant-id="{guest_id}"] .hand-badge', state="visible")
    host.wait_for_selector('[data-testid="people"] .control-badge', state="visible")
    host.click('[data-testid="people"]')
    queue = host.locator('[data-testid="hand-queue"]')
    queue.wait_for(state="visible")
    assert "Councillor Two" in queue.inner_text()
    # The host lowers it from the queue.
    queue.locator("button:has-text('Lower')").click()
    queue.wait_for(state="hidden")
    guest.wait_for_function(
        "() => document.querySelector('[data-testid=\"raise-hand\"]').getAttribute('aria-pressed') === 'false'")

    guest.click('[data-testid="react"]')
    guest.click(".reaction-picker button[aria-label='React with 👏']")
    host.wait_for_selector(f'.tile[data-participant-id="{guest_id}"] .tile-reaction:has-text("👏")',
                           timeout=5_000)


def test_the_speaking_participant_is_highlighted_as_active_speaker(server, new_page):
    """The page whose fake microphone sends sound (Chromium's beep: 20 ms every 500 ms) is the
    SFU's active speaker on the other page (`.active-speaker`, from the `active_speaker` event)
    and gets the local speaking ring there (`.speaking`, from received audio levels). A peer that
    talks all the time (every packet voiced) then takes over, and when it leaves the beeping page
    is the speaker again."""
    from tests.meeting_client import MeetingClient

    links = create_room(server, "Speaker test")["links"]
    listener, beeper = new_page(), new_page()
    join(listener, links["host"], "Listener")
    listener.click("button.toggle-mic")  # silence from this page
    beeper_id = join(beeper, links["participant"], "Beeper")
    wait_for_tile(listener, beeper_id)
    beeper_tile = f'.tile[data-participant-id="{beeper_id}"]'
    listener.wait_for_selector(f"{beeper_tile}.active-speaker", state="attached", timeout=20_000)
    listener.wait_for_selector(f"{beeper_tile}.speaking", state="attached", timeout=10_000)
    assert listener.locator(".tile.active-speaker").count() == 1
    # the beeping page sees itself as the speaker, not the silent listener
    beeper.wait_for_selector('.tile[data-self="true"].active-speaker', state="attached", timeout=10_000)
    assert beeper.locator(".tile.active-speaker").count() == 1

    loop = LoopThread()
    talker = MeetingClient(server, "Steady Talker", video=False, audio_level=-12)
    connected = True
    try:
        loop.run(talker.join(token_of(links["participant"]), organisation="Madrid"))
        talker_tile = f'.tile[data-participant-id="{talker.self_id}"]'
        listener.wait_for_selector(f"{talker_tile}.active-speaker", state="attached", timeout=20_000)
        assert listener.locator(".tile.active-speaker").count() == 1
        assert "active-speaker" not in listener.get_attribute(beeper_tile, "class")
        connected = False
        loop.run(talker.close(), timeout=20)
        listener.wait_for_selector(f"{beeper_tile}.active-speaker", state="attached", timeout=20_000)
        assert listener.locator(".tile.active-speaker").count() == 1
    finally:
        try:
            if connected:
                loop.run(talker.close(), timeout=20)
        finally:
            loop.close()


def test_four_people_gallery_on_a_laptop(server, new_page):
    from tests.meeting_client import MeetingClient

    links = create_room(server, "City Situation Room")["links"]
    host, guest = new_page(), new_page()
    host_id = join(host, links["host"], "Ana Silva", "Lisbon")
    guest_id = join(guest, links["participant"], "Hans Weber", "Vienna")
    loop = LoopThread()
    peers = []
    try:
        for name, city in (("Marie Dubois", "Paris"), ("Jan Kowalski", "Kraków")):
            client = MeetingClient(server, name, video_fps=10)
            loop.run(client.join(token_of(links["participant"]), organisation=city))
            peers.append(client)
        for client in peers:
            wait_for_tile(host, client.self_id)
        wait_for_tile(host, guest_id)
        assert video_frames_advancing(host, guest_id, frames=3)["ok"]
        for client in peers:
            assert video_frames_advancing(host, client.self_id, frames=3, timeout_s=20)["ok"]
        assert host.locator(".tile").count() == 4
        # Four tiles in a 2x2 grid on a 1280x720 laptop.
        boxes = [t.bounding_box() for t in host.locator(".tile").all()]
        assert len({round(b["y"]) for b in boxes}) == 2
        host.mouse.move(5, 5)
        host.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
        host.wait_for_timeout(200)
        host.screenshot(path=str(SCREENSHOTS / "gallery.png"))
        assert host_id
    finally:
        for client in peers:
            try:
                loop.run(client.close(), timeout=20)
            except Exception:  # noqa: BLE001
                pass
        loop.close()


def test_more_than_49_participants_are_paged(server, new_page):
    from tests.sio_helpers import ProtocolClient

    links = create_room(server, "Large assembly")["links"]
    page = new_page()
    # This page has no camera or microphone: nothing is published, so nothing is forwarded.
    page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('denied', 'NotAllowedError'));"
    )
    join(page, links["host"], "Chair")
    loop = LoopThread()
    clients = []
    token = token_of(links["participant"])

    async def join_all():
        async def one(i):
            client = ProtocolClient(server)
            await client.connect()
            await client.join(token, f"Delegate {i:02d}", f"City {i:02d}")
            return client
        for start in range(0, 50, 10):
            clients.extend(await asyncio.gather(*(one(i) for i in range(start, start + 10))))

    import asyncio

    try:
        loop.run(join_all(), timeout=45)
        page.wait_for_function("() => document.querySelectorAll('.tile').length > 0 && "
                               "Object.keys(window.sitroom.state.participants).length === 50", timeout=20_000)
        pager = page.locator(".gallery-pager")
        pager.wait_for(state="visible")
        assert "Page 1 of 2" in pager.inner_text()
        first = set(page.eval_on_selector_all(".tile", "els => els.map((e) => e.dataset.participantId)"))
        assert 1 < len(first) <= 49
        assert page.locator('.tile[data-self="true"]').count() == 1
        page.click('[data-testid="gallery-next"]')
        page.wait_for_selector(".gallery-pager:has-text('Page 2 of 2')")
        second = set(page.eval_on_selector_all(".tile", "els => els.map((e) => e.dataset.participantId)"))
        assert page.locator('.tile[data-self="true"]').count() == 1  # self stays visible
        others_first = first - {page.evaluate("window.sitroom.selfId()")}
        others_second = second - {page.evaluate("window.sitroom.selfId()")}
        assert others_second and not (others_first & others_second)
        assert len(others_first | others_second) == 50
        assert "Delegate" in page.locator(".tile:not([data-self])").first.inner_text()
        page.click('[data-testid="gallery-prev"]')
        page.wait_for_selector(".gallery-pager:has-text('Page 1 of 2')")
    finally:
        async def close_all():
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        try:
            loop.run(close_all(), timeout=30)
        finally:
            loop.close()
