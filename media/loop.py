"""The SFU's event loop: asyncio's selector loop, with receive wake-ups batched.

Measured on the 2-core VMs this runs on (docs/performance.md, "Why the event loop batches
wake-ups"): what an inbound packet costs depends far less on the code it runs than on how cold
the caches are when it arrives. One SRTP unprotect of a 1100-byte packet takes ~2 us in a tight
loop and ~18 us after 0.5 ms asleep or 0.5 ms of other Python work, and
asyncio's own round (epoll, the ready queue, the transport's ``_read_ready``) is paid per
wake-up, not per packet. At ~170 packets/s per publisher, paced by the senders, a process
that wakes for every datagram pays all of that for every datagram.

``BatchingSelector`` bounds how often the loop wakes for I/O while packets keep coming: once
I/O has woken it twice within ``interval``, the next wait for I/O starts no sooner than
``interval`` after the last wake-up, and so on while each such pause finds I/O (the loop's
timers still run on time: the pause never exceeds the timeout asyncio asks for). A lone
request, or a packet after a quiet spell, is handled at once. Whatever arrived meanwhile, on
every socket, is then handled in one round with warm caches; the fast path's drain
(``fastpath.DRAIN_LIMIT``) reads a frame's burst in one callback. A pause that finds nothing
ends the batching, so an idle process blocks as usual. The price is latency: a packet waits
at most ``interval`` (1 ms by default, ``--rx-batch-ms``), on average half that, and only while
packets keep coming.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from typing import Optional


class BatchingSelector(selectors.DefaultSelector):
    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self._not_before = 0.0  # no I/O wait until then (monotonic seconds); 0: not batching
        self.pauses = 0  # times select() paused to let packets accumulate
        self.wakeups = 0  # select() calls that found I/O
        self._last_io = -1e9  # when select() last found I/O

    def select(self, timeout: Optional[float] = None):
        paused = False
        if timeout != 0:
            pause = self._not_before - time.monotonic()
            if pause > 0:
                if timeout is not None and timeout < pause:
                    pause = timeout  # a timer is due first: run it (the next select goes on pausing)
                self.pauses += 1
                paused = True
                time.sleep(pause)
                timeout = 0
        ready = super().select(timeout)
        if ready:
            self.wakeups += 1
            now = time.monotonic()
            # batching goes on while each pause finds I/O, and starts when I/O wakes the loop
            # again within one interval: a stream of packets, not a lone request
            if paused or now - self._last_io < self.interval:
                self._not_before = now + self.interval
            self._last_io = now
        return ready


def new_event_loop(batch_ms: float = 0.0) -> asyncio.AbstractEventLoop:
    """A new event loop; with ``batch_ms`` > 0, one whose I/O wake-ups are at least that far
    apart while it is busy (``BatchingSelector``)."""
    if batch_ms <= 0:
        return asyncio.new_event_loop()
    return asyncio.SelectorEventLoop(BatchingSelector(batch_ms / 1000.0))
