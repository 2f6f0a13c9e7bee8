"""Moderation in the browser client: the lobby (wait, admit), muting from the People panel, removal
and the end of the meeting, as the host and the participant see them."""

from __future__ import annotations

import pytest

from conftest import create_room, host_and_guest, join, video_frames_advancing, wait_for_tile  # noqa: I001

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def open_menu_item(page, participant_id: str, label: str) -> None:
    page.click(f'.people .person[data-participant-id="{participant_id}"] [data-testid="person-menu"]')
    page.click(f'.people .person[data-participant-id="{participant_id}"] .menu-item:has-text("{label}")')


def test_lobby_admit_then_host_mutes_the_participant_from_the_people_panel(server, new_page):
    links = create_room(server, "Lobby test")["links"]
    host, guest = new_page(), new_page()
    join(host, links["host"], "Mayor Host", "Porto")

    # The host turns the lobby on from the host tools.
    host.click('[data-testid="host-tools"]')
    host.click('label.switch:has([data-testid="setting-lobby"])')
    host.wait_for_function("() => document.querySelector('[data-testid=\"setting-lobby\"]').checked")
    host.wait_for_timeout(300)  # the meeting_settings round trip
    host.click('[data-testid="panel-close"]')

    # The guest waits in the lobby.
    guest.goto(links["participant"])
    guest.fill("#prejoin-name", "Visitor Guest")
    guest.fill("#prejoin-org", "Braga")
    guest.wait_for_selector("#join-button:enabled")
    guest.click("#join-button")
    guest.wait_for_selector("text=Waiting for the host to let you in", timeout=15_000)
    assert guest.locator('[data-testid="lobby-leave"]').is_visible()
    assert guest.locator('.tile[data-self="true"]').count() == 0

    # The host is told, and admits from the People panel.
    host.wait_for_selector("text=Visitor Guest (Braga) is waiting in the lobby", timeout=10_000)
    host.wait_for_selector('[data-testid="people"] .control-badge', state="visible")
    host.click('[data-testid="people"]')
    host.click('[data-testid="lobby-admit"]')

    guest.wait_for_selector('.tile[data-self="true"]', timeout=15_000)
    guest.wait_for_selector('[data-testid="lobby-wait"]', state="detached")
    guest_id = guest.evaluate("window.sitroom.selfId()")
    wait_for_tile(host, guest_id)
    assert video_frames_advancing(host, guest_id, frames=5, timeout_s=15)["ok"]
    host.wait_for_selector(".people-lobby", state="hidden")

    # The host mutes the guest from the People panel.
    assert guest.get_attribute("button.toggle-mic", "data-state") == "on"
    open_menu_item(host, guest_id, "Mute microphone")
    notice = guest.locator('[data-testid="moderated-notice"]')
    notice.wait_for(state="visible", timeout=10_000)
    assert "muted you" in notice.inner_text()
    host.wait_for_selector(f'.tile[data-participant-id="{guest_id}"] .mic-badge', state="visible", timeout=5_000)
    assert guest.get_attribute("button.toggle-mic", "data-state") == "off"
    assert guest.evaluate("window.sitroom.meeting.media.audioTrack.enabled") is False


def test_host_requires_asking_to_unmute_then_allows_it(server, new_page):
    host, guest, _, guest_id = host_and_guest(server, new_page, "Unmute test", "Mayor Host", "Councillor")
    host.click('[data-testid="host-tools"]')
    host.click('label.switch:has([data-testid="setting-self-unmute"])')
    host.wait_for_function("() => !document.querySelector('[data-testid=\"setting-self-unmute\"]').checked")
    host.click('[data-testid="mute-all"]')

    guest.wait_for_selector('[data-testid="ask-unmute"]', timeout=10_000)
    guest.click("button.toggle-mic")  # refused locally: the notice stays, the mic stays off
    assert guest.get_attribute("button.toggle-mic", "data-state") == "off"
    guest.click('[data-testid="ask-unmute"]')
    host.click('[data-testid="allow-unmute"]', timeout=10_000)
    guest.click('[data-testid="allowed-unmute"]', timeout=10_000)
    guest.wait_for_function(
        "() => document.querySelector('button.toggle-mic').dataset.state === 'on'")
    host.wait_for_selector(f'.tile[data-participant-id="{guest_id}"] .mic-badge', state="hidden", timeout=5_000)


def test_removed_participant_sees_a_clear_screen_and_the_host_ends_the_meeting(server, new_page):
    links = create_room(server, "Removal test")["links"]
    host, guest, other = new_page(), new_page(), new_page()
    join(host, links["host"], "Mayor Host")
    guest_id = join(guest, links["participant"], "Disruptive Guest")
    other_id = join(other, links["participant"], "Calm Guest")
    wait_for_tile(host, guest_id)
    wait_for_tile(host, other_id)

    host.click('[data-testid="people"]')
    open_menu_item(host, guest_id, "Remove from meeting")
    host.click(".sr-dialog button:has-text('Remove')")
    guest.wait_for_selector("text=You were removed from the meeting", timeout=10_000)
    guest.wait_for_timeout(1500)  # no automatic rejoin
    assert guest.locator('.tile[data-self="true"]').count() == 0
    assert guest.locator("text=You were removed from the meeting").is_visible()

    host.click('[data-testid="panel-tab-host"]')
    host.click('[data-testid="end-meeting"]')
    host.click(".sr-dialog button:has-text('End meeting')")
    other.wait_for_selector("text=The meeting has ended", timeout=10_000)
