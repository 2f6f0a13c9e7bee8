"""RED for Opus through the real SFU, with aiortc peers over 127.0.0.1 (media/red.py).

aiortc cannot send RED, so the publisher is crafted: its offer is made to look like Chromium's
(Opus on payload type 111, ``red/48000/2`` on 63 with ``a=fmtp:63 111/111``), and every Opus
packet its sender puts on the wire is wrapped in RED (the previous frame as the redundant block,
as Chromium does) under payload type 63, with every tenth packet then lost on the way to the SFU.
One subscriber answers as aiortc does (no red): it must get plain Opus, the primary blocks, with
the lost frames rebuilt from the redundancy. Another one's answer is made to keep red, as
Chromium's does: it must get RED with the blocks' payload type rewritten to its Opus (96)."""

from __future__ import annotations

import asyncio

from media import red, rtp
from tests.media_helpers import Joined
from tests.media_pools import TIMEOUT

RED_PT = 63
OPUS_PT = 111  # the publisher's, as Chromium's
DROP_EVERY = 10


def chromium_like(offer: str) -> str:
    """aiortc's publish offer with its audio section made Chromium's: Opus on 111 with in-band
    FEC, red on 63 over it, after Opus (as Chromium offers without codec preferences)."""
    out = []
    for line in offer.split("\r\n"):
        if line.startswith("m=audio"):
            parts = line.split()
            line = " ".join(parts[:3] + [str(OPUS_PT), str(RED_PT)] + [p for p in parts[3:] if p != "96"])
        elif line == "a=rtpmap:96 opus/48000/2":
            out += [f"a=rtpmap:{OPUS_PT} opus/48000/2", f"a=fmtp:{OPUS_PT} minptime=10;useinbandfec=1",
                    f"a=rtpmap:{RED_PT} red/48000/2", f"a=fmtp:{RED_PT} {OPUS_PT}/{OPUS_PT}"]
            continue
        elif line.startswith(("a=fmtp:96 ", "a=rtcp-fb:96 ")):
            line = line.replace(":96 ", f":{OPUS_PT} ", 1)
        out.append(line)
    return "\r\n".join(out)


class RedSender:
    """Wraps the RTP an aiortc sender puts on the wire in RED (payload type 63, blocks of Opus
    111, the previous frame redundant) and loses every ``drop_every``-th packet."""

    def __init__(self, transport, drop_every: int) -> None:
        self.primaries: dict[int, tuple[int, bytes]] = {}  # seq -> (timestamp, Opus frame)
        self.index: dict[int, int] = {}  # seq -> position in what was sent (numbers may wrap)
        self.dropped: list[int] = []
        self.sent = 0
        self._previous = None
        original = transport._send_rtp

        async def _send_rtp(data: bytes) -> None:
            if 192 <= data[1] <= 223:  # RTCP goes this way too
                await original(data)
                return
            offset = rtp.header_length(data)
            seq = int.from_bytes(data[2:4], "big")
            ts = int.from_bytes(data[4:8], "big")
            frame = data[offset:]
            redundant = []
            if self._previous is not None and self._previous[0] == (seq - 1) & 0xFFFF:
                redundant = [(OPUS_PT, (ts - self._previous[1]) & 0xFFFFFFFF, self._previous[2])]
            self._previous = (seq, ts, frame)
            self.primaries[seq] = (ts, frame)
            self.index[seq] = len(self.index)
            if len(self.primaries) % drop_every == 0:
                self.dropped.append(seq)
                return
            self.sent += 1
            body = red.pack(OPUS_PT, frame, redundant)
            await original(data[:1] + bytes([(data[1] & 0x80) | RED_PT]) + data[2:offset] + body)

        transport._send_rtp = _send_rtp


class Recording(Joined):
    """A subscriber recording the RTP that reaches its subscribe connection (after SRTP, before
    aiortc); with ``accept_red`` its answer keeps the red offered (as Chromium's does)."""

    def __init__(self, router, client, accept_red: bool) -> None:
        super().__init__(router, client)
        self.accept_red = accept_red
        self.packets: list[bytes] = []
        self.offered_red: dict = {}
        self.answers: list[str] = []

    async def on_subscribe_offer(self, sdp: str, revision: int, consumers: list[dict]) -> None:
        self.offers.append((revision, consumers))
        self.offered_red = red.red_by_mid(sdp)
        answer = await self.client.handle_subscribe_offer(sdp, revision, consumers)
        if self.accept_red:
            answer, _ = red.answer_with_red(answer, self.offered_red)
        self.answers.append(answer)
        transport = self.client.subscribe_pc.getTransceivers()[0].receiver.transport
        if not getattr(transport, "_test_recording", False):
            original = transport._handle_rtp_data

            async def _handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
                self.packets.append(data)
                await original(data, arrival_time_ms)

            transport._handle_rtp_data = _handle_rtp_data
            transport._test_recording = True
        await self.peer.subscribe_answer(answer, revision)
        self.answered.set()

    def downtrack(self, publisher: str):
        return next(s.downtrack for s in self.peer.subscriber.slots
                    if s.consumer is not None and s.consumer.producer.peer_id == publisher)

    def audio_from(self, publisher: str) -> list[tuple[int, int, int, bytes]]:
        """(publisher's sequence number, publisher's timestamp, payload type, payload) of what
        arrived of ``publisher``'s audio, mapped back through the DownTrack's offsets."""
        track = self.downtrack(publisher)
        found = []
        for data in list(self.packets):
            if int.from_bytes(data[8:12], "big") != track.ssrc:
                continue
            seq = (int.from_bytes(data[2:4], "big") - track._seq_off) & 0xFFFF
            ts = (int.from_bytes(data[4:8], "big") - track._ts_off) & 0xFFFFFFFF
            found.append((seq, ts, data[1] & 0x7F, data[rtp.header_length(data):]))
        return found


async def test_red_reaches_subscribers_that_accept_it_and_plain_opus_the_others(sfu, client_peers):
    events: list[tuple[str, dict]] = []
    router = sfu.router("room-red")
    router.set_on_event(lambda kind, data: events.append((kind, data)))

    # subscribers first, so that they see the first packets
    bob = await Recording(router, client_peers("bob", audio=False, video=False), accept_red=False).join(publish=False)
    carol = await Recording(router, client_peers("carol", audio=False, video=False), accept_red=True).join(publish=False)

    alice_client = client_peers("alice", video=False, audio_level=-10)
    alice = await router.add_peer("alice", on_subscribe_offer=lambda *args: asyncio.sleep(0))
    offer, sources = await alice_client.create_publish_offer()
    sender = RedSender(alice_client.publish_pc.getTransceivers()[0].sender.transport, DROP_EVERY)
    answer = await alice.publish(chromium_like(offer), sources)

    # the answer lists red first (a browser sends the first codec) and asks for in-band FEC
    assert red.red_by_mid(answer) == {"0": (RED_PT, OPUS_PT)}
    m_line = next(line for line in answer.split("\r\n") if line.startswith("m=audio"))
    assert m_line.split()[3:] == [str(RED_PT), str(OPUS_PT)]
    assert f"a=fmtp:{OPUS_PT} useinbandfec=1" in answer
    producer = next(p for p in router.producers if p.peer_id == "alice")
    assert producer.red_pt == RED_PT and producer.codec.payloadType == OPUS_PT
    await alice_client.apply_publish_answer(answer)

    # bob (aiortc) was offered red and declined it; carol kept it
    await bob.client.wait_until(
        lambda: bob.offers and carol.offers and len(carol.answers) == len(carol.offers), TIMEOUT)
    assert bob.offered_red and carol.offered_red
    mid, (sub_red_pt, sub_opus_pt) = next(iter(carol.offered_red.items()))
    assert sub_opus_pt == 96  # aiortc's Opus on the subscribe connection
    assert red.red_by_mid(bob.answers[-1], require_fmtp=False) == {}
    await bob.client.wait_until(lambda: bob.downtrack("alice").producer is producer
                                and carol.downtrack("alice").producer is producer, TIMEOUT)
    assert bob.downtrack("alice").red_block_pt is None
    assert carol.downtrack("alice").red_block_pt == 96

    def enough() -> bool:
        return len(sender.dropped) >= 6 and all(len(m.audio_from("alice")) >= 60 for m in (bob, carol))

    await bob.client.wait_until(enough, TIMEOUT)

    # bob: plain Opus, each packet the publisher's primary block at its own number and time
    got = bob.audio_from("alice")
    assert {pt for _, _, pt, _ in got} == {96}
    for seq, ts, _, body in got:
        assert sender.primaries[seq] == (ts, body), seq
    # ... and every frame lost on the way in came back from the next packet's redundancy
    received = {seq for seq, _, _, _ in got}
    first = min(sender.index[s] for s in received)
    last = max(sender.index[s] for s in received)
    lost = [s for s in sender.dropped if first < sender.index[s] < last]
    assert lost and set(lost) <= received
    assert producer.red_recovered >= len(lost)
    assert bob.client.received("alice", "audio") > 0  # and aiortc decodes it

    # carol: RED, the blocks' payload type her Opus, primary and redundant blocks as sent
    got = carol.audio_from("alice")
    assert {pt for _, _, pt, _ in got} == {sub_red_pt}
    redundant_seen = 0
    for seq, ts, _, body in got:
        blocks = red.blocks(body, 0, len(body))
        assert blocks is not None and {pt for pt, _, _, _ in blocks} == {96}
        assert sender.primaries[seq] == (ts, body[blocks[-1][2]:])
        for pt, ts_offset, start, end in blocks[:-1]:
            assert sender.primaries[(seq - 1) & 0xFFFF] == ((ts - ts_offset) & 0xFFFFFFFF, body[start:end])
            redundant_seen += 1
    assert redundant_seen > 0
    assert not set(sender.dropped) & {seq for seq, _, _, _ in got}  # carol recovers them herself
    assert producer.red_malformed == 0

    # the audio level (in the RTP header) still finds the speaker
    await bob.client.wait_until(
        lambda: any(kind == "active_speaker" and data["peer_id"] == "alice" for kind, data in events), TIMEOUT)
    assert sfu.stats()["decoded_frames"] == 0 and sfu.stats()["encoded_frames"] == 0


async def test_without_opus_red_in_the_config_red_is_not_answered(client_peers):
    from media import SFU, MediaConfig
    sfu = SFU(MediaConfig(ice_addresses=["127.0.0.1"], ice_servers=[],
                          allowed_remote_networks=["127.0.0.0/8"], opus_red=False))
    try:
        router = sfu.router("room-no-red")
        client = client_peers("alice", video=False)
        peer = await router.add_peer("alice", on_subscribe_offer=lambda *args: asyncio.sleep(0))
        offer, sources = await client.create_publish_offer()
        answer = await peer.publish(chromium_like(offer), sources)
        assert red.red_by_mid(answer, require_fmtp=False) == {}
        assert f"a=fmtp:{OPUS_PT} useinbandfec=1;usedtx=1" in answer  # in-band FEC and DTX all the same
        assert router.producers[0].red_pt == -1
    finally:
        await asyncio.wait_for(sfu.close(), TIMEOUT)


async def test_without_opus_dtx_in_the_config_dtx_is_not_asked_for(client_peers):
    from media import SFU, MediaConfig
    sfu = SFU(MediaConfig(ice_addresses=["127.0.0.1"], ice_servers=[],
                          allowed_remote_networks=["127.0.0.0/8"], opus_dtx=False))
    try:
        router = sfu.router("room-no-dtx")
        client = client_peers("alice", video=False)
        peer = await router.add_peer("alice", on_subscribe_offer=lambda *args: asyncio.sleep(0))
        offer, sources = await client.create_publish_offer()
        answer = await peer.publish(chromium_like(offer), sources)
        assert f"a=fmtp:{OPUS_PT} useinbandfec=1\r\n" in answer and "usedtx" not in answer
    finally:
        await asyncio.wait_for(sfu.close(), TIMEOUT)
