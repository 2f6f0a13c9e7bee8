"""tests/netlab.py and its impairer: the model alone (any machine), then real labs (root and
iptables; with CI=true their absence fails). Traffic stays inside namespaces these tests make."""

from __future__ import annotations

import os
import random
import select
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import unavailable
from tests import netlab
from tests.netlab import Impairment, LabError, impaired_loopback, lab_unavailable, pids_in_namespace, two_legs
from tests.netlab_queue import JitterCurve, LinkModel, packet_size_and_protocol

# ---- the model --------------------------------------------------------------------------------


def test_jitter_stays_in_range_and_never_reorders():
    curve = JitterCurve(0.015, random.Random(5))
    t, last_arrival, values = 0.0, -1.0, []
    rng = random.Random(6)
    for _ in range(20_000):
        t += rng.choice((0.0, 0.0005, 0.001, 0.02, 0.3))  # bursts, audio pacing, idle stretches
        value = curve(t)
        values.append(value)
        assert -0.015 <= value <= 0.015
        assert t + value >= last_arrival
        last_arrival = t + value
    assert min(values) < -0.010 and max(values) > 0.010, "the delay covers its range"


def test_loss_is_seeded_and_near_its_rate():
    def drops(seed: int) -> list[bool]:
        model = LinkModel(Impairment(loss=0.05, seed=seed))
        return [model.admit(i * 0.001, 1000) is None for i in range(20_000)]

    first = drops(3)
    assert first == drops(3) and first != drops(4)
    assert 0.04 < sum(first) / len(first) < 0.06


def test_the_bottleneck_serialises_and_drops_what_waits_too_long():
    model = LinkModel(Impairment(rate_kbit=1000, queue_ms=100))  # 1000-byte packet: 8 ms
    releases = [model.admit(0.0, 1000) for _ in range(20)]
    accepted = [r for r in releases if r is not None]
    assert accepted[:3] == pytest.approx([0.008, 0.016, 0.024])
    assert len(accepted) == 13 and model.dropped_queue == 7  # waits of 0..96 ms fit in 100 ms
    assert model.admit(1.0, 1000) == pytest.approx(1.008), "an idle link sends at once"


def test_a_shorter_delay_does_not_overtake_packets_already_held():
    model = LinkModel(Impairment(delay_ms=150))
    early = model.admit(0.0, 100)
    model.update(Impairment(delay_ms=10))
    assert model.admit(0.001, 100) >= early


def test_two_legs_of_a_direct_call():
    combined = two_legs(Impairment(delay_ms=75, jitter_ms=15, loss=0.02, rate_kbit=1000, seed=9))
    assert combined.delay_ms == 150 and combined.loss == pytest.approx(0.0396)
    assert combined.jitter_ms == pytest.approx(21.21, abs=0.01) and combined.rate_kbit == 1000 and combined.seed == 9
    assert two_legs(Impairment()).rate_kbit is None


def test_packet_headers():
    ipv4 = bytes([0x45, 0, 0x05, 0xDC]) + bytes(5) + bytes([17]) + bytes(10)
    ipv6 = bytes([0x60, 0, 0, 0, 0x01, 0x00, 6, 64]) + bytes(32)
    assert packet_size_and_protocol(ipv4) == (1500, 17)
    assert packet_size_and_protocol(ipv6) == (296, 6)


# ---- real labs ----------------------------------------------------------------------------------


@pytest.fixture
def lab_ready():
    reason = lab_unavailable()
    if reason:
        unavailable(reason)


def echo_round_trips(count: int, payload: int = 200, spacing_s: float = 0.002, timeout_s: float = 3.0,
                     family: int = socket.AF_INET) -> dict[int, float]:
    """Send ``count`` numbered datagrams to a UDP echo socket on loopback (both in this thread's
    namespace), ``spacing_s`` apart; return {number: round trip in seconds} of those that came back."""
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_DGRAM) as echo, socket.socket(family, socket.SOCK_DGRAM) as client:
        for s in (echo, client):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.setblocking(False)
        echo.bind((host, 0))
        client.connect(echo.getsockname()[:2])
        sent: dict[int, float] = {}
        back: dict[int, float] = {}
        arrivals: list[int] = []
        next_send = time.monotonic()
        deadline = None
        while deadline is None or time.monotonic() < deadline:
            now = time.monotonic()
            if len(sent) < count and now >= next_send:
                try:  # held packets count against the send buffer: when it is full, wait
                    client.send((len(sent) + 1).to_bytes(4, "big") + bytes(payload))
                    sent[len(sent)] = now
                    next_send += spacing_s
                except BlockingIOError:
                    next_send = now + 0.001
                if len(sent) == count:
                    deadline = now + timeout_s
            wait = max(0.0, next_send - now) if len(sent) < count else max(0.0, deadline - now)
            for s in select.select([echo, client], [], [], min(wait, 0.05))[0]:
                while True:
                    try:
                        data, address = s.recvfrom(65536)
                    except BlockingIOError:
                        break
                    if s is echo:
                        echo.sendto(data, address)
                    else:
                        number = int.from_bytes(data[:4], "big") - 1
                        back[number] = time.monotonic() - sent[number]
                        arrivals.append(number)
            if len(back) == count:
                break
        assert arrivals == sorted(arrivals), "datagrams came back out of order"
        return back


def test_a_udp_echo_across_the_lab_is_delayed_and_loses_about_its_rate(lab_ready):
    home = os.readlink("/proc/thread-self/ns/net")
    count, loss = 600, 0.1
    with impaired_loopback(delay_ms=30, jitter_ms=10, loss=loss, seed=11) as lab:
        assert [name for _, name in socket.if_nameindex()] == ["lo"], "only loopback exists in the lab"
        back = echo_round_trips(count)
        stats = lab.stats()
        impairer = lab.impairer.pid
        inode = lab.namespace_inode
    # Each round trip crosses the queue twice: 1 - (1 - p)^2 = 19 % of the pings are lost.
    lost = 1 - len(back) / count
    assert 0.12 < lost < 0.27, lost
    # Counters match what crossed: every ping, and an echo for each ping that arrived.
    echoed = stats["seen"] - count  # pings that reached the echo socket, each echoed once
    assert stats["seen"] == stats["seen_udp"] == count + echoed
    assert stats["dropped"] == stats["dropped_loss"] == (count - echoed) + (echoed - len(back))
    assert stats["passed"] == stats["delayed"] == stats["seen"] - stats["dropped"]
    assert stats["held"] == 0 and stats["kernel_queue_dropped"] == stats["kernel_user_dropped"] == 0
    # Delayed, not just passed: no echo came back sooner than two legs' smallest delay (a lower
    # bound only: a slow machine can only make it longer).
    assert min(back.values()) >= 2 * (0.030 - 0.010)
    # Torn down: the thread is home, the impairer and the namespace's processes are gone.
    assert os.readlink("/proc/thread-self/ns/net") == home
    assert pids_in_namespace(inode) == []
    with pytest.raises(ProcessLookupError):
        os.kill(impairer, 0)


def test_ipv6_is_impaired_too_and_tcp_only_when_asked(lab_ready):
    with impaired_loopback(loss=1.0) as lab:
        assert echo_round_trips(20, timeout_s=0.5, family=socket.AF_INET6) == {}
        with socket.create_server(("127.0.0.1", 0)) as server, \
                socket.create_connection(server.getsockname(), timeout=5) as client:
            conn, _ = server.accept()
            client.sendall(b"signalling")
            assert conn.recv(100) == b"signalling"
            conn.close()
        stats = lab.stats()
        assert stats["seen_udp"] == 20 and stats["seen_tcp"] == 0

    with impaired_loopback(delay_ms=5, loss=0.1, seed=2, impair_tcp=True) as lab:
        with socket.create_server(("127.0.0.1", 0)) as server, \
                socket.create_connection(server.getsockname(), timeout=30) as client:
            conn, _ = server.accept()
            conn.settimeout(30)
            client.sendall(bytes(200_000))
            received = 0
            while received < 200_000:
                chunk = conn.recv(65536)
                assert chunk, "the connection closed"
                received += len(chunk)
            conn.close()
        stats = lab.stats()
        assert stats["seen_tcp"] > 0 and stats["dropped"] > 0, stats  # lossy, and TCP recovered


def test_the_impairment_changes_mid_test(lab_ready):
    with impaired_loopback(loss=1.0) as lab:
        assert echo_round_trips(30, timeout_s=0.5) == {}
        lab.set(loss=0.0, delay_ms=5)
        assert len(echo_round_trips(30)) == 30
        assert lab.stats()["params"]["loss"] == 0.0
        with pytest.raises(ValueError):
            lab.set(loss=2.0)


def test_a_rate_limit_queues_then_drops_a_burst(lab_ready):
    with impaired_loopback(rate_kbit=800, queue_ms=100) as lab:  # a 1032-byte datagram per ~10 ms
        back = echo_round_trips(200, payload=1000, spacing_s=0.0, timeout_s=2.0)
        stats = lab.stats()
    assert stats["dropped_queue"] > 100, stats  # the burst is far more than 100 ms of the link
    assert stats["dropped_loss"] == 0 and len(back) > 5
    # What got through was serialised: the n-th echo waited for n packets' time (lower bound).
    slowest = max(back.values())
    assert slowest >= (len(back) - 1) * 1032 * 8 / 800_000


def test_the_lab_is_torn_down_when_the_test_fails(lab_ready):
    with pytest.raises(ZeroDivisionError):
        with impaired_loopback(delay_ms=10) as lab:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            inode = lab.namespace_inode
            assert sorted(lab.processes()) == sorted([lab.impairer.pid, child.pid])
            1 / 0
    assert child.wait(timeout=5) != 0, "the child was ended with the lab"
    assert pids_in_namespace(inode) == []


def test_threads_started_inside_are_in_the_lab_and_others_can_enter(lab_ready):
    import threading

    seen, go = {}, threading.Event()
    labs = []

    def worker():  # started before the lab exists: outside until it enters
        go.wait(10)
        seen["outside"] = os.readlink("/proc/thread-self/ns/net")
        with labs[0].enter():
            seen["inside"] = os.readlink("/proc/thread-self/ns/net")
            seen["lost"] = echo_round_trips(5, timeout_s=0.3) == {}
        seen["after"] = os.readlink("/proc/thread-self/ns/net")

    def child():
        seen["child"] = os.readlink("/proc/thread-self/ns/net")

    early = threading.Thread(target=worker)
    early.start()
    with impaired_loopback(loss=1.0) as lab:
        labs.append(lab)
        go.set()
        early.join(10)
        late = threading.Thread(target=child)
        late.start()
        late.join(10)
        mine = os.readlink("/proc/thread-self/ns/net")
    assert seen["inside"] == seen["child"] == mine != seen["outside"] == seen["after"] and seen["lost"]


def test_an_impossible_lab_says_why(monkeypatch):
    with pytest.raises(ValueError):
        Impairment(delay_ms=10, jitter_ms=20)
    # without iptables (a machine where `./dev test` could not install it) no lab is made, and
    # the error says what is missing
    monkeypatch.setattr(netlab, "_tool", lambda name: None)
    monkeypatch.setattr(netlab, "_probe", {})
    assert "iptables is not installed" in lab_unavailable()
    with pytest.raises(LabError, match="iptables"):
        with impaired_loopback():
            pass
