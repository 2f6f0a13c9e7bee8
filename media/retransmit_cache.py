"""Recently sent packets of one outgoing stream, by sequence number, for answering NACKs."""

from __future__ import annotations


class RetransmitCache:
    """A ring of the last ``capacity`` packets (a power of two), indexed by sequence number.

    Packets are stored as sent (plaintext, header already rewritten); the sequence number is read
    back from the packet itself, so a slot overwritten by a newer packet is never returned for an
    older number. The forwarding path writes ``_packets[seq & _mask]`` directly.
    """

    __slots__ = ("_mask", "_packets")

    def __init__(self, capacity: int = 1024) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two")
        self._mask = capacity - 1
        self._packets: list[bytes | None] = [None] * capacity

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

    def clear(self) -> None:
        self._packets = [None] * (self._mask + 1)
