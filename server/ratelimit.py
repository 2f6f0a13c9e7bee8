"""Token buckets: per connection (Socket.IO events, chat), and per client address for the HTTP routes
(``AddressLimits``): bursts pass, floods are refused with ``rate_limited``."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, cost: float = 1.0) -> bool:
        self._refill(time.monotonic())
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def wait(self, cost: float = 1.0) -> float:
        """Seconds until ``take(cost)`` would pass (0 if it would now)."""
        self._refill(time.monotonic())
        return max(0.0, (cost - self.tokens) / self.rate) if self.rate > 0 else math.inf

    def full_at(self) -> float:
        """The monotonic time from which this bucket is full again (as good as a new one)."""
        return self.stamp + ((self.burst - self.tokens) / self.rate if self.rate > 0 else math.inf)


def client_key(address: str | None) -> str:
    """What one client is, from its address: an IPv4 address itself (an IPv4-mapped IPv6 address as
    its IPv4 address), an IPv6 address by its /64 (one host or LAN holds a whole /64 and could
    otherwise take a fresh bucket per address)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return address or "?"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class AddressLimits:
    """One token bucket per client (``client_key``) for one kind of request: ``rate`` per second
    after a ``burst``. The table keeps at most ``max_clients`` entries: the least recently seen go
    first, and one whose bucket has filled up again is dropped as soon as it is the oldest, since
    a fresh bucket is the same."""

    def __init__(self, rate: float, burst: float, max_clients: int = 10_000):
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, address: str | None) -> float:
        """Take a token for this client: 0.0 when the request may pass, else the seconds to wait."""
        key = client_key(address)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        else:
            self._buckets.move_to_end(key)
        passed = bucket.take()
        self._evict()
        return 0.0 if passed else bucket.wait()

    def _evict(self) -> None:
        now = time.monotonic()
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if len(self._buckets) > self.max_clients or oldest.full_at() <= now:
                del self._buckets[key]
            else:
                break
