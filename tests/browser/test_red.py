"""RED for Opus (RFC 2198) between two Chromium pages through the SFU (media/red.py): each page
offers its microphone with audio/red first (client_web/src/media.js preferAudioRed), the SFU
answers red first with Opus in-band FEC asked for, offers red to each subscriber before Opus,
each subscriber keeps it, and the audio that flows is RED both ways (getStats codec mimeType)."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from conftest import ADMIN_TOKEN, audio_packets_received, host_and_guest  # noqa: I001 - this folder's conftest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# Per connection: the audio m-line formats and red/Opus fmtp of each description, and per audio
# RTP stream its codec (getStats codecId -> mimeType) and packets.
_AUDIO_JS = """
async (which) => {
  const pc = window.sitroom.pcs[which];
  if (!pc) return null;
  const describe = (d) => {
    if (!d) return null;
    const section = d.sdp.split(/\\r\\n(?=m=)/).find((s) => s.startsWith("m=audio")) || "";
    const names = {};
    const fmtp = {};
    for (const line of section.split("\\r\\n")) {
      let m = /^a=rtpmap:(\\d+) ([^/]+)/.exec(line);
      if (m) names[m[1]] = m[2].toLowerCase();
      m = /^a=fmtp:(\\d+) (.*)$/.exec(line);
      if (m) fmtp[m[1]] = m[2];
    }
    const formats = (section.split("\\r\\n")[0] || "").split(" ").slice(3);
    return {codecs: formats.map((pt) => names[pt] || pt), formats, fmtp, names};
  };
  const stats = await pc.getStats();
  const streams = [];
  stats.forEach((s) => {
    if ((s.type === "inbound-rtp" || s.type === "outbound-rtp") && s.kind === "audio") {
      const codec = s.codecId && stats.get(s.codecId);
      streams.push({type: s.type, mimeType: codec ? codec.mimeType : null,
                    packets: s.type === "inbound-rtp" ? s.packetsReceived || 0 : s.packetsSent || 0,
                    lost: s.packetsLost || 0, concealed: s.concealedSamples || 0,
                    samples: s.totalSamplesReceived || 0, fec: s.fecPacketsReceived || 0});
    }
  });
  return {local: describe(pc.localDescription), remote: describe(pc.remoteDescription), streams};
}
"""


def audio_state(page, which: str, kind: str, minimum_packets: int, timeout_s: float = 20) -> dict:
    """Poll (bounded) until an audio stream of ``kind`` on connection ``which`` counted
    ``minimum_packets`` and its codec is known."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = page.evaluate(_AUDIO_JS, which)
        streams = [s for s in (state or {}).get("streams", []) if s["type"] == kind]
        if any(s["packets"] >= minimum_packets and s["mimeType"] for s in streams) or time.monotonic() > deadline:
            return {**(state or {}), "streams": streams}
        time.sleep(0.25)


def sfu_stats(base_url: str) -> dict:
    request = urllib.request.Request(base_url + "/api/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["sfu"]


def red_over_opus(description: dict) -> tuple[str, str]:
    """(red PT, Opus PT) of a described audio section whose red fmtp names its Opus."""
    red = [pt for pt, name in description["names"].items() if name == "red" and pt in description["formats"]]
    opus = [pt for pt, name in description["names"].items() if name == "opus" and pt in description["formats"]]
    assert len(red) == 1 and len(opus) == 1, description
    fmtp = description["fmtp"].get(red[0])
    if fmtp is not None:
        assert set(fmtp.split("/")) == {opus[0]}, description
    return red[0], opus[0]


def test_two_pages_send_and_receive_audio_in_red(server, new_page):
    host, guest, host_id, guest_id = host_and_guest(server, new_page, "RED meeting")
    caps = host.evaluate("() => RTCRtpSender.getCapabilities('audio').codecs.map((c) => c.mimeType)")
    assert "audio/red" in caps, caps  # else this test could not mean anything

    for name, page in (("host", host), ("guest", guest)):
        # publish: red first in the offer (the client's preference) and in the SFU's answer,
        # Opus asking for in-band FEC on both sides
        sent = audio_state(page, "publish", "outbound-rtp", 50)
        offer, answer = sent["local"], sent["remote"]
        assert offer["codecs"][:2] == ["red", "opus"], (name, offer)
        assert answer["codecs"] == ["red", "opus"], (name, answer)
        red_pt, opus_pt = red_over_opus(answer)
        assert (red_pt, opus_pt) == red_over_opus(offer), (name, offer, answer)
        assert re.search(r"(^|;)useinbandfec=1(;|$)", offer["fmtp"][opus_pt]), (name, offer)
        assert re.search(r"(^|;)useinbandfec=1(;|$)", answer["fmtp"][opus_pt]), (name, answer)
        # (Chromium's stats name the encoder's codec, Opus, even when it sends RED)
        assert [s["mimeType"] for s in sent["streams"]] == ["audio/opus"], (name, sent)

        # subscribe: the SFU offers red before Opus, the page keeps it, and receives RED
        received = audio_state(page, "subscribe", "inbound-rtp", 50)
        offer, answer = received["remote"], received["local"]
        assert offer["codecs"][:2] == ["red", "opus"], (name, offer)
        assert "red" in answer["codecs"], (name, answer)
        assert red_over_opus(answer) == red_over_opus(offer), (name, offer, answer)
        # (and its stats name the decoder's codec, Opus, when it receives RED)
        assert [s["mimeType"] for s in received["streams"]] == ["audio/opus"], (name, received)

    # RED is what goes through the SFU: each page sends it, and gets the other's in RED
    stats = sfu_stats(server)
    assert stats["rtp_red_forwarded"] >= 100, stats
    assert stats["rtp_red_out"] >= 100, stats
    assert stats["rtp_red_malformed"] == 0, stats
    # and audio keeps flowing
    for page in (host, guest):
        before = audio_packets_received(page, minimum=1)
        assert audio_packets_received(page, minimum=before + 25, timeout_s=10) >= before + 25
    later = sfu_stats(server)
    assert later["rtp_red_out"] > stats["rtp_red_out"] and later["rtp_red_malformed"] == 0, later
    print(f"\nSFU: {later}")
