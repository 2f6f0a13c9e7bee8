"""media/loop.py: the event loop whose I/O wake-ups are batched while it is busy.

Real UDP sockets on 127.0.0.1 and a real selector loop, run in a thread of their own; no timing
assertions: the batch interval is made long (0.5 s) so that what must happen within it does with
a wide margin, and the tests assert what was handled together, not how fast.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from media.loop import BatchingSelector, new_event_loop


class Recorder(asyncio.DatagramProtocol):
    def __init__(self, selector: BatchingSelector, log: list, on_datagram=None) -> None:
        self.selector = selector
        self.log = log
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr) -> None:
        # which select() round delivered it
        self.log.append((data, self.selector.wakeups))
        if self.on_datagram is not None:
            self.on_datagram(data)


def _sender() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def _run(loop: asyncio.AbstractEventLoop, coro, timeout: float = 20.0):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


class Harness:
    """A batching loop of its own, a UDP sender, and what the loop's endpoints received."""

    def __init__(self, batch_ms: float) -> None:
        self.loop = new_event_loop(batch_ms)
        self.selector = self.loop._selector
        self.log: list = []
        self.sender = _sender()

    async def endpoint(self, on_datagram=None) -> tuple:
        transport, _ = await self.loop.create_datagram_endpoint(
            lambda: Recorder(self.selector, self.log, on_datagram), local_addr=("127.0.0.1", 0))
        return transport, transport.get_extra_info("sockname")[1]

    def send(self, data: bytes, port: int) -> None:
        self.sender.sendto(data, ("127.0.0.1", port))

    async def received(self, count: int) -> None:
        for _ in range(500):
            if len(self.log) >= count:
                return
            await asyncio.sleep(0.01)

    def run(self, coro, timeout: float = 20.0):
        try:
            return _run(self.loop, coro, timeout)
        finally:
            self.sender.close()
            self.loop.close()

    @property
    def data(self) -> list[bytes]:
        return [data for data, _ in self.log]


@pytest.mark.parametrize("interval", [0.5, 0.0])
def test_datagrams_that_arrive_while_busy_are_handled_in_one_round(interval):
    """Z then A wake the idle loop (two wake-ups within the interval: a stream, so batching
    starts); B and C, sent to two sockets 50 ms apart from another thread once A is handled,
    arrive within the 0.5 s that follow: batched, they are handled in one round; unbatched (the
    control), B is handled as soon as it arrives, before C exists."""
    loop = asyncio.SelectorEventLoop(BatchingSelector(interval))
    selector = loop._selector
    log: list = []
    sender = _sender()
    a_handled = threading.Event()
    ports: list[int] = []

    def send_rest() -> None:
        if a_handled.wait(10):
            sender.sendto(b"B", ("127.0.0.1", ports[0]))
            threading.Event().wait(0.05)
            sender.sendto(b"C", ("127.0.0.1", ports[1]))

    thread = threading.Thread(target=send_rest, daemon=True)
    try:
        async def scenario():
            done = loop.create_future()

            def arrived(data: bytes) -> None:
                if data == b"Z":
                    sender.sendto(b"A", ("127.0.0.1", ports[1]))
                if data == b"A":
                    a_handled.set()
                if len(log) == 4 and not done.done():
                    done.set_result(None)

            transports = []
            for _ in range(2):
                transport, _protocol = await loop.create_datagram_endpoint(
                    lambda: Recorder(selector, log, arrived), local_addr=("127.0.0.1", 0))
                transports.append(transport)
                ports.append(transport.get_extra_info("sockname")[1])
            thread.start()
            sender.sendto(b"Z", ("127.0.0.1", ports[0]))
            try:
                await done
            finally:
                for transport in transports:
                    transport.close()

        _run(loop, scenario())
    finally:
        a_handled.set()
        thread.join(5)
        sender.close()
        loop.close()
    rounds = {data: round_ for data, round_ in log}
    assert set(rounds) == {b"Z", b"A", b"B", b"C"}, log  # nothing lost
    assert rounds[b"Z"] < rounds[b"A"] < rounds[b"B"]
    if interval:
        assert rounds[b"B"] == rounds[b"C"], log
        assert selector.pauses >= 1
    else:
        assert rounds[b"B"] < rounds[b"C"], log
        assert selector.pauses == 0


def test_a_lone_datagram_is_handled_at_once_and_starts_no_batching():
    """A request now and then (a Socket.IO message, a STUN check) never waits for a batch."""
    h = Harness(500.0)

    async def scenario():
        transport, port = await h.endpoint()
        for i in range(3):
            h.send(b"%d" % i, port)
            await h.received(i + 1)
            await asyncio.sleep(0.6)  # more than the interval: the next one is alone again
        transport.close()

    h.run(scenario())
    assert h.data == [b"0", b"1", b"2"]
    assert h.selector.pauses == 0


def test_an_idle_loop_blocks_instead_of_polling():
    h = Harness(50.0)

    async def scenario():
        transport, port = await h.endpoint()
        h.send(b"one", port)
        await h.received(1)
        before = h.selector.pauses
        # a quiet second, with a timer now and then: the loop must sleep in epoll, not in a
        # loop of 50 ms pauses (20 of them in a second)
        ticks = []
        for i in range(5):
            h.loop.call_later(0.2 * (i + 1), ticks.append, i)
        await asyncio.sleep(1.1)
        transport.close()
        return before, h.selector.pauses, ticks

    before, after, ticks = h.run(scenario())
    assert h.data == [b"one"]
    assert ticks == [0, 1, 2, 3, 4]  # timers ran
    assert after - before <= 2, (before, after)  # at most the pause right after the datagram


def test_timers_are_not_held_up_by_a_pause():
    """A timer due in the middle of a batch pause runs when it is due, not after the pause:
    the pause is cut short, the timer runs, and the loop goes back to pausing."""
    h = Harness(10_000.0)  # a 10 s pause: a timer held up by it would time the test out

    async def scenario():
        port = None

        def arrived(data: bytes) -> None:
            if data == b"x":  # a second wake-up right after the first: batching starts
                h.send(b"y", port)

        transport, port = await h.endpoint(arrived)
        h.send(b"x", port)
        await h.received(2)
        fired = asyncio.Event()
        h.loop.call_later(0.05, fired.set)
        await asyncio.wait_for(fired.wait(), 5.0)
        transport.close()
        return True

    assert h.run(scenario(), timeout=8.0)
    assert h.data == [b"x", b"y"]
    assert h.selector.pauses >= 1


@pytest.mark.parametrize("batch_ms", [0, -1])
def test_no_batching_is_asyncios_own_loop(batch_ms):
    loop = new_event_loop(batch_ms)
    try:
        assert not isinstance(getattr(loop, "_selector", None), BatchingSelector)
    finally:
        loop.close()
