"""NackGenerator: which packets of a publisher's stream the SFU lost, and when to ask again.

Pure logic, clock passed in. The Producer reports gaps in the main stream's sequence numbers
(``missing``) and arrivals of late or retransmitted packets (``received``); ``due`` says which
sequence numbers to NACK again. Bounded: at most ``capacity`` outstanding numbers, each asked
for at most ``max_tries`` times within ``max_age`` seconds; a gap wider than ``capacity`` is a
jump of the stream, not a loss, and is not asked for.

The pace follows the publisher link's round trip (``set_rtt``): a NACK is repeated only when the
retransmission it asked for should have arrived, so on a 300 ms link the tries are not spent in
the first 300 ms, and the age limit stretches so that every try gets its round trip (LiveKit's
and libwebrtc's NACK modules repeat at about one RTT too). ``received`` also measures how long a
first NACK took to be answered: a round-trip sample for links that give no other.
"""

from __future__ import annotations

import math

DEFAULT_RTT = 0.1  # seconds, until the link's round trip is known
RETRY_MARGIN = 0.02  # seconds added to the round trip: the publisher's own delay, jitter
RETRY_INTERVAL_MIN = 0.02
RETRY_INTERVAL_MAX = 0.6
MAX_TRIES = 6  # at 5 % loss each way a try fails ~10 % of the time: 6 fail once in a million
MAX_AGE_MIN = 1.0  # seconds a number stays asked for, at least...
MAX_AGE_MAX = 3.0  # ...and at most (Chromium waits up to 3 s for a frame before giving up on it)


def retry_interval_for(rtt: float) -> float:
    return min(RETRY_INTERVAL_MAX, max(RETRY_INTERVAL_MIN, rtt + RETRY_MARGIN))


class NackGenerator:
    __slots__ = ("capacity", "retry_interval", "max_tries", "max_age", "_pending", "next_due",
                 "repair_sample")

    def __init__(self, capacity: int = 512, retry_interval: float | None = None, max_tries: int = MAX_TRIES,
                 max_age: float | None = None) -> None:
        self.capacity = capacity
        self.max_tries = max_tries
        self.retry_interval = retry_interval_for(DEFAULT_RTT) if retry_interval is None else retry_interval
        self.max_age = self._age_for(self.retry_interval) if max_age is None else max_age
        # sequence number -> [first asked, last asked, times asked]; insertion order = age
        self._pending: dict[int, list] = {}
        self.next_due = math.inf
        self.repair_sample: float | None = None  # seconds from a first NACK to its answer

    def _age_for(self, interval: float) -> float:
        return min(MAX_AGE_MAX, max(MAX_AGE_MIN, interval * (self.max_tries + 0.5)))

    def set_rtt(self, rtt: float) -> None:
        """The publisher link's round trip (seconds): paces repeats and stretches the age limit."""
        self.retry_interval = retry_interval_for(rtt)
        self.max_age = self._age_for(self.retry_interval)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def __contains__(self, sequence_number: int) -> bool:
        return sequence_number in self._pending

    def oldest_asked(self) -> float | None:
        """When the oldest outstanding number was first asked for (None: nothing outstanding)."""
        for entry in self._pending.values():
            return entry[0]
        return None

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

    def received(self, sequence_number: int, now: float | None = None) -> bool:
        """A late or retransmitted packet arrived; True if it was outstanding. An answer to a
        number asked for once (Karn's rule: no ambiguity) leaves its delay in ``repair_sample``."""
        entry = self._pending.pop(sequence_number, None)
        if entry is None:
            return False
        if now is not None and entry[2] == 1:
            self.repair_sample = now - entry[1]
        if not self._pending:
            self.next_due = math.inf
        return True

    def due(self, now: float) -> list[int]:
        """Numbers to ask for again now (expired ones are forgotten)."""
        asked = []
        next_due = math.inf
        expired = []
        interval = self.retry_interval
        for seq, entry in self._pending.items():
            if now - entry[0] >= self.max_age or entry[2] >= self.max_tries:
                expired.append(seq)
                continue
            when = entry[1] + interval
            if when <= now:
                entry[1] = now
                entry[2] += 1
                asked.append(seq)
                when = now + interval
            if when < next_due:
                next_due = when
        for seq in expired:
            del self._pending[seq]
        self.next_due = next_due
        return asked

    def clear(self) -> None:
        self._pending.clear()
        self.next_due = math.inf
