"""The impairer of tests/netlab.py: a userspace nfnetlink_queue client that delays, drops and
rate-limits the packets iptables queues to it (``-j NFQUEUE``), run as its own process inside the
lab's network namespace (nfnetlink queues belong to a namespace).

    python -m tests.netlab_queue --queue 0 --params '{"delay_ms": 75, "jitter_ms": 15, "loss": 0.02}'

Standard library only. Control is JSON lines: the process prints ``{"ready": true}`` once it is bound
to the queue; then, per line read on stdin, ``{"cmd": "stats"}`` answers the counters and
``{"cmd": "set", "params": {...}}`` changes the impairment (packets already held keep their time);
end of stdin (the lab, or its process, went away) makes it exit, and the kernel drops what it held.

The model, per queued packet, in the order a real access link applies it (`LinkModel.admit`):
  1. loss: dropped with probability ``loss`` (independent per packet, from a seeded generator);
  2. rate: ``rate_kbit`` serialises packets through one bottleneck shared by everything queued (a
     packet leaves it at max(now, previous departure) + size / rate); a packet that would wait
     more than ``queue_ms`` there is dropped (drop-tail);
  3. delay: it is released ``delay_ms`` + o(t) after it left the bottleneck, where the jitter o(t)
     moves linearly between random values in [-jitter_ms, +jitter_ms] drawn every 4 x jitter_ms.
Order is kept: o(t) never falls faster than half the time that passes, so release times only
grow, and a packet is never released before the one queued ahead of it (a change of parameters
cannot reorder either). netem's ``delay D J`` draws an independent delay per packet and so
reorders packets sent less than 2J apart (a video frame's packets, 1 ms apart, would arrive
shuffled); paths between two cities rarely reorder, and delay varies with the queues along the way,
which change over tens of milliseconds: consecutive packets see nearly the same delay, frames 33 ms
apart differ by a few milliseconds, and over a second the delay covers the whole range.
"""

from __future__ import annotations

import argparse
import collections
import errno
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass, replace

# ---- nfnetlink_queue protocol (linux/netfilter/nfnetlink_queue.h) --------------------------------

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_PAYLOAD = 1, 2, 10
NF_DROP, NF_ACCEPT = 0, 1
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_HDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id (host order)
NFGEN_HDR = struct.Struct("!BBH")  # family, version, resource id (the queue number, big-endian)
NLA_HDR = struct.Struct("=HH")  # length, type
COPY_BYTES = 48  # enough of each packet for its IPv4/IPv6 header and the transport's ports


def _attr(kind: int, payload: bytes) -> bytes:
    size = NLA_HDR.size + len(payload)
    return NLA_HDR.pack(size, kind) + payload + b"\0" * (-size % 4)


def _message(msg_type: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST, seq: int = 0) -> bytes:
    body = NFGEN_HDR.pack(socket.AF_UNSPEC, 0, queue) + attrs
    return NLMSG_HDR.pack(NLMSG_HDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def verdict_message(queue: int, packet_id: int, verdict: int) -> bytes:
    return _message(NFQNL_MSG_VERDICT, queue, _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)))


def parse_attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    attrs = {}
    while offset + NLA_HDR.size <= end:
        size, kind = NLA_HDR.unpack_from(data, offset)
        if size < NLA_HDR.size:
            break
        attrs[kind & 0x3FFF] = data[offset + NLA_HDR.size:offset + size]
        offset += (size + 3) & ~3
    return attrs


def packet_size_and_protocol(header: bytes) -> tuple[int, int]:
    """(IP packet length, transport protocol number) from the first bytes of an IPv4/IPv6 packet."""
    if header and header[0] >> 4 == 6 and len(header) >= 40:
        return 40 + struct.unpack_from("!H", header, 4)[0], header[6]
    if len(header) >= 20:
        return struct.unpack_from("!H", header, 2)[0], header[9]
    return len(header), 0


class NfQueue:
    """One bound nfnetlink queue: packets in (``receive``), verdicts out (``verdicts``)."""

    def __init__(self, queue: int, maxlen: int = 50_000, rcvbuf: int = 16 << 20) -> None:
        self.queue = queue
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (root): past rmem_max
        self.sock.setsockopt(socket.SOL_SOCKET, 32, rcvbuf)  # SO_SNDBUFFORCE
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)  # an overrun loses packets, not the socket
        self.sock.bind((0, 0))
        self._configure(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_UNSPEC)), 1)
        self._configure(_attr(NFQA_CFG_PARAMS, struct.pack("!IB", COPY_BYTES, NFQNL_COPY_PACKET))
                        + _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)), 2)
        self.sock.setblocking(False)
        self.errors = 0  # verdicts the kernel refused (an unknown packet id)

    def _configure(self, attrs: bytes, seq: int) -> None:
        self.sock.send(_message(NFQNL_MSG_CONFIG, self.queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq))
        self.sock.settimeout(5)
        data = self.sock.recv(65536)
        length, kind, _, _, _ = NLMSG_HDR.unpack_from(data)
        if kind == NLMSG_ERROR:
            code = struct.unpack_from("=i", data, NLMSG_HDR.size)[0]
            if code:
                raise OSError(-code, f"nfnetlink_queue config: {os.strerror(-code)}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[tuple[int, int, int]]:
        """Every packet waiting now: (packet id, IP length, protocol)."""
        packets = []
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return packets
            offset = 0
            while offset + NLMSG_HDR.size <= len(data):
                length, kind, _, _, _ = NLMSG_HDR.unpack_from(data, offset)
                if length < NLMSG_HDR.size:
                    break
                if kind == NLMSG_ERROR:
                    if struct.unpack_from("=i", data, offset + NLMSG_HDR.size)[0]:
                        self.errors += 1
                elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    attrs = parse_attrs(data, offset + NLMSG_HDR.size + NFGEN_HDR.size, offset + length)
                    header = attrs.get(NFQA_PACKET_HDR)
                    if header is not None:
                        size, protocol = packet_size_and_protocol(attrs.get(NFQA_PAYLOAD, b""))
                        packets.append((struct.unpack_from("!I", header)[0], size, protocol))
                offset += (length + 3) & ~3

    def verdicts(self, items: list[tuple[int, int]]) -> None:
        """Send (packet id, verdict) pairs, many netlink messages per datagram."""
        for start in range(0, len(items), 256):
            batch = b"".join(verdict_message(self.queue, pid, v) for pid, v in items[start:start + 256])
            while True:
                try:
                    self.sock.send(batch)
                    break
                except (BlockingIOError, InterruptedError):
                    select.select([], [self.sock], [], 0.05)

    def close(self) -> None:
        self.sock.close()


# ---- the model (pure: no sockets, testable alone) ------------------------------------------------

@dataclass(frozen=True)
class Impairment:
    """What each packet queued to the impairer suffers, once per pass through the queue (one
    'leg': on loopback a packet crosses the queue once between two sockets)."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0  # probability, 0..1
    rate_kbit: float | None = None  # one bottleneck shared by every queued packet; None: unlimited
    queue_ms: float = 200.0  # longest wait at that bottleneck before a packet is dropped
    seed: int = 1

    def __post_init__(self) -> None:
        if self.delay_ms < 0 or self.jitter_ms < 0 or self.queue_ms < 0:
            raise ValueError("delay, jitter and queue must be >= 0")
        if self.jitter_ms > self.delay_ms:
            raise ValueError("jitter_ms must not exceed delay_ms")
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError("loss is a probability in [0, 1]")
        if self.rate_kbit is not None and self.rate_kbit <= 0:
            raise ValueError("rate_kbit must be > 0 (None: unlimited)")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> Impairment:
        return cls(**data)


class JitterCurve:
    """o(t) in [-J, +J]: linear between random values drawn every 4 J seconds, so its slope is at
    most 1/2 and t + o(t) only grows (no reordering). Constant across an idle stretch."""

    def __init__(self, jitter_s: float, rng: random.Random) -> None:
        self.jitter_s = jitter_s
        self.rng = rng
        self.t0 = self.t1 = None
        self.v0 = self.v1 = 0.0

    def _draw(self) -> float:
        return self.rng.uniform(-self.jitter_s, self.jitter_s)

    def __call__(self, t: float) -> float:
        if self.jitter_s <= 0:
            return 0.0
        step = 4 * self.jitter_s
        if self.t0 is None:
            self.t0, self.v0 = t, self._draw()
            self.t1, self.v1 = t + step, self._draw()
        while t >= self.t1:
            if t >= self.t1 + step:  # idle: start a new segment here from where the curve stood
                self.t0, self.v0 = t, self.v1
            else:
                self.t0, self.v0 = self.t1, self.v1
            self.t1, self.v1 = self.t0 + step, self._draw()
        return self.v0 + (self.v1 - self.v0) * (t - self.t0) / step


class LinkModel:
    """Decides, for a packet seen at ``now`` (seconds, monotonic), None (drop) or its release time."""

    def __init__(self, impairment: Impairment) -> None:
        self.loss_rng = random.Random(impairment.seed)
        self.jitter = JitterCurve(impairment.jitter_ms / 1000, random.Random(impairment.seed + 1))
        self.impairment = impairment
        self.bottleneck_free = 0.0  # when the bottleneck has sent everything admitted so far
        self.last_release = 0.0
        self.dropped_loss = 0
        self.dropped_queue = 0

    def update(self, impairment: Impairment) -> None:
        if impairment.jitter_ms != self.impairment.jitter_ms:
            self.jitter = JitterCurve(impairment.jitter_ms / 1000, random.Random(impairment.seed + 1))
        self.impairment = impairment

    def admit(self, now: float, size: int) -> float | None:
        imp = self.impairment
        if imp.loss and self.loss_rng.random() < imp.loss:
            self.dropped_loss += 1
            return None
        departs = now
        if imp.rate_kbit:
            departs = max(now, self.bottleneck_free) + size * 8 / (imp.rate_kbit * 1000)
            if departs - now > imp.queue_ms / 1000 + size * 8 / (imp.rate_kbit * 1000):
                self.dropped_queue += 1
                return None
            self.bottleneck_free = departs
        release = departs + imp.delay_ms / 1000 + self.jitter(departs)
        release = max(release, self.last_release)  # FIFO, also across a change of parameters
        self.last_release = release
        return release


# ---- the process ---------------------------------------------------------------------------------

def kernel_queue_counters(queue: int) -> dict:
    """queue_dropped (queue full) and user_dropped (netlink socket full) of this namespace's queue."""
    try:
        for line in open("/proc/net/netfilter/nfnetlink_queue"):
            fields = line.split()
            if fields and int(fields[0]) == queue:
                return {"kernel_queue_dropped": int(fields[5]), "kernel_user_dropped": int(fields[6])}
    except (OSError, ValueError, IndexError):
        pass
    return {"kernel_queue_dropped": 0, "kernel_user_dropped": 0}


class Impairer:
    def __init__(self, queue: NfQueue, impairment: Impairment) -> None:
        self.queue = queue
        self.model = LinkModel(impairment)
        self.held: collections.deque[tuple[float, int]] = collections.deque()  # (release, id): FIFO
        self.counts = collections.Counter()

    def on_packets(self, now: float) -> None:
        drops = []
        for packet_id, size, protocol in self.queue.receive():
            self.counts["seen"] += 1
            self.counts["bytes_seen"] += size
            self.counts["seen_udp" if protocol == 17 else "seen_tcp" if protocol == 6 else "seen_other"] += 1
            release = self.model.admit(now, size)
            if release is None:
                drops.append((packet_id, NF_DROP))
            else:
                self.counts["delayed"] += release > now
                self.held.append((release, packet_id))
        if drops:
            self.queue.verdicts(drops)

    def release_due(self, now: float) -> None:
        due = []
        while self.held and self.held[0][0] <= now:
            due.append((self.held.popleft()[1], NF_ACCEPT))
        if due:
            self.counts["passed"] += len(due)
            self.queue.verdicts(due)

    def stats(self) -> dict:
        return {
            "seen": self.counts["seen"], "seen_udp": self.counts["seen_udp"], "seen_tcp": self.counts["seen_tcp"],
            "seen_other": self.counts["seen_other"], "bytes_seen": self.counts["bytes_seen"],
            "passed": self.counts["passed"], "delayed": self.counts["delayed"], "held": len(self.held),
            "dropped": self.model.dropped_loss + self.model.dropped_queue,
            "dropped_loss": self.model.dropped_loss, "dropped_queue": self.model.dropped_queue,
            "verdict_errors": self.queue.errors, "params": asdict(self.model.impairment),
            **kernel_queue_counters(self.queue.queue),
        }

    def command(self, line: str) -> dict:
        request = json.loads(line)
        if request.get("cmd") == "stats":
            return self.stats()
        if request.get("cmd") == "set":
            params = replace(self.model.impairment, **request["params"])
            self.model.update(params)
            return {"ok": True, "params": asdict(params)}
        return {"error": f"unknown command {request!r}"}


def serve(impairer: Impairer, control_in: int, control_out) -> None:
    poller = select.poll()
    poller.register(impairer.queue.fileno(), select.POLLIN)
    poller.register(control_in, select.POLLIN | select.POLLHUP)
    pending = b""
    while True:
        now = time.monotonic()
        impairer.release_due(now)
        wait_ms = -1 if not impairer.held else max(0, (impairer.held[0][0] - now) * 1000)
        for fd, events in poller.poll(None if wait_ms < 0 else wait_ms):
            if fd == control_in:
                chunk = os.read(control_in, 65536)
                if not chunk:
                    return  # the lab is gone
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        control_out.write(json.dumps(impairer.command(line.decode())) + "\n")
                        control_out.flush()
            else:
                impairer.on_packets(time.monotonic())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--params", default="{}", help="Impairment as JSON")
    parser.add_argument("--maxlen", type=int, default=50_000, help="packets the kernel may hold for us")
    args = parser.parse_args(argv)
    impairment = Impairment.from_dict(json.loads(args.params))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the lab ends us (stdin)
    try:
        os.nice(-10)  # packets wait for this process: let it run before the browsers it serves
    except OSError:
        pass
    try:
        queue = NfQueue(args.queue, maxlen=args.maxlen)
    except OSError as exc:
        print(json.dumps({"ready": False, "error": f"{exc.__class__.__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    try:
        serve(Impairer(queue, impairment), sys.stdin.fileno(), sys.stdout)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
    finally:
        queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
