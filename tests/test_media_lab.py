"""The SFU with real aiortc peers inside a network lab (tests/netlab.py) whose loopback delays and
drops packets, as a long intercontinental link does: NACKs toward the publisher and resends toward
the subscriber follow each link's measured round trip, transport-cc feedback matches the arrivals
the SFU saw (lost packets reported lost), and RED is negotiated and forwarded across the delay."""

from __future__ import annotations

import asyncio

import pytest

from media.nack import retry_interval_for
from media.twcc import parse_feedback
from tests.conftest import unavailable
from tests.netlab import impaired_loopback, lab_unavailable
from tests.test_media_red_sfu import test_red_reaches_subscribers_that_accept_it_and_plain_opus_the_others as red_through
from tests.test_media_twcc import record_arrivals
from tests.media_helpers import Joined
from tests.media_pools import TIMEOUT

DELAY_MS = 60  # each way on every leg: a 120 ms round trip between a peer and the SFU


@pytest.fixture
def lab_ready():
    reason = lab_unavailable()
    if reason:
        unavailable(reason)


def video_downtrack(joined: Joined, publisher: str):
    return next(s.downtrack for s in joined.peer.subscriber.slots
                if s.consumer is not None and s.consumer.producer.peer_id == publisher
                and s.consumer.producer.kind == "video")


async def test_nacks_and_resends_are_paced_by_each_links_round_trip(lab_ready, sfu, client_peers):
    with impaired_loopback(delay_ms=DELAY_MS, jitter_ms=5, loss=0.03, seed=11) as lab:
        router = sfu.router("room-lab-nack")
        alice = await Joined(router, client_peers("alice", audio=False, video_fps=30)).join()
        bob = await Joined(router, client_peers("bob", audio=False, video=False)).join(publish=False)
        await bob.client.wait_for_frames("alice", "video", 5, TIMEOUT)
        producer = next(p for p in router.producers if p.kind == "video")
        track = video_downtrack(bob, "alice")
        # aiortc answers no XR reference time, so the publisher's round trip comes from how long
        # NACKs took to be answered; the subscriber's from its reports on our sender reports
        await bob.client.wait_until(
            lambda: producer.rtt is not None and track.rtt is not None and producer.nacked >= 5
            and sfu.stats()["rtp_retransmitted"] >= 5, TIMEOUT)
        assert producer.rtt >= 2 * (DELAY_MS - 5) / 1000 * 0.95
        assert producer.nack.retry_interval == pytest.approx(retry_interval_for(producer.rtt))
        assert track.rtt >= 2 * (DELAY_MS - 5) / 1000 * 0.95
        assert track.cache.min_interval == pytest.approx(track.rtt)
        # and the picture keeps coming through the loss
        frames = bob.client.received("alice", "video")
        await bob.client.wait_for_frames("alice", "video", frames + 20, TIMEOUT)
        assert lab.stats()["dropped_loss"] > 0
        assert alice.peer.publisher.producers  # (still publishing)


async def test_transport_feedback_reports_what_arrived_and_what_the_link_lost(lab_ready, sfu, client_peers):
    with impaired_loopback(delay_ms=DELAY_MS, jitter_ms=5, loss=0.05, seed=5):
        router = sfu.router("room-lab-twcc")
        alice = client_peers("alice", audio=False, video_fps=30)
        alice.send_transport_sequence_numbers(ext_id=4)
        joined = await Joined(router, alice).join()
        publisher = joined.peer.publisher
        _, recorded = record_arrivals(publisher)
        await asyncio.sleep(0.3)  # feedback of the builder replaced has come back
        alice.twcc_feedback.clear()
        first = max(alice.twcc_sent, default=0) + 1
        await alice.wait_until(lambda: len(recorded) >= 300, TIMEOUT)
        last = max(recorded)
        await asyncio.sleep(0.5)  # the feedback covering ``last`` is on its way back
        reported: dict[int, float | None] = {}
        for body in alice.twcc_feedback:
            for seq, arrival in parse_feedback(body)[1]:
                reported.setdefault(seq, arrival)
        window = [s for s in range(first + 10, last - 10) if s in alice.twcc_sent]
        # a feedback packet can be lost on the way back too (its packets are then never
        # reported, as in libwebrtc): most of the window is covered
        covered = [s for s in window if s in reported]
        assert len(window) >= 200 and len(covered) >= 0.8 * len(window)
        window = covered
        lost = [s for s in window if s not in recorded]
        assert lost and all(reported[s] is None for s in lost)  # what the link dropped
        arrived = [s for s in window if s in recorded]
        offsets = [reported[s] - recorded[s] for s in arrived]
        assert max(offsets) - min(offsets) < 0.0005  # the SFU's arrival times, to 250 us


async def test_red_is_negotiated_and_forwarded_across_a_delayed_link(lab_ready, sfu, client_peers):
    with impaired_loopback(delay_ms=40, jitter_ms=10, seed=2):
        await red_through(sfu, client_peers)
