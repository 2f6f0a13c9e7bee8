"""Opus DTX between two Chromium pages through the SFU: the SFU's publish answer asks for it
(``usedtx=1``, media/red.py ``answer_with_red``), so a silent microphone (a fake capture file of
silence) sends a packet now and then instead of 50 a second, and the other page still plays its
audio without a gap (the decoder fills the silence: samples keep coming).

The measure needs no clock: at the receiver, 48 kHz Opus in 20 ms packets is 960 samples per
packet without DTX (packetsReceived x 960 = totalSamplesReceived), far fewer packets with it."""

from __future__ import annotations

import time

import pytest

from conftest import create_room, join  # noqa: I001 - this folder's conftest
from chromium import launch_chromium, silence_wav

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

_AUDIO_JS = """
async () => {
  const out = {answer: null, packets: 0, samples: 0, sent: 0};
  const pub = window.sitroom.pcs.publish;
  if (pub && pub.remoteDescription) {
    const line = pub.remoteDescription.sdp.split("\\r\\n").find((l) => /^a=fmtp:\\d+ .*useinbandfec/.test(l));
    out.answer = line || null;
    (await pub.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "audio") out.sent += s.packetsSent || 0;
    });
  }
  const sub = window.sitroom.pcs.subscribe;
  if (sub) {
    (await sub.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.packets += s.packetsReceived || 0;
        out.samples += s.totalSamplesReceived || 0;
      }
    });
  }
  return out;
}
"""


def test_a_silent_microphone_sends_almost_nothing_and_is_still_heard(server, browser, tmp_path):
    quiet = launch_chromium(browser.browser_type,
                            args=[f"--use-file-for-fake-audio-capture={silence_wav(tmp_path / 'silence.wav')}"])
    try:
        links = create_room(server, "DTX")["links"]
        pages = []
        for link, name in ((links["host"], "Quiet host"), (links["participant"], "Quiet guest")):
            context = quiet.new_context(bypass_csp=True, permissions=["camera", "microphone"])
            context.set_default_timeout(15_000)
            page = context.new_page()
            join(page, link, name)
            pages.append(page)
        host, guest = pages
        # bounded wait for 4 s of the guest's audio played at the host
        deadline = time.monotonic() + 30
        state = host.evaluate(_AUDIO_JS)
        while state["samples"] < 4 * 48000 and time.monotonic() < deadline:
            time.sleep(0.5)
            state = host.evaluate(_AUDIO_JS)
        assert state["samples"] >= 4 * 48000, state
        assert state["answer"] and "usedtx=1" in state["answer"], state  # the SFU asked for DTX
        # silence in 20 ms Opus packets would be samples / 960 packets: DTX sent a third or less
        assert 0 < state["packets"] * 960 * 3 < state["samples"], state
        guest_state = guest.evaluate(_AUDIO_JS)
        assert "usedtx=1" in (guest_state["answer"] or ""), guest_state
    finally:
        quiet.close()
