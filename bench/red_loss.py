"""Audio concealment under packet loss, with and without RED for Opus (media/red.py), measured in
Chromium: one page sends its (fake) microphone through the SFU to another page, which plays it;
every RTP packet is lost with probability --loss on the way into the SFU and again on the way out
(independently, seeded), and the receiving page's getStats() says how much of what it played
was concealed (``concealedSamples / totalSamplesReceived``: NetEq's loss concealment, after RED
and Opus in-band FEC did what they could).

The SFU runs in this process (media/ directly), so losses are injected at its edges: inbound
RTP is dropped before the publish connection's packet handler, outbound audio before the
subscribe connection's socket. Three modes, each on a fresh SFU and fresh pages:
``opus-nofec`` (plain Opus, the answer without ``useinbandfec=1``: what the SFU answered before
RED), ``opus`` (the SFU configured with ``opus_red=False``: plain Opus, in-band FEC asked for) and
``red`` (the client's preference, red first, and the SFU answering red). Also prints what the
publisher sent (RED blocks per packet, the Opus mode, and an estimate of the in-band FEC flag).
Last line:

    red_loss: loss=<> opus_nofec_concealed=<> opus_concealed=<> red_concealed=<> target_met=<yes|no>

Usage: .venv/bin/python bench/red_loss.py [--loss 0.05] [--seconds 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media import SFU, MediaConfig, red, rtp  # noqa: E402
from media.downtrack import DownTrack  # noqa: E402

CHROMIUM = os.environ.get("SITROOM_CHROMIUM", "/usr/lib/chromium/chromium")
TARGET = 0.05
ORIGIN = "https://sitroom.test/"  # answered by the page route below: a secure context, no network
ARGS = [
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

_GATHER = """
async (pc) => {
  if (pc.iceGatheringState !== "complete") {
    await new Promise((resolve) => {
      const done = () => pc.iceGatheringState === "complete" && resolve();
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 5000);
    });
  }
}
"""

_PUBLISH_OFFER = """
async (preferRed) => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const pc = new RTCPeerConnection({bundlePolicy: "max-bundle"});
  window.pc = pc;
  const transceiver = pc.addTransceiver(stream.getAudioTracks()[0], {direction: "sendonly", streams: [stream]});
  if (preferRed) {
    const codecs = RTCRtpSender.getCapabilities("audio").codecs;
    const red = codecs.filter((c) => c.mimeType.toLowerCase() === "audio/red");
    const opus = codecs.filter((c) => c.mimeType.toLowerCase() === "audio/opus");
    transceiver.setCodecPreferences([...red, ...opus, ...codecs.filter((c) => !red.includes(c) && !opus.includes(c))]);
  }
  await pc.setLocalDescription(await pc.createOffer());
  await (%s)(pc);
  return pc.localDescription.sdp;
}
""" % _GATHER

_SUBSCRIBE_ANSWER = """
async (offer) => {
  let pc = window.pc;
  if (!pc) {
    pc = window.pc = new RTCPeerConnection({bundlePolicy: "max-bundle"});
    pc.ontrack = (e) => {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.srcObject = new MediaStream([e.track]);
      document.body.appendChild(audio);
      audio.play().catch(() => {});
    };
  }
  await pc.setRemoteDescription({type: "offer", sdp: offer});
  await pc.setLocalDescription(await pc.createAnswer());
  await (%s)(pc);
  return pc.localDescription.sdp;
}
""" % _GATHER

_INBOUND = """
async () => {
  const out = {packets: 0, lost: 0, concealed: 0, samples: 0, fec: 0};
  if (!window.pc) return out;
  (await window.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packets += s.packetsReceived || 0;
      out.lost += s.packetsLost || 0;
      out.concealed += s.concealedSamples || 0;
      out.samples += s.totalSamplesReceived || 0;
      out.fec += s.fecPacketsReceived || 0;
    }
  });
  return out;
}
"""


class Loss:
    """Independent losses with probability ``p`` (seeded), counted."""

    def __init__(self, p: float, seed: int) -> None:
        self.p = p
        self.rng = random.Random(seed)
        self.seen = 0
        self.dropped = 0

    def drop(self) -> bool:
        self.seen += 1
        if self.rng.random() < self.p:
            self.dropped += 1
            return True
        return False


def playwright_features() -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
    from conftest import OUR_DISABLED_FEATURES, playwright_disabled_features
    return playwright_disabled_features(), OUR_DISABLED_FEATURES


def packet_shape(data: bytes) -> tuple:
    """(redundant blocks or -1 if not RED, Opus mode of the primary, its LBRR flag) of one
    inbound packet. The LBRR flag is read as the second bit of a SILK frame's range-coded header
    (coded with probability 1/2 each, so the top bits of the first byte): an estimate."""
    offset = rtp.header_length(data)
    end = len(data)
    blocks = -1
    if data[1] & 0x7F == 63:
        parsed = red.blocks(data, offset, end)
        if not parsed:
            return (-2, "malformed", None)
        blocks = len(parsed) - 1
        offset = parsed[-1][2]
    if end - offset < 2:
        return (blocks, "dtx", None)
    config = data[offset] >> 3
    mode = "silk" if config < 12 else "hybrid" if config < 16 else "celt"
    lbrr = None if mode == "celt" or data[offset] & 0x03 else bool(data[offset + 1] & 0x40)
    return (blocks, mode, lbrr)


def summarize(shapes: list[tuple]) -> str:
    counts: dict = {}
    for shape in shapes:
        counts[shape] = counts.get(shape, 0) + 1
    return ", ".join(f"{'RED+' + str(b) if b >= 0 else 'plain'} {m}{' LBRR' if l else ''}: {n}"
                     for (b, m, l), n in sorted(counts.items(), key=lambda kv: -kv[1]))


async def run_mode(browser, mode: str, loss: float, seconds: float, seed: int) -> dict:
    uplink, downlink = Loss(loss, seed), Loss(loss, seed + 1)
    original_attach = DownTrack.attach

    def lossy_attach(track, protect, sendto, addr):
        if sendto is not None:
            inner = sendto

            def sendto(data, address, _inner=inner):
                if not downlink.drop():
                    _inner(data, address)
        original_attach(track, protect, sendto, addr)

    DownTrack.attach = lossy_attach
    sfu = SFU(MediaConfig(ice_addresses=["127.0.0.1"], ice_servers=[],
                          allowed_remote_networks=["127.0.0.0/8", "::1/128"], opus_red=mode == "red"))
    contexts = []
    try:
        router = sfu.router("red-loss")
        pages = []
        for _ in range(2):
            context = await browser.new_context(bypass_csp=True, permissions=["microphone"])
            contexts.append(context)
            page = await context.new_page()
            await page.route(ORIGIN, lambda route: route.fulfill(body="<!doctype html><title>lab</title>",
                                                                 content_type="text/html"))
            await page.goto(ORIGIN)
            pages.append(page)
        sender, receiver = pages

        answered = asyncio.Event()

        async def on_offer(sdp: str, revision: int, consumers: list) -> None:
            answer = await receiver.evaluate(_SUBSCRIBE_ANSWER, sdp)
            await listener.subscribe_answer(answer, revision)
            if consumers:
                answered.set()

        listener = await router.add_peer("listener", on_subscribe_offer=on_offer)
        talker = await router.add_peer("talker", on_subscribe_offer=lambda *args: asyncio.sleep(0))
        publish = talker.publisher
        original_on_rtp = publish.on_rtp

        def lossy_on_rtp(data: bytes, now: float) -> None:
            if len(shapes) < 500:
                shapes.append(packet_shape(data))
            if not uplink.drop():
                original_on_rtp(data, now)

        shapes: list[tuple] = []

        publish.on_rtp = lossy_on_rtp  # before the fast path is installed, which binds it
        offer = await sender.evaluate(_PUBLISH_OFFER, mode == "red")
        answer = await talker.publish(offer, {"0": "microphone"})
        if mode == "opus-nofec":  # what the SFU answered before: Opus without useinbandfec
            answer = re.sub(r"a=fmtp:\d+ useinbandfec=1\r\n", "", answer)
        await sender.evaluate("async (sdp) => window.pc.setRemoteDescription({type: 'answer', sdp})", answer)
        await asyncio.wait_for(answered.wait(), 20)

        async def inbound() -> dict:
            return await receiver.evaluate(_INBOUND)

        for _ in range(100):  # bounded: until audio is played out
            start = await inbound()
            if start["samples"] > 48000:
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"no audio played out: {start}")
        await asyncio.sleep(seconds)
        end = await inbound()
        samples = end["samples"] - start["samples"]
        stats = sfu.stats()
        answer_m = re.search(r"^m=audio [^\r\n]*", answer, re.M).group(0)
        return {
            "mode": mode,
            "answer": answer_m,
            "packets": end["packets"] - start["packets"],
            "lost_reported": end["lost"] - start["lost"],
            "concealed": (end["concealed"] - start["concealed"]) / samples if samples else float("nan"),
            "uplink_loss": uplink.dropped / max(1, uplink.seen),
            "downlink_loss": downlink.dropped / max(1, downlink.seen),
            "red_forwarded": stats["rtp_red_forwarded"],
            "red_out": stats["rtp_red_out"],
            "fec_packets": end["fec"] - start["fec"],
            "shapes": summarize(shapes),
        }
    finally:
        DownTrack.attach = original_attach
        for context in contexts:
            await context.close()
        await asyncio.wait_for(sfu.close(), 30)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loss", type=float, default=0.05, help="loss probability per leg")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per mode")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from media.ice import use_host_addresses
    from playwright.async_api import async_playwright

    use_host_addresses(["127.0.0.1"])
    theirs, ours = playwright_features()
    merged = list(dict.fromkeys(theirs + ours))
    results = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            ignore_default_args=["--disable-features=" + ",".join(theirs)],
            args=[*ARGS, "--disable-features=" + ",".join(merged)],
        )
        try:
            for mode in ("opus-nofec", "opus", "red"):
                results.append(await run_mode(browser, mode, args.loss, args.seconds, args.seed))
        finally:
            await browser.close()

    print(f"{'mode':10} {'packets':>8} {'up loss':>8} {'down loss':>9} {'RED in':>7} {'RED out':>7} "
          f"{'FEC pkts':>8} {'concealed':>9}")
    for r in results:
        print(f"{r['mode']:10} {r['packets']:8d} {r['uplink_loss']:8.3f} {r['downlink_loss']:9.3f} "
              f"{r['red_forwarded']:7d} {r['red_out']:7d} {r['fec_packets']:8d} {r['concealed']:9.4f}")
    for r in results:
        print(f"{r['mode']}: answer {r['answer']!r}; packets in: {r['shapes']}")
    nofec, opus, red_mode = results
    met = red_mode["concealed"] < TARGET
    print(f"red_loss: loss={args.loss} opus_nofec_concealed={nofec['concealed']:.4f} "
          f"opus_concealed={opus['concealed']:.4f} red_concealed={red_mode['concealed']:.4f} "
          f"target_met={'yes' if met else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
