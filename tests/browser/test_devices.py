"""Changing camera, microphone and speaker during a meeting, from the device menu of the control bar.

The presenting page runs in its own Chromium with three fake cameras (``device-count=3``; the
session browser has one camera, three microphones and three speakers). It switches to the third:
Chromium's second fake camera (``fake_device_1``) delivers Y16 depth frames, which a video element
shows but a WebRTC sender never encodes (measured: ``replaceTrack`` to it stalls the encoder, to
``fake_device_2`` or to another track of the same device it does not). Switching uses
``RTCRtpSender.replaceTrack``: the publish connection is not renegotiated, the old track is stopped,
and the other page keeps decoding the presenter's video. The microphone's mute state survives the
switch, the speaker choice reaches every remote ``<audio>`` (``setSinkId``), and the choices are
remembered for the next pre-join.
"""

from __future__ import annotations

import pytest

from conftest import (  # noqa: I001 - this folder's conftest
    CHROMIUM,
    CHROMIUM_ARGS,
    OUR_DISABLED_FEATURES,
    audio_packets_received,
    create_room,
    join,
    playwright_disabled_features,
    video_frames_advancing,
    wait_for_tile,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

FAKE_DEVICES = "--use-fake-device-for-media-stream"


@pytest.fixture(scope="module")
def two_camera_browser(browser):
    """A second Chromium like the session's, whose fake capture offers three cameras."""
    pw_features = playwright_disabled_features()
    merged = list(dict.fromkeys(pw_features + OUR_DISABLED_FEATURES))
    args = [a for a in CHROMIUM_ARGS if not a.startswith(FAKE_DEVICES)]
    other = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        ignore_default_args=["--disable-features=" + ",".join(pw_features)],
        args=[f"{FAKE_DEVICES}=fps=30,device-count=3", *args, "--disable-features=" + ",".join(merged)],
    )
    try:
        yield other
    finally:
        other.close()


@pytest.fixture
def presenter_context(two_camera_browser):
    context = two_camera_browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 720},
                                             permissions=["camera", "microphone"])
    context.set_default_timeout(15_000)
    yield context
    context.close()


# What the publish connection sends: its SDP (unchanged = no renegotiation) and each sender's track.
SENDERS_JS = """
() => {
  const pc = window.sitroom.pcs.publish;
  const track = (kind) => {
    const s = pc.getSenders().find((x) => x.track && x.track.kind === kind);
    if (!s) return null;
    return {id: s.track.id, label: s.track.label, deviceId: s.track.getSettings().deviceId,
            enabled: s.track.enabled, state: s.track.readyState};
  };
  return {sdp: pc.localDescription.sdp, transceivers: pc.getTransceivers().length,
          video: track("video"), audio: track("audio"),
          streamTracks: window.sitroom.meeting.media.stream.getTracks().length};
}
"""
# Keep the sender's current track of one kind in window.__old, to check later that it was stopped.
KEEP_OLD_JS = """
(kind) => { window.__old = window.__old || {};
  window.__old[kind] = window.sitroom.pcs.publish.getSenders().find((s) => s.track && s.track.kind === kind).track; }
"""
SENDING_FROM_JS = """
([kind, id]) => {
  const s = window.sitroom.pcs.publish.getSenders().find((x) => x.track && x.track.kind === kind);
  return Boolean(s && s.track.readyState === "live" && s.track.getSettings().deviceId === id);
}
"""


def options(page, select: str) -> list[str]:
    return page.eval_on_selector_all(f"{select} option", "els => els.map((e) => e.value)")


def option_value(page, select: str, label: str) -> str:
    return page.eval_on_selector_all(
        f"{select} option", "(els, label) => els.find((e) => e.textContent === label).value", label)


def test_switching_camera_microphone_and_speaker_in_a_meeting(server, new_page, presenter_context):
    links = create_room(server, "Devices")["links"]
    presenter = presenter_context.new_page()
    presenter.on("pageerror", lambda e: print(f"[pageerror] {e}"))
    viewer = new_page()
    presenter_id = join(presenter, links["host"], "Presenter")
    viewer_id = join(viewer, links["participant"], "Viewer")
    wait_for_tile(viewer, presenter_id)
    wait_for_tile(presenter, viewer_id)
    assert video_frames_advancing(viewer, presenter_id, frames=5, timeout_s=15)["ok"]

    # Mute the microphone first: the switch must keep it muted.
    presenter.click("button.toggle-mic")
    presenter.wait_for_function("window.sitroom.state.self && window.sitroom.state.self.audio_muted === true")
    before = presenter.evaluate(SENDERS_JS)
    assert before["video"] and before["audio"] and before["audio"]["enabled"] is False

    # The menu lists this browser's devices, the ones in use selected.
    menu = '[data-testid="device-menu"]'
    assert presenter.locator(menu).is_hidden()
    presenter.click('[data-testid="device-settings"]')
    presenter.wait_for_selector(menu, state="visible")
    presenter.wait_for_function("document.querySelectorAll('#device-camera option').length >= 3")
    cameras, mics, speakers = (options(presenter, s) for s in ("#device-camera", "#device-microphone",
                                                                 "#device-speaker"))
    assert len(cameras) == 3 and len(mics) >= 2 and len(speakers) >= 2, (cameras, mics, speakers)
    assert presenter.input_value("#device-camera") == before["video"]["deviceId"]
    assert presenter.input_value("#device-microphone") == before["audio"]["deviceId"]

    # Another camera: same transceivers, same SDP, the old track stopped, the viewer still decodes.
    presenter.evaluate(KEEP_OLD_JS, "video")
    camera = option_value(presenter, "#device-camera", "fake_device_2")
    assert camera != before["video"]["deviceId"]
    presenter.select_option("#device-camera", camera)
    presenter.wait_for_function(SENDING_FROM_JS, arg=["video", camera])
    after = presenter.evaluate(SENDERS_JS)
    assert after["sdp"] == before["sdp"] and after["transceivers"] == before["transceivers"]
    assert after["video"]["id"] != before["video"]["id"] and after["video"]["enabled"] is True
    assert presenter.evaluate("window.__old.video.readyState") == "ended"
    assert after["streamTracks"] == 2
    frames = video_frames_advancing(viewer, presenter_id, frames=10, timeout_s=15)
    assert frames["ok"], f"the viewer stopped decoding after the camera switch: {frames}"
    # The presenter's own tile shows the new camera.
    assert presenter.evaluate(
        "(id) => document.querySelector(`.tile[data-participant-id='${id}'] video`).srcObject"
        ".getVideoTracks()[0].getSettings().deviceId", presenter_id) == camera

    # Another microphone, still muted; unmuting then sends it.
    presenter.evaluate(KEEP_OLD_JS, "audio")
    mic = next(m for m in mics if m != before["audio"]["deviceId"])
    presenter.select_option("#device-microphone", mic)
    presenter.wait_for_function(SENDING_FROM_JS, arg=["audio", mic])
    after = presenter.evaluate(SENDERS_JS)
    assert after["audio"]["enabled"] is False, "the switch unmuted the microphone"
    assert presenter.get_attribute("button.toggle-mic", "data-state") == "off"
    assert presenter.evaluate("window.__old.audio.readyState") == "ended"
    assert after["sdp"] == before["sdp"] and after["transceivers"] == before["transceivers"]
    presenter.click("button.toggle-mic")
    presenter.wait_for_function("window.sitroom.meeting.media.audioTrack.enabled === true")
    heard = audio_packets_received(viewer, minimum=1)
    assert audio_packets_received(viewer, minimum=heard + 25, timeout_s=15) >= heard + 25

    # Another speaker: every remote <audio> plays there. (Clicking the mic button closed the menu.)
    assert presenter.locator(menu).is_hidden()
    presenter.click('[data-testid="device-settings"]')
    presenter.wait_for_selector(menu, state="visible")
    assert presenter.input_value("#device-camera") == camera and presenter.input_value("#device-microphone") == mic
    speaker = next(s for s in speakers if s != presenter.input_value("#device-speaker"))
    presenter.select_option("#device-speaker", speaker)
    presenter.wait_for_function(
        "(id) => { const els = [...document.querySelectorAll('.audio-sink audio')];"
        " return els.length > 0 && els.every((a) => a.sinkId === id); }", arg=speaker)

    # Remembered like the pre-join's choice: a new pre-join in this browser starts on them.
    stored = presenter.evaluate("['camera', 'microphone', 'speaker'].map((k) => localStorage.getItem(`sitroom.${k}`))")
    assert stored == [camera, mic, speaker]
    presenter.keyboard.press("Escape")
    presenter.wait_for_selector(menu, state="hidden")
    again = presenter_context.new_page()
    again.goto(links["participant"])
    again.wait_for_function("document.querySelectorAll('#prejoin-camera option').length >= 3")
    again.wait_for_function("(id) => document.querySelector('#prejoin-camera').value === id", arg=camera)
    assert again.input_value("#prejoin-microphone") == mic
    again.close()


def test_a_viewer_can_choose_only_the_speaker(server, new_page):
    links = create_room(server, "Devices viewer")["links"]
    host = new_page()
    join(host, links["host"], "Host")
    invite = host.evaluate("window.sitroom.meeting.conn.request('invite_create', {role: 'viewer'})")
    viewer = new_page()
    viewer.goto(invite["link"])
    viewer.fill("#prejoin-name", "Watcher")
    viewer.click("#join-button")
    viewer.wait_for_function("window.sitroom.state && window.sitroom.state.status === 'joined'")
    viewer.click('[data-testid="device-settings"]')
    viewer.wait_for_function("document.querySelectorAll('#device-speaker option').length >= 1")
    assert viewer.locator("#device-camera").count() == 0
    assert viewer.locator("#device-microphone").count() == 0


def test_on_a_phone_the_menu_opens_from_the_more_sheet_and_fits(server, new_page):
    links = create_room(server, "Devices phone")["links"]
    phone = new_page(viewport={"width": 390, "height": 844})
    laptop = new_page()
    join(laptop, links["host"], "Desk")
    phone_id = join(phone, links["participant"], "Phone")
    wait_for_tile(laptop, phone_id)
    assert phone.locator('[data-testid="device-settings"]').is_hidden()  # no room in the bar
    phone.click('[data-testid="more"]')
    phone.click('[data-testid="sheet-devices"]')
    menu = phone.wait_for_selector('[data-testid="device-menu"]', state="visible")
    phone.wait_for_function("document.querySelectorAll('#device-microphone option').length >= 2")
    assert len(options(phone, "#device-camera")) == 1  # the session browser's one fake camera
    box = menu.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 + 0.5 and box["y"] >= 0, box
    # Choosing the camera in use changes nothing; another microphone is switched to.
    before = phone.evaluate(SENDERS_JS)
    phone.select_option("#device-camera", options(phone, "#device-camera")[0])
    mic = next(m for m in options(phone, "#device-microphone") if m != before["audio"]["deviceId"])
    phone.select_option("#device-microphone", mic)
    phone.wait_for_function(SENDING_FROM_JS, arg=["audio", mic])
    after = phone.evaluate(SENDERS_JS)
    assert after["video"]["id"] == before["video"]["id"] and after["sdp"] == before["sdp"]
    assert video_frames_advancing(laptop, phone_id, frames=5, timeout_s=15)["ok"]
