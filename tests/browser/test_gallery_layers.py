"""A host's gallery of 16 (issue 14): every tile receives the simulcast layer its size calls for.

Fifteen synthetic publishers (tests/simulcast_source.py: three VP8 layers, 160x120, 320x240 and
640x480, with the RID extensions, as Chromium sends them; they obey ``publish_layers``) join a
meeting through the real server, publish only; one Chromium page, the host on a laptop, shows all
of them in its gallery. Every tile must receive a lower layer than the top (the tiles are about a
third of the top layer's width), the badge on each tile says which, and the publishers are told to
pause the top layer nobody receives. Pinning one publisher brings its top layer. The screenshot is
the one in docs/screenshots (gallery-layers.png) when run with SITROOM_SCREENSHOTS=docs/screenshots.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import socketio

from collab_helpers import SCREENSHOTS
from conftest import create_room, join, wait_for_tile  # noqa: I001 - this folder's conftest
from tests.simulcast_source import SimulcastClient

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PUBLISHERS = 15
CITIES = ["Seoul", "Lisbon", "Lagos", "Bogotá", "Los Angeles", "Busan", "Porto", "Abuja", "Medellín",
          "San Diego", "Incheon", "Braga", "Kano", "Cali", "Oakland"]
SETTLE_S = 60  # every tile decoding its layer, on two cores shared with 15 publishers

TILES_JS = """
() => [...document.querySelectorAll('.gallery .tile[data-participant-id]')]
  .filter((t) => t.dataset.self !== 'true')
  .map((t) => ({id: t.dataset.participantId, layer: t.dataset.layer ?? null,
                height: t.dataset.layerHeight ?? null, width: t.getBoundingClientRect().width,
                badge: t.querySelector('.layer-badge')?.textContent ?? null}))
"""


class Publishers:
    """Synthetic simulcast publishers on an asyncio loop of their own (a thread)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list[SimulcastClient] = []
        self.sios: list[socketio.AsyncClient] = []
        self.ids: list[str] = []
        self.layers_told: list[dict] = []

    def run(self, coroutine, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _one(self, name: str, city: str) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        client = SimulcastClient(name, decode=False)

        async def on_publish_layers(data):
            self.layers_told.append(data)
            if client.sender is not None:
                client.sender.set_active(list(data["active"]))

        sio.on("publish_layers", on_publish_layers)
        await asyncio.wait_for(sio.connect(self.base_url, transports=["websocket"]), 30)
        ack = await sio.call("join", {"token": self.token, "name": name, "organisation": city}, timeout=30)
        assert ack.get("ok"), ack

        async def send(sdp: str, sources: dict) -> str:
            answer = await sio.call("publish", {"sdp": sdp, "sources": sources}, timeout=30)
            assert answer.get("ok"), answer
            return answer["sdp"]

        await client.publish(send)
        self.sios.append(sio)
        self.clients.append(client)
        self.ids.append(ack["self"]["id"])

    async def _start(self, count: int) -> None:
        for i in range(count):  # one after another: two cores
            await self._one(f"Delegate {i + 1}", CITIES[i % len(CITIES)])

    def start(self, count: int) -> None:
        self.run(self._start(count), timeout=30 + 10 * count)

    async def _stop(self) -> None:
        for client in self.clients:
            if client.sender is not None:
                client.sender.stop()
        for sio in self.sios:
            try:
                await asyncio.wait_for(sio.disconnect(), 10)
            except Exception:  # noqa: BLE001 - the server may be gone
                pass
        for client in self.clients:
            for pc in (client.publish_pc, client.subscribe_pc):
                try:
                    await asyncio.wait_for(pc.close(), 10)
                except Exception:  # noqa: BLE001
                    pass

    def stop(self) -> None:
        try:
            self.run(self._stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


def test_a_gallery_of_16_receives_small_layers_and_a_pinned_tile_the_top_one(server, new_page):
    links = create_room(server, "Gallery of 16")["links"]
    publishers = Publishers(server, links["participant"].split("?t=")[1])
    try:
        publishers.start(PUBLISHERS)
        host = new_page(viewport={"width": 1366, "height": 800})
        join(host, links["host"], "Mayor", "Seoul")
        for pid in publishers.ids:
            wait_for_tile(host, pid, timeout_ms=30_000)

        # every tile receives a layer, none the top one (the tiles are about 300 px wide)
        deadline = time.monotonic() + SETTLE_S
        tiles = host.evaluate(TILES_JS)
        while time.monotonic() < deadline and not (
                len(tiles) == PUBLISHERS and all(t["layer"] in ("0", "1") and t["badge"] for t in tiles)):
            time.sleep(0.5)
            tiles = host.evaluate(TILES_JS)
        assert len(tiles) == PUBLISHERS and all(t["layer"] in ("0", "1") and t["badge"] for t in tiles), tiles
        assert all(t["width"] < 480 for t in tiles), tiles
        # the top layer nobody receives is paused at every publisher
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len({m["mid"] for m in publishers.layers_told
                                                   if m["active"][-1] is False}) < 1:
            time.sleep(0.5)
        paused_top = [m for m in publishers.layers_told if m["active"][-1] is False]
        assert paused_top, publishers.layers_told
        time.sleep(2)  # let the last keyframes land for the picture
        host.screenshot(path=str(SCREENSHOTS / "gallery-layers.png"))

        # pinned, one publisher fills the spotlight: its top layer comes back
        chosen = publishers.ids[0]
        tile = host.locator(f'.tile[data-participant-id="{chosen}"]').first
        tile.hover()
        tile.locator(".tile-pin").click()
        host.wait_for_selector(f'.spotlight[data-participant-id="{chosen}"]')
        host.wait_for_function(
            "(id) => [...document.querySelectorAll(`.tile[data-participant-id='${id}']`)]"
            ".some((t) => t.dataset.layer === '2' && t.dataset.layerHeight === '480')",
            arg=chosen, timeout=30_000)
    finally:
        publishers.stop()
