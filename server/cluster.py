"""Which node holds which room, when several ``sitroom serve`` nodes share one PostgreSQL and one
Redis (docs/deploy.md).

A room's live state (its ``LiveRoom``: the meeting, the stage, its media router) lives on one node
at a time. That node holds the room's **lease** in Redis: the key ``<channel>:room:<room id>``,
whose value names the node (``<node id> <public URL>``), set with ``NX`` and a time to live of
``LEASE_S`` seconds, renewed every ``LEASE_S / 3`` seconds while the room is open there and
deleted when it empties (or the node stops). A join that reaches another node is answered
``room_elsewhere`` with the owner's URL (and a page load of the room is redirected there), so a
room's media never splits across nodes. When the owner dies its lease lapses within ``LEASE_S``;
the next join, on any node, takes the room over from what the database kept (chat, stage, hands,
held mutes: ``LiveRoom.load``).

Without Redis there is one node, which holds every room (``Cluster(None, ...)``: no lease at all).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("sitroom.cluster")

LEASE_S = 15.0  # a dead owner's rooms are taken over within this long

# Renew: the lease is still ours (extend it) or free (take it again); another node's: lost.
_RENEW = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not owner then return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 1 or 0 end
return 0
"""
# Release: only our own lease.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Cluster:
    """This node's view of room ownership. ``claim`` before a room is opened here, ``release`` when
    it empties; the leases of the rooms held here are renewed in the background."""

    def __init__(self, redis_url: str | None, url: str, *, prefix: str = "sitroom", lease_s: float = LEASE_S):
        self.url = url.rstrip("/")  # this node's public URL, where others send a room's clients
        self.node_id = secrets.token_hex(8)
        self.prefix = prefix
        self.lease_ms = int(lease_s * 1000)
        self._redis_url = redis_url
        self._redis: aioredis.Redis | None = None
        self._renew_task: asyncio.Task | None = None
        self.held: set[str] = set()  # rooms whose lease this node holds
        self.taken_over = 0  # rooms this node took from a node whose lease lapsed
        # Called with a room id whose lease another node took (this node was cut off from Redis
        # for longer than the lease): its clients must go there.
        self.on_lost: Callable[[str], Awaitable[None]] | None = None

    @property
    def enabled(self) -> bool:
        """Several nodes may be serving (leases are kept in Redis)."""
        return self._redis_url is not None

    @property
    def _value(self) -> str:
        return f"{self.node_id} {self.url}"

    def _key(self, room_id: str) -> str:
        return f"{self.prefix}:room:{room_id}"

    async def start(self) -> None:
        if not self.enabled:
            return
        self._redis = aioredis.from_url(self._redis_url, socket_timeout=5, socket_connect_timeout=5)
        await self._redis.ping()
        self._renew_task = asyncio.ensure_future(self._renew_forever())

    async def close(self) -> None:
        """Stop renewing and hand back every lease: another node may take the rooms at once."""
        if self._renew_task is not None:
            self._renew_task.cancel()
            self._renew_task = None
        if self._redis is not None:
            for room_id in list(self.held):
                await self.release(room_id)
            await self._redis.aclose()
            self._redis = None

    async def claim(self, room_id: str, attempts: int = 3) -> tuple[str | None, bool]:
        """Hold ``room_id`` here if no other node does: ``(None, taken_over)`` when it is this
        node's (``taken_over``: it was just taken, not already held here), or ``(owner URL,
        False)`` when another node holds it."""
        if self._redis is None:
            return None, False
        key = self._key(room_id)
        if await self._redis.set(key, self._value, nx=True, px=self.lease_ms):
            new = room_id not in self.held
            self.held.add(room_id)
            if new:
                self.taken_over += 1
            return None, new
        owner = await self._redis.get(key)
        owner = owner.decode() if isinstance(owner, bytes) else owner
        if owner == self._value:
            self.held.add(room_id)
            return None, False
        if owner is None and attempts > 1:  # released meanwhile: try again
            return await self.claim(room_id, attempts - 1)
        return (owner or " ").partition(" ")[2] or self.url, False

    async def owner_elsewhere(self, room_id: str) -> str | None:
        """The URL of the node holding ``room_id``, if another node does (a page load to redirect)."""
        if self._redis is None:
            return None
        try:
            owner = await self._redis.get(self._key(room_id))
        except RedisError:
            return None
        owner = owner.decode() if isinstance(owner, bytes) else owner
        if not owner or owner == self._value:
            return None
        url = owner.partition(" ")[2]
        # (nodes sharing one public URL behind a proxy: a redirect would come back here)
        return url if url and url != self.url else None

    async def release(self, room_id: str) -> None:
        """The room emptied here: its lease goes back (only if it is still this node's)."""
        self.held.discard(room_id)
        if self._redis is None:
            return
        try:
            await self._redis.eval(_RELEASE, 1, self._key(room_id), self._value)
        except RedisError:
            log.warning("releasing room %s failed; its lease lapses on its own", room_id, exc_info=True)

    async def leased_rooms(self) -> set[str]:
        """Every room some node holds now (at start-up: the rooms whose joins are live elsewhere)."""
        if self._redis is None:
            return set()
        rooms = set()
        prefix = self._key("")
        async for key in self._redis.scan_iter(match=prefix + "*", count=500):
            key = key.decode() if isinstance(key, bytes) else key
            rooms.add(key[len(prefix):])
        return rooms

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            for room_id in list(self.held):
                try:
                    kept = await self._redis.eval(_RENEW, 1, self._key(room_id), self._value, self.lease_ms)
                except RedisError:
                    log.warning("renewing the lease of room %s failed", room_id, exc_info=True)
                    continue
                if not kept and room_id in self.held:
                    self.held.discard(room_id)
                    log.warning("room %s: another node holds its lease now", room_id)
                    if self.on_lost is not None:
                        try:
                            await self.on_lost(room_id)
                        except Exception:  # noqa: BLE001
                            log.exception("handing room %s over failed", room_id)
