"""Two Chromium pages that prefer H.264 (localStorage "sitroom.videoCodec") see each other: each
sends H.264 through the SFU and decodes the other's H.264 (Debian's Chromium encodes H.264 with
OpenH264 and decodes it with FFmpeg). Also checks that the SFU's abs-send-time was negotiated on
the subscribe connection (the browser's bandwidth estimation toward us needs it)."""

from __future__ import annotations

import time

import pytest

from conftest import create_room, join, video_frames_advancing, wait_for_tile  # noqa: I001 - this folder's conftest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

PREFER_H264 = "try { localStorage.setItem('sitroom.videoCodec', 'h264'); } catch (e) {}"

# Per connection: the codec of each video RTP stream (getStats codecId -> codec.mimeType), the
# frames decoded (inbound) or encoded (outbound), and whether abs-send-time was negotiated.
_VIDEO_STATS_JS = """
async (which) => {
  const pc = window.sitroom.pcs[which];
  if (!pc) return {streams: [], absSendTime: false};
  const stats = await pc.getStats();
  const streams = [];
  stats.forEach((s) => {
    if ((s.type === "inbound-rtp" || s.type === "outbound-rtp") && s.kind === "video") {
      const codec = s.codecId && stats.get(s.codecId);
      streams.push({type: s.type, mimeType: codec ? codec.mimeType : null,
                    fmtp: codec ? codec.sdpFmtpLine || "" : "",
                    frames: s.type === "inbound-rtp" ? s.framesDecoded || 0 : s.framesEncoded || 0});
    }
  });
  const local = pc.localDescription ? pc.localDescription.sdp : "";
  return {streams, absSendTime: /a=extmap:\\d+ http:\\/\\/www.webrtc.org\\/experiments\\/rtp-hdrext\\/abs-send-time/.test(local)};
}
"""


def video_stats(page, which: str, kind: str, minimum_frames: int, timeout_s: float = 20) -> dict:
    """Poll (bounded) until one video stream of ``kind`` has counted ``minimum_frames``."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = page.evaluate(_VIDEO_STATS_JS, which)
        streams = [s for s in stats["streams"] if s["type"] == kind]
        if any(s["frames"] >= minimum_frames for s in streams) or time.monotonic() > deadline:
            return {"streams": streams, "absSendTime": stats["absSendTime"]}
        time.sleep(0.25)


def test_two_pages_preferring_h264_see_each_other_in_h264(server, new_page):
    links = create_room(server, "H.264 meeting")["links"]
    host, guest = new_page(), new_page()
    for page in (host, guest):
        page.context.add_init_script(PREFER_H264)

    # the browser can send H.264 at all (else this test could not mean anything)
    caps = host.evaluate("() => RTCRtpSender.getCapabilities('video').codecs.map((c) => c.mimeType)")
    assert "video/H264" in caps, caps

    host_id = join(host, links["host"], "Hana H264", "Osaka")
    guest_id = join(guest, links["participant"], "Gil H264", "Kobe")
    wait_for_tile(host, guest_id)
    wait_for_tile(guest, host_id)

    for page, other in ((host, guest_id), (guest, host_id)):
        frames = video_frames_advancing(page, other, frames=10, timeout_s=20)
        assert frames["ok"], f"video of {other} not advancing: {frames}"

    for name, page in (("host", host), ("guest", guest)):
        sent = video_stats(page, "publish", "outbound-rtp", 10)
        # the camera's every simulcast layer (H.264 is sent in layers too) is H.264, packetization-mode 1
        assert sent["streams"] and {s["mimeType"] for s in sent["streams"]} == {"video/H264"}, (name, sent)
        assert all("packetization-mode=1" in s["fmtp"] for s in sent["streams"]), (name, sent)
        received = video_stats(page, "subscribe", "inbound-rtp", 10)
        assert [s["mimeType"] for s in received["streams"]] == ["video/H264"], (name, received)
        assert received["streams"][0]["frames"] >= 10, (name, received)
        assert received["absSendTime"], f"{name}: abs-send-time not negotiated on the subscribe connection"
