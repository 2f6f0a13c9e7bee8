"""The browser client asks the SFU not to forward videos it does not show (``subscribe_prefs``),
and comes back after a dropped connection as the same person (``resume_key``).

A camera turned off is not decoded (its tile shows initials), so the page pauses it: its video
packets stop arriving; turned on again, it resumes and frames are decoded at once. After the
connection drops, the page joins again with its resume key: a participant promoted to staff is
still staff, and the page sends its paused list again on the new connection.
"""

from __future__ import annotations

import time

import pytest

from conftest import (  # noqa: I001 - this folder's conftest
    host_and_guest,
    video_frames_advancing,
    wait_for_tile,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SETTLE_S = 2.0  # packets in flight when the pause took effect
WINDOW_S = 3.0  # a count that does not move across this window has stopped

# Video RTP packets received from one participant's camera, on the subscribe connection.
CAMERA_PACKETS_JS = """
async (id) => {
  const m = window.sitroom.meeting;
  const consumer = (m.subscriber?.consumers || []).find((c) => c.participant_id === id && c.source === "camera");
  const pc = window.sitroom.pcs.subscribe;
  if (!consumer || !pc) return -1;
  const transceiver = pc.getTransceivers().find((t) => t.mid === String(consumer.mid));
  if (!transceiver) return -1;
  let packets = 0;
  (await transceiver.receiver.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp") packets += s.packetsReceived || 0;
  });
  return packets;
}
"""
PAUSED_JS = "(id) => window.sitroom.state.videoPaused.some((p) => p.participant_id === id && p.source === 'camera')"


def camera_packets_stopped(page, participant_id: str) -> int:
    time.sleep(SETTLE_S)
    before = page.evaluate(CAMERA_PACKETS_JS, participant_id)
    time.sleep(WINDOW_S)
    after = page.evaluate(CAMERA_PACKETS_JS, participant_id)
    assert before >= 0 and after == before, f"camera packets still arrive: {before} -> {after}"
    return after


def test_a_camera_that_is_off_is_paused_and_resumes_when_turned_on(server, new_page):
    host, guest, host_id, guest_id = host_and_guest(server, new_page, "Prefs browser")
    assert video_frames_advancing(host, guest_id, frames=5, timeout_s=15)["ok"]
    assert host.evaluate("window.sitroom.state.videoPaused") == []

    guest.click("button.toggle-camera")
    host.wait_for_function(PAUSED_JS, arg=guest_id, timeout=10_000)
    stopped = camera_packets_stopped(host, guest_id)
    # The guest still receives the host's camera: the pause is the host page's alone.
    assert video_frames_advancing(guest, host_id, frames=5, timeout_s=15)["ok"]

    guest.click("button.toggle-camera")
    host.wait_for_function(f"(id) => !({PAUSED_JS})(id)", arg=guest_id, timeout=10_000)
    frames = video_frames_advancing(host, guest_id, frames=10, timeout_s=15)
    assert frames["ok"], f"the resumed camera is not decoded: {frames}"
    assert host.evaluate(CAMERA_PACKETS_JS, guest_id) > stopped


def test_after_a_dropped_connection_the_role_and_the_paused_list_come_back(server, new_page):
    host, guest, host_id, guest_id = host_and_guest(server, new_page, "Resume browser")
    wait_for_tile(guest, host_id)

    ack = host.evaluate("(id) => window.sitroom.meeting.conn.request('set_role', {participant_id: id, role: 'staff'})",
                        guest_id)
    assert ack["ok"] and ack["changed"], ack
    guest.wait_for_function("window.sitroom.state.role === 'staff'")
    # The host's camera off: the guest pauses it.
    host.click("button.toggle-camera")
    guest.wait_for_function(PAUSED_JS, arg=host_id, timeout=10_000)

    # Drop the Socket.IO transport under the guest: it joins again, as staff, and pauses the host's
    # camera again on the new connection.
    guest.evaluate("window.sitroom.meeting.conn.socket.io.engine.close()")
    guest.wait_for_function(
        "() => window.sitroom.state.status === 'joined' && window.sitroom.state.joins === 2", timeout=20_000)
    new_guest_id = guest.evaluate("window.sitroom.selfId()")
    assert new_guest_id == guest_id and guest.evaluate("window.sitroom.state.resumed")
    assert guest.evaluate("[window.sitroom.state.role, window.sitroom.state.self.role]") == ["staff", "staff"]
    host.wait_for_function(
        "(id) => window.sitroom.state.participants[id] && window.sitroom.state.participants[id].role === 'staff'",
        arg=new_guest_id, timeout=10_000)
    guest.wait_for_function(PAUSED_JS, arg=host_id, timeout=10_000)
    camera_packets_stopped(guest, host_id)
