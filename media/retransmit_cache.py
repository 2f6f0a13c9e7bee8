"""Recently sent packets of one outgoing stream, by sequence number, for answering NACKs, and the
limits on answering them: a subscriber NACKing everything (broken or hostile) must not make the
SFU flood its link or spend its CPU on retransmissions."""

from __future__ import annotations

# Sized for a lossy leg (150 ms each way, 5 % loss): a retransmission is itself lost 5-10 % of the
# time, so a packet may need several; a round trip passes between two of them (the interval
# follows the subscriber's measured RTT, this is the value before the first report).
MAX_RESENDS = 4  # times one packet is retransmitted
MIN_RESEND_INTERVAL = 0.1  # seconds between two retransmissions of one packet (about one RTT)
RESEND_RECORD_TTL = 10.0  # seconds: an older record is of an earlier use of the sequence number

# The budget is what keeps a broken or hostile subscriber (NACKing everything) from doubling its
# stream; an honest one at 5 % loss with jitter that reorders packets (each reordering looks like
# a loss to the browser and costs a retransmission) stays well under half.
BUDGET_FRACTION = 0.5  # retransmitted bytes per forwarded byte, at most
BUDGET_BURST = 200_000  # bytes of retransmission that can be saved up (a keyframe lost whole)
BUDGET_INITIAL = 32_000  # bytes allowed before anything was forwarded (a lost first keyframe)


class RetransmitCache:
    """A ring of the last ``capacity`` packets (a power of two), indexed by sequence number.

    Packets are stored as sent (plaintext, header already rewritten); the sequence number is read
    back from the packet itself, so a slot overwritten by a newer packet is never returned for an
    older number. The forwarding path writes ``_packets[seq & _mask]`` directly.

    Each packet is resent at most ``max_resends`` times, and not again within ``min_interval``
    (a NACK repeated sooner was sent before the retransmission could arrive). The records of
    what was resent live in a dict keyed by slot, written only when a packet is resent, so the
    forwarding path pays nothing for them.
    """

    __slots__ = ("_mask", "_packets", "_resent", "max_resends", "min_interval")

    def __init__(self, capacity: int = 1024, max_resends: int = MAX_RESENDS,
                 min_interval: float = MIN_RESEND_INTERVAL) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two")
        self._mask = capacity - 1
        self._packets: list[bytes | None] = [None] * capacity
        # slot -> [sequence number, first resent, times resent, last resent]
        self._resent: dict[int, list] = {}
        self.max_resends = max_resends
        self.min_interval = min_interval

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def put(self, sequence_number: int, packet: bytes) -> None:
        self._packets[sequence_number & self._mask] = packet

    def get(self, sequence_number: int) -> bytes | None:
        packet = self._packets[sequence_number & self._mask]
        if packet is None or ((packet[2] << 8) | packet[3]) != sequence_number:
            return None
        return packet

    def _record(self, sequence_number: int, now: float) -> list | None:
        record = self._resent.get(sequence_number & self._mask)
        if record is None or record[0] != sequence_number or now - record[1] >= RESEND_RECORD_TTL:
            return None
        return record

    def may_resend(self, sequence_number: int, now: float) -> bool:
        """Whether the per-packet limits allow resending ``sequence_number`` now."""
        record = self._record(sequence_number, now)
        return record is None or (record[2] < self.max_resends and now - record[3] >= self.min_interval)

    def resent(self, sequence_number: int, now: float) -> None:
        """Record that ``sequence_number`` was resent at ``now``."""
        record = self._record(sequence_number, now)
        if record is None:
            self._resent[sequence_number & self._mask] = [sequence_number, now, 1, now]
        else:
            record[2] += 1
            record[3] = now

    def clear(self) -> None:
        self._packets = [None] * (self._mask + 1)
        self._resent.clear()


class RetransmitBudget:
    """The bytes one stream may retransmit: a token bucket filled with ``fraction`` of every
    byte forwarded (so retransmissions stay under that share of the stream's bitrate), holding
    at most ``burst``. It is topped up from the stream's byte counter when a NACK is answered,
    never on the forwarding path."""

    __slots__ = ("fraction", "burst", "tokens", "_forwarded")

    def __init__(self, fraction: float = BUDGET_FRACTION, burst: float = BUDGET_BURST,
                 initial: float = BUDGET_INITIAL) -> None:
        self.fraction = fraction
        self.burst = burst
        self.tokens = float(min(initial, burst))
        self._forwarded = 0

    def take(self, size: int, forwarded: int) -> bool:
        """Spend ``size`` bytes if there are enough; ``forwarded``: the stream's byte counter."""
        if forwarded != self._forwarded:
            self.tokens = min(self.burst, self.tokens + (forwarded - self._forwarded) * self.fraction)
            self._forwarded = forwarded
        if self.tokens < size:
            return False
        self.tokens -= size
        return True
