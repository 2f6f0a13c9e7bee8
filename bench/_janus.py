"""Janus VideoRoom adapter for the load generator (bench/_load.py), used by bench/janus.py.

``JanusBackend`` is a signaling backend like ``_load.SioBackend``: the same ``Participant`` (the
same aiortc peer connections, the same pre-encoded clip and packet sender, the same counting
subscriber) talks to Janus's VideoRoom plugin over the Janus HTTP API instead of to Sitroom:

- one Janus session per participant, kept alive by a long poll (``GET /janus/<session>``, which
  also delivers the asynchronous plugin events) and an explicit ``keepalive`` every 20 s;
- a publisher handle: ``join`` (ptype publisher) in the benchmark's room, then ``publish`` with
  the publish connection's JSEP offer; Janus answers;
- one subscriber handle (VideoRoom's multistream subscriptions, Janus >= 1.0): ``join`` (ptype
  subscriber) with the streams of every publisher known so far, then ``subscribe`` for each
  publisher announced later; each time Janus sends an offer (``attached`` / ``updated``), the
  subscribe connection answers and the answer goes back with ``start``, one negotiation at a time.

The consumers handed to ``Participant._on_offer`` carry the publisher's Janus feed id as
``participant_id`` (``join`` returns that same id as the participant's own), so the controller's
analysis pairs publishers and subscribers exactly as for Sitroom.

Also here, for the controller: ``janus_call`` (a synchronous request) and ``create_room``.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import sys
import urllib.request
from typing import Optional

REQUEST_TIMEOUT = 30.0
KEEPALIVE_EVERY = 20.0


def _transaction() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=12))


# ---- controller side (synchronous, urllib) -------------------------------------------------------

def janus_call(url: str, body: dict, timeout: float = 10.0) -> dict:
    """POST one Janus API request; the synchronous reply (``success``, ``error`` or ``ack``)."""
    body = dict(body, transaction=_transaction())
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if reply.get("janus") == "error":
        raise RuntimeError(f"Janus error: {reply.get('error')}")
    return reply


def create_room(base_url: str, room: int, publishers: int) -> None:
    """A VideoRoom room for the benchmark: VP8 + Opus, no bitrate cap (no REMB limit), no
    periodic keyframe requests, no recording; the session that created it is destroyed (the room
    stays until Janus exits)."""
    session = janus_call(base_url, {"janus": "create"})["data"]["id"]
    try:
        handle = janus_call(f"{base_url}/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})["data"]["id"]
        reply = janus_call(f"{base_url}/{session}/{handle}", {"janus": "message", "body": {
            "request": "create", "room": room, "description": f"bench {room}", "publishers": publishers + 2,
            "bitrate": 0, "fir_freq": 0, "audiocodec": "opus", "videocodec": "vp8", "record": False,
            "notify_joining": False, "audiolevel_event": False, "permanent": False}})
        data = reply.get("plugindata", {}).get("data", {})
        if data.get("videoroom") != "created":
            raise RuntimeError(f"room not created: {reply}")
    finally:
        try:
            janus_call(f"{base_url}/{session}", {"janus": "destroy"})
        except Exception:
            pass


# ---- worker side (asyncio, aiohttp) --------------------------------------------------------------

class JanusBackend:
    """The Participant's signaling through Janus VideoRoom (see the module's docstring)."""

    def __init__(self, base_url: str, room: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.room = room
        self.on_offer = None  # async (sdp, revision, consumers) -> answer sdp; None: publish only
        self.http = None
        self.session_id: Optional[int] = None
        self.pub_handle: Optional[int] = None
        self.sub_handle: Optional[int] = None
        self.feed: Optional[int] = None
        self.private_id: Optional[int] = None
        self.published = False
        self.known: set = set()  # publishers announced (feed ids), ours excluded
        self.subscribed: set = set()
        self.revision = 0
        self._pending: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._closing = False

    # -- transport --

    async def _post(self, path: str, body: dict) -> dict:
        import aiohttp
        async with self.http.post(self.base_url + path, json=body,
                                  timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
            response.raise_for_status()
            reply = await response.json(content_type=None)
        if reply.get("janus") == "error":
            raise RuntimeError(f"Janus error: {reply.get('error')}")
        return reply

    async def _attach(self) -> int:
        reply = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": "janus.plugin.videoroom",
                                                        "transaction": _transaction()})
        return reply["data"]["id"]

    async def _message(self, handle: int, body: dict, jsep: Optional[dict] = None) -> tuple[dict, Optional[dict]]:
        """A plugin request; its result (plugin data, JSEP), synchronous or by event."""
        transaction = _transaction()
        future = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        message = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        try:
            reply = await self._post(f"/{self.session_id}/{handle}", message)
            if reply.get("janus") != "ack":
                event = reply
            else:
                event = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        finally:
            self._pending.pop(transaction, None)
        data = event.get("plugindata", {}).get("data", {})
        if data.get("error") or data.get("error_code"):
            raise RuntimeError(f"VideoRoom {body.get('request')}: {data.get('error_code')} {data.get('error')}")
        return data, event.get("jsep")

    async def _poll(self) -> None:
        """The long poll: events (replies to requests by transaction, and publishers announced)."""
        import aiohttp
        while not self._closing:
            try:
                async with self.http.get(f"{self.base_url}/{self.session_id}?maxev=10",
                                         timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT + 40)) as response:
                    events = await response.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._closing:
                    return
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                self._on_event(event)

    def _on_event(self, event: dict) -> None:
        future = self._pending.get(event.get("transaction") or "")
        if future is not None and not future.done() and event.get("janus") in ("event", "success", "error"):
            future.set_result(event)
            return
        data = event.get("plugindata", {}).get("data", {})
        publishers = data.get("publishers")
        if publishers:
            self._add_publishers(publishers)

    def _add_publishers(self, publishers: list) -> None:
        for p in publishers:
            if p.get("id") != self.feed and not p.get("dummy"):
                self.known.add(p["id"])
        self._wake.set()

    async def _keepalive(self) -> None:
        while not self._closing:
            await asyncio.sleep(KEEPALIVE_EVERY)
            try:
                await self._post(f"/{self.session_id}", {"janus": "keepalive", "transaction": _transaction()})
            except Exception as exc:
                if not self._closing:
                    print(f"janus keepalive failed: {exc}", file=sys.stderr)

    # -- the backend interface --

    async def join(self, name: str) -> str:
        import aiohttp
        self.http = aiohttp.ClientSession()
        reply = await self._post("", {"janus": "create", "transaction": _transaction()})
        self.session_id = reply["data"]["id"]
        self._tasks.append(asyncio.ensure_future(self._poll()))
        self._tasks.append(asyncio.ensure_future(self._keepalive()))
        self.pub_handle = await self._attach()
        data, _ = await self._message(self.pub_handle, {"request": "join", "ptype": "publisher", "room": self.room,
                                                        "display": name})
        self.feed = data["id"]
        self.private_id = data.get("private_id")
        self._add_publishers(data.get("publishers") or [])
        return str(self.feed)

    async def publish(self, sdp: str, sources: dict) -> str:
        data, jsep = await self._message(self.pub_handle, {"request": "publish", "audio": True, "video": True},
                                         jsep={"type": "offer", "sdp": sdp})
        if not jsep or jsep.get("type") != "answer":
            raise RuntimeError(f"no answer to publish: {data}")
        self.published = True
        if self.on_offer is not None:
            self._tasks.append(asyncio.ensure_future(self._subscriber()))
        return jsep["sdp"]

    async def _subscriber(self) -> None:
        """Subscribe to every publisher announced, batching those announced meanwhile."""
        try:
            while not self._closing:
                await self._wake.wait()
                self._wake.clear()
                new = sorted(self.known - self.subscribed)
                if new:
                    await self._subscribe(new)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._closing:
                print(f"janus subscribe failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    async def _subscribe(self, feeds: list) -> None:
        streams = [{"feed": f} for f in feeds]
        if self.sub_handle is None:
            self.sub_handle = await self._attach()
            body = {"request": "join", "ptype": "subscriber", "room": self.room, "streams": streams}
            if self.private_id is not None:
                body["private_id"] = self.private_id
        else:
            body = {"request": "subscribe", "streams": streams}
        data, jsep = await self._message(self.sub_handle, body)
        self.subscribed.update(feeds)
        if not jsep or jsep.get("type") != "offer":
            raise RuntimeError(f"no offer from the subscriber handle: {data}")
        consumers = [{"mid": s["mid"], "participant_id": str(s["feed_id"]), "kind": s["type"]}
                     for s in data.get("streams", []) if s.get("feed_id") is not None and s.get("type") in ("audio", "video")]
        self.revision += 1
        answer = await self.on_offer(jsep["sdp"], self.revision, consumers)
        await self._message(self.sub_handle, {"request": "start"}, jsep={"type": "answer", "sdp": answer})

    async def close(self) -> None:
        self._closing = True
        if self.http is not None and self.session_id is not None:
            try:
                await asyncio.wait_for(self._post(f"/{self.session_id}", {"janus": "destroy",
                                                                         "transaction": _transaction()}), 5)
            except Exception:
                pass
        for task in self._tasks:
            task.cancel()
        if self.http is not None:
            await self.http.close()
