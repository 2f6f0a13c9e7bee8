"""NackGenerator: which packets of a publisher's stream the SFU lost, and when to ask again.

Pure logic, clock passed in. The Producer reports gaps in the main stream's sequence numbers
(``missing``) and arrivals of late or retransmitted packets (``received``); ``due`` says which
sequence numbers to NACK again. Bounded: at most ``capacity`` outstanding numbers, each asked
for at most ``max_tries`` times within ``max_age`` seconds; a gap wider than ``capacity`` is a
jump of the stream, not a loss, and is not asked for.
"""

from __future__ import annotations

import math


class NackGenerator:
    __slots__ = ("capacity", "retry_interval", "max_tries", "max_age", "_pending", "next_due")

    def __init__(self, capacity: int = 256, retry_interval: float = 0.1, max_tries: int = 4,
                 max_age: float = 1.0) -> None:
        self.capacity = capacity
        self.retry_interval = retry_interval
        self.max_tries = max_tries
        self.max_age = max_age
        # sequence number -> [first asked, last asked, times asked]; insertion order = age
        self._pending: dict[int, list] = {}
        self.next_due = math.inf

    @property
    def pending(self) -> int:
        return len(self._pending)

    def __contains__(self, sequence_number: int) -> bool:
        return sequence_number in self._pending

    def missing(self, first: int, count: int, now: float) -> list[int]:
        """``count`` numbers from ``first`` were skipped: returns those to NACK at once."""
        if count <= 0:
            return []
        if count > self.capacity:
            self._pending.clear()
            self.next_due = math.inf
            return []
        pending = self._pending
        asked = []
        for i in range(count):
            seq = (first + i) & 0xFFFF
            pending[seq] = [now, now, 1]
            asked.append(seq)
        while len(pending) > self.capacity:
            del pending[next(iter(pending))]
        due = now + self.retry_interval
        if due < self.next_due:
            self.next_due = due
        return asked

    def received(self, sequence_number: int) -> bool:
        """A late or retransmitted packet arrived; True if it was outstanding."""
        if self._pending.pop(sequence_number, None) is None:
            return False
        if not self._pending:
            self.next_due = math.inf
        return True

    def due(self, now: float) -> list[int]:
        """Numbers to ask for again now (expired ones are forgotten)."""
        asked = []
        next_due = math.inf
        expired = []
        for seq, entry in self._pending.items():
            if now - entry[0] >= self.max_age or entry[2] >= self.max_tries:
                expired.append(seq)
                continue
            when = entry[1] + self.retry_interval
            if when <= now:
                entry[1] = now
                entry[2] += 1
                asked.append(seq)
                when = now + self.retry_interval
            if when < next_due:
                next_due = when
        for seq in expired:
            del self._pending[seq]
        self.next_due = next_due
        return asked

    def clear(self) -> None:
        self._pending.clear()
        self.next_due = math.inf
