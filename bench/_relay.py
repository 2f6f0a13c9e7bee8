"""The baseline for bench/sfu.py: aiortc's MediaRelay as an all-to-all "SFU", in its own process.

Every participant publishes on one RTCPeerConnection (the relay answers) and receives on another
(the relay offers, once all ``expect`` participants have published): one
``MediaRelay.subscribe(track)`` per (subscriber, published track), i.e. each incoming track is
decoded once and re-encoded for every subscriber, which is what aiortc offers out of the box.

Control: a tiny JSON-over-HTTP API on 127.0.0.1 (POST /join, /publish, /subscribe,
/subscribe_answer), used by bench/_load.py's RelayBackend. ICE gathers 127.0.0.1 only.

Usage (by bench/sfu.py): python bench/_relay.py PORT
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aiohttp import web  # noqa: E402
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.contrib.media import MediaRelay  # noqa: E402

from media.ice import use_host_addresses  # noqa: E402

WAIT = 60.0


class Relay:
    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.ids = itertools.count(1)
        self.publish_pcs: dict[str, RTCPeerConnection] = {}
        self.subscribe_pcs: dict[str, RTCPeerConnection] = {}
        self.tracks: dict[str, dict] = {}
        self.changed = asyncio.Event()

    @staticmethod
    def _pc() -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))

    async def join(self, request: web.Request) -> web.Response:
        return web.json_response({"id": f"r{next(self.ids)}"})

    async def publish(self, request: web.Request) -> web.Response:
        body = await request.json()
        pid = body["id"]
        pc = self._pc()
        self.publish_pcs[pid] = pc
        self.tracks[pid] = {}

        @pc.on("track")
        def on_track(track) -> None:
            self.tracks[pid][track.kind] = track
            self.changed.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp})

    async def subscribe(self, request: web.Request) -> web.Response:
        body = await request.json()
        pid, expect = body["id"], int(body["expect"])

        def complete() -> bool:
            return len(self.tracks) >= expect and all(len(t) == 2 for t in self.tracks.values())

        async def wait() -> None:
            while not complete():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), WAIT)
        pc = self._pc()
        self.subscribe_pcs[pid] = pc
        owners = {}
        for other, tracks in self.tracks.items():
            if other == pid:
                continue
            for kind in ("audio", "video"):
                proxy = self.relay.subscribe(tracks[kind])
                pc.addTrack(proxy)
                owners[id(proxy)] = (other, kind)
        await pc.setLocalDescription(await pc.createOffer())
        consumers = []
        for transceiver in pc.getTransceivers():
            other, kind = owners[id(transceiver.sender.track)]
            consumers.append({"mid": transceiver.mid, "participant_id": other, "kind": kind})
        return web.json_response({"sdp": pc.localDescription.sdp, "revision": 1, "consumers": consumers})

    async def subscribe_answer(self, request: web.Request) -> web.Response:
        body = await request.json()
        pc = self.subscribe_pcs[body["id"]]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
        return web.json_response({"ok": True})

    async def close(self, app) -> None:
        for pc in list(self.publish_pcs.values()) + list(self.subscribe_pcs.values()):
            try:
                await asyncio.wait_for(pc.close(), 5)
            except Exception:
                pass


def main() -> None:
    use_host_addresses(["127.0.0.1"])
    port = int(sys.argv[1])
    relay = Relay()
    app = web.Application()
    app.router.add_post("/join", relay.join)
    app.router.add_post("/publish", relay.publish)
    app.router.add_post("/subscribe", relay.subscribe)
    app.router.add_post("/subscribe_answer", relay.subscribe_answer)
    app.router.add_get("/healthz", lambda request: web.json_response({"ok": True}))
    app.on_shutdown.append(relay.close)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
