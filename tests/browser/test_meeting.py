"""Meetings through the real pages: join with the Join button, see and hear each other, leave."""

from __future__ import annotations

import pytest

from conftest import (  # noqa: I001 - this folder's conftest
    audio_packets_received,
    create_room,
    host_and_guest,
    join,
    video_frames_advancing,
    wait_for_tile,
    wait_for_tile_gone,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def first_remote_frame_s(page, participant_id: str) -> float:
    """Seconds from this page's Join click until participant_id's first video frame was shown,
    from the page's own clock (window.sitroom.state.firstFrameAt / startedAt)."""
    assert video_frames_advancing(page, participant_id, frames=1, timeout_s=15)["ok"], participant_id
    page.wait_for_function("(id) => id in window.sitroom.state.firstFrameAt", arg=participant_id,
                           timeout=5_000)
    ms = page.evaluate("(id) => window.sitroom.state.firstFrameAt[id] - window.sitroom.state.startedAt",
                       participant_id)
    return ms / 1000


def test_two_participants_see_and_hear_each_other_then_a_third_joins_and_one_leaves(server, new_page):
    links = create_room(server, "Browser meeting")["links"]
    host, guest = new_page(), new_page()

    host_id = join(host, links["host"], "Mayor Host", "Porto")
    guest_id = join(guest, links["participant"], "Guest Council", "Braga")
    assert host_id and guest_id and host_id != guest_id

    # Each page shows the other's tile with video frames advancing, and receives audio.
    wait_for_tile(host, guest_id)
    wait_for_tile(guest, host_id)
    print(f"\njoin-to-first-remote-frame: guest sees host {first_remote_frame_s(guest, host_id):.2f} s "
          "after clicking Join")
    print(f"join-to-first-remote-frame: host sees guest {first_remote_frame_s(host, guest_id):.2f} s after the host's own Join "
          "(the host was alone until then)")
    for page, other in ((host, guest_id), (guest, host_id)):
        frames = video_frames_advancing(page, other, frames=10, timeout_s=10)
        assert frames["ok"], f"video of {other} not advancing: {frames}"
        assert audio_packets_received(page, minimum=10) >= 10

    # Labels come from the pre-join form.
    assert "Guest Council" in host.inner_text(f'.tile[data-participant-id="{guest_id}"]')
    assert "Braga" in host.inner_text(f'.tile[data-participant-id="{guest_id}"]')

    # A third participant joins late and sees both others' video.
    late = new_page()
    late_id = join(late, links["participant"], "Late Arrival", "Aveiro")
    for other in (host_id, guest_id):
        wait_for_tile(late, other)
        print(f"join-to-first-remote-frame: late joiner sees {other} {first_remote_frame_s(late, other):.2f} s "
              "after clicking Join")
    for other in (host_id, guest_id):
        frames = video_frames_advancing(late, other, frames=5, timeout_s=15)
        assert frames["ok"], f"late joiner: video of {other} not advancing: {frames}"
    wait_for_tile(host, late_id)
    wait_for_tile(guest, late_id)

    # The guest leaves: its tile disappears from the others, and it sees the "You left" screen.
    guest.click("#leave-button")
    guest.wait_for_selector("#rejoin-button", timeout=5_000)
    wait_for_tile_gone(host, guest_id, timeout_ms=5_000)
    wait_for_tile_gone(late, guest_id, timeout_ms=5_000)
    assert host.locator(".tile").count() == 2


def test_mute_shows_badge_and_camera_off_shows_initials_to_others(server, new_page):
    links = create_room(server, "Mute test")["links"]
    host, guest = new_page(), new_page()
    host_id = join(host, links["host"], "Ana Silva", "Lisbon")
    join(guest, links["participant"], "Guest")
    tile = f'.tile[data-participant-id="{host_id}"]'
    guest.wait_for_selector(tile)
    assert guest.locator(f"{tile} .mic-badge").is_hidden()

    host.click("button.toggle-mic")
    host.click("button.toggle-camera")
    guest.wait_for_selector(f"{tile} .mic-badge", state="visible", timeout=5_000)
    guest.wait_for_selector(f"{tile}.video-off .avatar", state="visible", timeout=5_000)
    assert guest.inner_text(f"{tile} .avatar").strip() == "AS"
    # The buttons say what a click will do now, in their text and their accessible names.
    assert host.get_attribute("button.toggle-mic", "data-state") == "off"
    assert host.get_attribute("button.toggle-mic", "aria-label") == "Unmute microphone"
    assert host.inner_text("button.toggle-mic").strip() == "Unmute"
    assert host.get_attribute("button.toggle-camera", "aria-label") == "Start video"
    assert host.evaluate("window.sitroom.state.self.audio_muted") is True
    # The microphone is really silenced: the track is disabled, not only the badge.
    assert host.evaluate("window.sitroom.meeting.media.audioTrack.enabled") is False

    host.click("button.toggle-mic")
    guest.wait_for_selector(f"{tile} .mic-badge", state="hidden", timeout=5_000)
    assert host.get_attribute("button.toggle-mic", "aria-label") == "Mute microphone"


def test_invalid_token_shows_an_error_screen(server, new_page):
    room = create_room(server, "Token test")
    page = new_page()
    page.goto(f"{server}/r/{room['room']['id']}?t=not-a-real-token")
    page.wait_for_selector("text=This invite link is not valid", timeout=10_000)
    assert page.locator("#join-button").count() == 0
    page.goto(f"{server}/r/no-such-room?t=not-a-real-token")
    page.wait_for_selector(".notice-card h1", timeout=10_000)


def test_phone_viewport_meeting_fits(server, new_page):
    links = create_room(server, "Phone test")["links"]
    phone = new_page(viewport={"width": 390, "height": 844})
    laptop = new_page()
    join(laptop, links["host"], "Mayor")
    phone_id = join(phone, links["participant"], "On The Go")
    wait_for_tile(laptop, phone_id)
    # Tiles and the control bar stay inside the viewport (no scrolling needed to reach Leave).
    box = phone.locator("#leave-button").bounding_box()
    assert box and box["y"] + box["height"] <= 844 and box["x"] + box["width"] <= 390
    for handle in phone.locator(".tile").all():
        b = handle.bounding_box()
        assert b and b["x"] >= 0 and b["x"] + b["width"] <= 390 + 0.5


def test_reconnects_and_rejoins_after_the_connection_drops(server, new_page):
    host, guest, host_id, old_guest_id = host_and_guest(server, new_page, "Reconnect test")

    # Drop the Socket.IO transport under the guest: it shows the notice, then joins again.
    guest.evaluate("window.sitroom.meeting.conn.socket.io.engine.close()")
    guest.wait_for_selector("text=Reconnecting", timeout=5_000)
    guest.wait_for_function(
        "() => window.sitroom.state.status === 'joined' && window.sitroom.state.joins === 2", timeout=15_000)
    # It came back as the same participant: same id, its tile on the host's page, media flowing again.
    assert guest.evaluate("[window.sitroom.selfId(), window.sitroom.state.resumed]") == [old_guest_id, True]
    new_guest_id = old_guest_id
    wait_for_tile(host, new_guest_id)
    assert video_frames_advancing(guest, host_id, frames=5, timeout_s=15)["ok"]
    assert video_frames_advancing(host, new_guest_id, frames=5, timeout_s=15)["ok"]


def test_joins_without_camera_and_microphone_when_access_is_denied(server, new_page):
    links = create_room(server, "No devices")["links"]
    host = new_page()
    host_id = join(host, links["host"], "Host")
    guest = new_page()
    guest.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('denied', 'NotAllowedError'));"
    )
    guest.goto(links["participant"])
    guest.wait_for_selector("text=access was blocked", timeout=10_000)
    guest.fill("#prejoin-name", "Listener")
    guest.click("#join-button")
    guest.wait_for_selector('.tile[data-self="true"].video-off', timeout=15_000)
    guest_id = guest.evaluate("window.sitroom.selfId()")
    assert guest.locator("button.toggle-mic").is_disabled()
    # The guest still sees and hears the host; the host sees the guest's initials.
    assert video_frames_advancing(guest, host_id, frames=5, timeout_s=15)["ok"]
    assert audio_packets_received(guest, minimum=5) >= 5
    host.wait_for_selector(f'.tile[data-participant-id="{guest_id}"].video-off', timeout=10_000)


def test_gallery_tiles_fit_the_stage_side_by_side_on_a_laptop(server, new_page):
    host, guest, _, guest_id = host_and_guest(server, new_page, "Layout test")
    stage = host.locator(".stage").bounding_box()
    boxes = [t.bounding_box() for t in host.locator(".tile").all()]
    assert len(boxes) == 2
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 1, "two tiles on a 1280x720 laptop sit side by side"
    for b in boxes:
        assert b["y"] >= stage["y"] - 0.5 and b["y"] + b["height"] <= stage["y"] + stage["height"] + 0.5
        assert b["x"] >= stage["x"] - 0.5 and b["x"] + b["width"] <= stage["x"] + stage["width"] + 0.5
