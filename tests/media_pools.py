"""What the media tests share: a loopback MediaConfig, a client peer in a room through the
MediaService API (``Member``), polling helpers, and the fixtures ``sfu`` (an in-process SFU, closed
after the test), ``client_peers`` (ClientPeer factory, closed after the test) and ``worker_pools``
(WorkerPool factory; after the test every pool is closed and every worker process is checked
gone). Registered as a pytest plugin by tests/conftest.py."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from media import SFU, MediaConfig, WorkerPool
from tests.media_helpers import ClientPeer

TIMEOUT = 30
MEDIA_CONFIG_FIELDS = {f.name for f in dataclasses.fields(MediaConfig)}


def loopback_config(**kwargs) -> MediaConfig:
    return MediaConfig(ice_addresses=["127.0.0.1"], allowed_remote_networks=["127.0.0.1/32"], **kwargs)


def gone(pid: int) -> bool:
    """The process no longer runs (no such pid, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


async def wait_for(predicate, timeout: float = TIMEOUT, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it holds (bounded: asyncio.TimeoutError after ``timeout``)."""
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(interval)
    await asyncio.wait_for(poll(), timeout)


class Member:
    """A client peer in a room through the MediaService API: the glue the server would be."""

    def __init__(self, router, client: ClientPeer) -> None:
        self.router = router
        self.client = client
        self.peer = None

    async def on_subscribe_offer(self, sdp: str, revision: int, consumers: list) -> None:
        answer = await self.client.handle_subscribe_offer(sdp, revision, consumers)
        await self.peer.subscribe_answer(answer, revision)

    async def join(self, publish: bool = True) -> "Member":
        self.peer = await asyncio.wait_for(self.router.add_peer(
            self.client.name, on_subscribe_offer=self.on_subscribe_offer, publisher=publish), TIMEOUT)
        if publish:
            await asyncio.wait_for(self.client.publish(self.peer.publish), TIMEOUT)
        return self


def make_sfu() -> SFU:
    return SFU(MediaConfig(
        ice_addresses=["127.0.0.1"], announce={}, ice_servers=[],
        allowed_remote_networks=["127.0.0.0/8", "::1/128"],
    ))


@pytest.fixture
async def sfu():
    sfu = make_sfu()
    yield sfu
    await asyncio.wait_for(sfu.close(), TIMEOUT)


@pytest.fixture
async def client_peers():
    made: list[ClientPeer] = []

    def make(name: str, **kwargs) -> ClientPeer:
        client = ClientPeer(name, **kwargs)
        made.append(client)
        return client

    yield make
    await asyncio.wait_for(asyncio.gather(*(c.close() for c in made), return_exceptions=True), TIMEOUT)


@pytest.fixture
async def worker_pools():
    """``make(count=2, **kwargs)``: a started WorkerPool; MediaConfig fields among the keywords
    (``span_peers``...) go to its config, the rest to the pool (``request_timeout``...)."""
    made: list[WorkerPool] = []

    async def make(count: int = 2, **kwargs) -> WorkerPool:
        config = {k: v for k, v in kwargs.items() if k in MEDIA_CONFIG_FIELDS}
        options = {k: v for k, v in kwargs.items() if k not in MEDIA_CONFIG_FIELDS}
        pool = WorkerPool(loopback_config(**config), count, **options)
        made.append(pool)
        await asyncio.wait_for(pool.start(), 60)
        return pool

    yield make
    for pool in made:
        pids = [w.pid for w in pool.workers if w is not None]
        await asyncio.wait_for(pool.close(), 30)
        assert not pool._procs  # every child reaped
        assert all(gone(pid) for pid in pids)
