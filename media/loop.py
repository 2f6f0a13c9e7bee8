"""The SFU's event loop: asyncio's selector loop, with receive wake-ups batched.

Measured on the 2-core VMs this runs on (docs/performance.md, "Why batching"): what an inbound
packet costs depends far less on the code it runs than on whether the process was asleep when
it arrived. One SRTP unprotect of a 1100-byte packet takes ~2 us in a tight loop and ~12 us
right after a 0.5 ms sleep (cold caches and TLB, the idle vCPU's exit and re-entry), and
asyncio's own round (epoll, the ready queue, the transport's ``_read_ready``) is paid per
wake-up, not per packet. At ~170 packets/s per publisher, paced by the senders, a process
that wakes for every datagram pays all of that for every datagram.

``BatchingSelector`` bounds how often the loop wakes for I/O: after a wake-up that found I/O,
the next wait for I/O starts no sooner than ``interval`` later (the loop's timers still run on
time: the pause never exceeds the timeout asyncio asks for). Whatever arrived meanwhile, on
every socket, is then handled in one round with warm caches; the fast path's drain
(``fastpath.DRAIN_LIMIT``) reads a frame's burst in one callback. A wake-up that finds nothing
ends the batching, so an idle process blocks as usual and the first packet after a quiet
spell is handled at once. The price is latency: a packet waits at most ``interval`` (1 ms by
default, ``--rx-batch-ms``), on average half that, and only while the process is busy.
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

    def select(self, timeout: Optional[float] = None):
        if timeout != 0:
            pause = self._not_before - time.monotonic()
            if pause > 0:
                if timeout is not None and timeout < pause:
                    pause = timeout  # a timer is due first: run it (the next select goes on pausing)
                self.pauses += 1
                time.sleep(pause)
                timeout = 0
        ready = super().select(timeout)
        if ready:
            self.wakeups += 1
            self._not_before = time.monotonic() + self.interval
        return ready


def new_event_loop(batch_ms: float = 0.0) -> asyncio.AbstractEventLoop:
    """A new event loop; with ``batch_ms`` > 0, one whose I/O wake-ups are at least that far
    apart while it is busy (``BatchingSelector``)."""
    if batch_ms <= 0:
        return asyncio.new_event_loop()
    return asyncio.SelectorEventLoop(BatchingSelector(batch_ms / 1000.0))
