"""Simulcast through the SFU, seen from two Chromium pages (docs/protocol.md, publish and
subscribe_prefs): the publisher's fake camera at 1280x720 is sent in three layers (q, h, f, lowest
first); the viewer receives the layer its tile needs.

With the viewer's own tile pinned, the publisher's tile is a thumbnail in the strip (at most 260
CSS pixels wide): the viewer receives the lowest layer (320x180). Pinned in its turn, the
publisher fills the spotlight: the viewer receives the top layer (1280 wide, unless the
publisher's own stats say its encoder is limited by CPU or bandwidth; then at least twice the
thumbnail's width), and frames keep being decoded across the switch. The tile says which layer it
receives (``data-layer``, ``data-layer-height``, a badge). While the viewer shows only the
thumbnail, the publisher is told to pause its two upper layers (``publish_layers``), and the top
one comes back when the viewer pins it.

The viewer's own camera is made tiny (one encoding) so that the two cores go to the publisher's
three layers.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from collab_helpers import SCREENSHOTS
from conftest import create_room, join, wait_for_tile  # noqa: I001 - this folder's conftest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

SWITCH_TIMEOUT_S = 25  # sizes sent (debounced), the SFU's next allocation, a keyframe of the layer
FRAMES_TIMEOUT_S = 15
PAUSE_TIMEOUT_S = 20  # an unused layer is paused after 5 s (media/simulcast.py UNUSED_PAUSE)

# getUserMedia asks for this camera size (the client's own constraints ask for 960x540).
CAMERA_SIZE_JS = """
(([width, height]) => {
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return;
  const getUserMedia = media.getUserMedia.bind(media);
  media.getUserMedia = (constraints) => {
    if (constraints && constraints.video) {
      const video = typeof constraints.video === "object" ? constraints.video : {};
      constraints = {...constraints, video: {...video, width: {ideal: width}, height: {ideal: height}}};
    }
    return getUserMedia(constraints);
  };
})(%s)
"""

# The viewer's inbound video of one participant's camera: size and frames decoded.
INBOUND_JS = """
async (id) => {
  const m = window.sitroom.meeting;
  const consumer = (m.subscriber?.consumers || []).find((c) => c.participant_id === id && c.source === "camera");
  const pc = window.sitroom.pcs.subscribe;
  if (!consumer || !pc) return null;
  const transceiver = pc.getTransceivers().find((t) => t.mid === String(consumer.mid));
  if (!transceiver) return null;
  let found = null;
  (await transceiver.receiver.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      found = {frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0, framesDecoded: s.framesDecoded || 0};
    }
  });
  return found;
}
"""

# The publisher's camera: its capture size, its sender's encodings, and each layer's outbound stats.
OUTBOUND_JS = """
async () => {
  const m = window.sitroom.meeting;
  const track = m.media.videoTrack;
  const pc = window.sitroom.pcs.publish;
  const sender = pc && pc.getSenders().find((s) => s.track === track);
  if (!track || !sender) return null;
  const layers = [];
  (await sender.getStats()).forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") {
      layers.push({rid: s.rid || null, frameWidth: s.frameWidth || 0, framesEncoded: s.framesEncoded || 0,
                   qualityLimitationReason: s.qualityLimitationReason || "none"});
    }
  });
  const encodings = sender.getParameters().encodings.map((e) => ({rid: e.rid || null, active: e.active !== false}));
  const line = (pc.localDescription?.sdp || "").split("\\r\\n").find((l) => l.startsWith("a=simulcast:send "));
  const offered = line ? line.slice("a=simulcast:send ".length) : null;
  return {settings: track.getSettings(), offered, encodings, layers};
}
"""

TILE_LAYER_JS = """
(id) => {
  const tile = document.querySelector(`.tile[data-participant-id="${id}"]`);
  if (!tile) return null;
  const badge = tile.querySelector(".layer-badge");
  return {layer: tile.dataset.layer ?? null, height: tile.dataset.layerHeight ?? null,
          badge: badge && !badge.hidden ? badge.textContent : null};
}
"""


def inbound_until(page, participant_id: str, done, timeout_s: float = SWITCH_TIMEOUT_S) -> dict | None:
    """Poll (bounded) the viewer's inbound stats of that camera until done(stats); returns the last."""
    deadline = time.monotonic() + timeout_s
    stats = page.evaluate(INBOUND_JS, participant_id)
    while not (stats and done(stats)) and time.monotonic() < deadline:
        time.sleep(0.25)
        stats = page.evaluate(INBOUND_JS, participant_id)
    return stats


def pin(page, participant_id: str) -> None:
    tile = page.locator(f'.tile[data-participant-id="{participant_id}"]')
    tile.hover()
    tile.locator(".tile-pin").click()


def test_a_thumbnail_gets_the_low_layer_and_the_pinned_speaker_the_top_one(server, new_page):
    links = create_room(server, "Simulcast")["links"]
    publisher, viewer = new_page(), new_page()
    publisher.context.add_init_script(CAMERA_SIZE_JS % "[1280, 720]")
    viewer.context.add_init_script(CAMERA_SIZE_JS % "[160, 120]")
    publisher_id = join(publisher, links["participant"], "Pia Publisher", "Seoul")
    viewer_id = join(viewer, links["host"], "Victor Viewer", "Lisbon")
    wait_for_tile(viewer, publisher_id)

    assert publisher.evaluate("window.sitroom.meeting.simulcast") is not False, "the test server runs without simulcast"
    sent = publisher.evaluate(OUTBOUND_JS)
    assert sent and (sent["settings"]["width"], sent["settings"]["height"]) == (1280, 720), sent
    assert sent["offered"] == "q;h;f", sent  # lowest first: the SFU numbers the layers in this order
    assert [e["rid"] for e in sent["encodings"]] == ["q", "h", "f"], sent

    # (a) the viewer pins itself: the publisher's tile is a thumbnail in the strip
    pin(viewer, viewer_id)
    viewer.wait_for_selector(f'.gallery.has-spotlight .tile[data-participant-id="{publisher_id}"]')
    thumb = inbound_until(viewer, publisher_id, lambda s: 0 < s["frameWidth"] <= 320 and s["framesDecoded"] > 0)
    assert thumb and 0 < thumb["frameWidth"] <= 320, {"inbound": thumb, "sent": publisher.evaluate(OUTBOUND_JS)}
    # the tile sizes the client reports follow the layout on its next sync (not at once)
    try:
        viewer.wait_for_function(
            "(id) => (window.sitroom.state.videoSizes || []).some((s) => s.participant_id === id && s.width <= 400)",
            arg=publisher_id, timeout=SWITCH_TIMEOUT_S * 1000)
    except PlaywrightTimeout:
        pass
    sizes = viewer.evaluate("window.sitroom.state.videoSizes")
    assert any(s["participant_id"] == publisher_id and s["width"] <= 400 for s in sizes), sizes
    viewer.wait_for_function(f"(id) => ({TILE_LAYER_JS})(id)?.layer === '0'", arg=publisher_id,
                             timeout=SWITCH_TIMEOUT_S * 1000)
    before = inbound_until(viewer, publisher_id, lambda s: s["framesDecoded"] >= thumb["framesDecoded"] + 10,
                           timeout_s=FRAMES_TIMEOUT_S)
    assert before and before["framesDecoded"] >= thumb["framesDecoded"] + 10, (thumb, before)

    # nobody receives the upper layers: the SFU has the publisher pause them (publish_layers)
    paused = "() => { const l = window.sitroom.meeting.media.videoTrack; const pc = window.sitroom.pcs.publish;" \
             " const s = pc && pc.getSenders().find((x) => x.track === l);" \
             " return s && s.getParameters().encodings.map((e) => e.active !== false).join() === 'true,false,false'; }"
    publisher.wait_for_function(paused, timeout=PAUSE_TIMEOUT_S * 1000)

    # (b) the viewer pins the publisher: the spotlight needs the top layer (resumed at the publisher at once)
    pin(viewer, publisher_id)
    viewer.wait_for_selector(f'.spotlight[data-participant-id="{publisher_id}"]')
    wide = 2 * thumb["frameWidth"]
    top = inbound_until(viewer, publisher_id, lambda s: s["frameWidth"] >= 1280)
    assert top and top["frameWidth"] >= wide, {"inbound": top, "sent": publisher.evaluate(OUTBOUND_JS),
                                               "sizes": viewer.evaluate("window.sitroom.state.videoSizes")}
    sent = publisher.evaluate(OUTBOUND_JS)
    full = [layer for layer in sent["layers"] if layer["rid"] == "f"]
    limited = any(layer["qualityLimitationReason"] in ("cpu", "bandwidth") for layer in sent["layers"])
    if not limited:
        assert top["frameWidth"] == 1280, {"inbound": top, "sent": sent}
    # frames go on being decoded after the switch
    after = inbound_until(viewer, publisher_id, lambda s: s["framesDecoded"] >= top["framesDecoded"] + 10,
                          timeout_s=FRAMES_TIMEOUT_S)
    assert after and after["framesDecoded"] >= top["framesDecoded"] + 10 > before["framesDecoded"], (before, top, after)

    # (c) the tile says which layer it receives
    viewer.wait_for_function(f"(id) => ['1', '2'].includes(({TILE_LAYER_JS})(id)?.layer)", arg=publisher_id,
                             timeout=SWITCH_TIMEOUT_S * 1000)
    if not limited and full and full[0]["frameWidth"] == 1280:
        viewer.wait_for_function(
            f"(id) => {{ const l = ({TILE_LAYER_JS})(id); return l?.layer === '2' && l.height === '720'; }}",
            arg=publisher_id, timeout=SWITCH_TIMEOUT_S * 1000)
        assert viewer.evaluate(TILE_LAYER_JS, publisher_id)["badge"] == "HD 720p"
    viewer.screenshot(path=str(SCREENSHOTS / "simulcast-pinned.png"))
