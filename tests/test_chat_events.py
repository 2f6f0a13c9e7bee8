"""Integration: chat, raised hands and reactions over real Socket.IO against the server process, with
the chat rows checked in the server's SQLite database."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from rooms.authorize import Role
from server.handlers.chat import REACTIONS
from tests.room_harness import Room, module_server, refused, room_fixture


server = module_server("chat")
room = room_fixture(Role.HOST)  # Hana Host and Tariq Target


def chat_rows(room: Room) -> list[tuple]:
    with closing(sqlite3.connect(room.server.db_path, timeout=10)) as db:
        return db.execute(
            "SELECT id, participant_id, author_name, author_role, text FROM chat_messages "
            "WHERE room_id = ? ORDER BY id", (room.id,)).fetchall()


async def test_chat_round_trip_history_and_database(room):
    ana, ack = await room.join("participant", "Ana")
    assert ack["chat"] == []
    sent = []
    for client, text in ((room.host, "Good morning, cities"), (ana, "Lisbon is here"),
                         (room.target, "  Flood barriers are up  ")):
        ack = await client.request("chat_send", {"text": text})
        assert ack["ok"], ack
        message = ack["message"]
        assert set(message) == {"id", "participant_id", "name", "role", "text", "sent_at"}
        assert message["id"].startswith("m_") and message["sent_at"].endswith("Z")
        assert message["participant_id"] == client.self_id and message["name"] == client.name
        assert message["text"] == text.strip()
        sent.append(message)
        # Everyone, the sender included, receives it.
        for other in (room.host, ana, room.target):
            assert await other.next_event("chat_message") == message
    assert [m["role"] for m in sent] == ["host", "participant", "participant"]

    # A late joiner gets the history, oldest first.
    _, late = await room.join("participant", "Late Lee")
    assert late["chat"] == sent

    rows = chat_rows(room)
    assert [(f"m_{r[0]}", r[1], r[2], r[3], r[4]) for r in rows] == [
        (m["id"], m["participant_id"], m["name"], m["role"], m["text"]) for m in sent]


async def test_html_is_stored_and_sent_verbatim(room):
    text = '<b>bold</b> <script>alert("x")</script> &amp; <img src=x onerror=alert(1)> café 🌊'
    ack = await room.target.request("chat_send", {"text": text})
    assert ack["ok"] and ack["message"]["text"] == text, ack
    assert (await room.host.next_event("chat_message"))["text"] == text
    assert chat_rows(room)[-1][4] == text
    _, late = await room.join("participant", "Late")
    assert late["chat"][-1]["text"] == text


async def test_bad_chat_text_is_refused_and_not_stored(room):
    for payload in ({}, {"text": ""}, {"text": "   \n\t "}, {"text": "x" * 2001}, {"text": "a\x00b"},
                    {"text": 42}, {"text": ["hi"]}, None, "hi"):
        ack = await room.target.request("chat_send", payload)
        assert refused(ack, "bad_request"), (payload, ack)
    assert chat_rows(room) == []
    ack = await room.target.request("chat_send", {"text": "y" * 2000})
    assert ack["ok"] and len(ack["message"]["text"]) == 2000


async def test_viewer_cannot_chat_but_reads_it(room):
    viewer, ack = await room.join("viewer", "Vic Viewer")
    assert ack["ok"], ack
    ack = await viewer.request("chat_send", {"text": "can anyone hear me"})
    assert refused(ack), ack
    assert (await viewer.next_event("error"))["event"] == "chat_send"
    await room.host.barrier()
    assert room.host.drain("chat_message") == [] and chat_rows(room) == []
    ack = await room.target.request("chat_send", {"text": "for everyone"})
    assert (await viewer.next_event("chat_message"))["id"] == ack["message"]["id"]


async def test_chat_flood_is_rate_limited_and_the_server_keeps_serving(room):
    results = []
    for n in range(12):
        ack = await room.target.request("chat_send", {"text": f"flood {n}"})
        results.append(ack["ok"] or ack["error"]["code"])
    assert results[:5] == [True] * 5  # the burst
    assert "rate_limited" in results and set(results) <= {True, "rate_limited"}, results
    stored = chat_rows(room)
    assert len(stored) == results.count(True)
    # The flooder stays connected and may do other things; everyone else chats as usual.
    assert room.target.sio.connected
    assert (await room.target.request("hand", {"raised": True}))["ok"]
    ack = await room.host.request("chat_send", {"text": "please slow down"})
    assert ack["ok"], ack
    newcomer, joined = await room.join("participant", "Newcomer")
    assert joined["ok"] and joined["chat"][-1]["text"] == "please slow down"
    ack = await newcomer.request("chat_send", {"text": "hello all"})
    assert ack["ok"], ack


async def test_hands_queue_in_order_and_host_lowers_another(room):
    ana, _ = await room.join("participant", "Ana")
    ben, _ = await room.join("participant", "Ben")
    order = [ben, room.target, ana]
    queue = []
    for client in order:
        ack = await client.request("hand", {"raised": True})
        queue.append(client.self_id)
        assert ack == {"ok": True, "queue": queue}
        assert await room.host.until("hands", lambda d, q=list(queue): d["queue"] == q)
        updated = await room.host.until("participant_updated", lambda p, c=client: p["id"] == c.self_id)
        assert updated["hand_raised"] is True
    # Raising again keeps one's place.
    assert (await ben.request("hand", {"raised": True}))["queue"] == queue
    # The host lowers the middle one's hand; a participant may not lower someone else's.
    assert refused(await ana.request("hand", {"raised": False, "participant_id": ben.self_id}))
    ack = await room.host.request("hand", {"raised": False, "participant_id": room.target.self_id})
    assert ack == {"ok": True, "queue": [ben.self_id, ana.self_id]}
    await ana.until("hands", lambda d: d["queue"] == [ben.self_id, ana.self_id])
    await ana.until("participant_updated",
                    lambda p: p["id"] == room.target.self_id and p["hand_raised"] is False)
    # Lowering one's own; leaving with a raised hand takes it out of the queue.
    assert (await ben.request("hand", {"raised": False}))["queue"] == [ana.self_id]
    await ana.request("leave", {})
    await room.host.until("hands", lambda d: d["queue"] == [])
    # A late joiner sees the queue in its ack.
    assert (await room.target.request("hand", {"raised": True}))["ok"]
    _, late = await room.join("participant", "Late")
    assert late["hands"] == [room.target.self_id]
    # Hosts may not lower a hand of someone who is not there.
    assert refused(await room.host.request("hand", {"raised": False, "participant_id": "p_nobody"}),
                   "bad_request")


async def test_reactions_broadcast_allowed_emoji_only(room):
    ana, _ = await room.join("participant", "Ana")
    viewer, _ = await room.join("viewer", "Vic Viewer")
    emoji = sorted(REACTIONS)
    assert len(emoji) == 8 and "👍" in emoji and "❤️" in emoji
    # Chat and reactions share 5 in a burst per connection: spread the eight over three people.
    for sender, batch in ((room.target, emoji[:4]), (ana, emoji[4:7]), (viewer, emoji[7:])):
        for e in batch:
            assert await sender.request("react", {"emoji": e}) == {"ok": True}
            expected = {"participant_id": sender.self_id, "name": sender.name, "emoji": e}
            for other in (room.host, ana, room.target):
                assert await other.next_event("reaction") == expected
    for bad in ("💩", "👍🏻", ":)", "", "👍👍", "❤", None, 5, "x" * 100):
        ack = await room.target.request("react", {"emoji": bad})
        assert refused(ack, "bad_request"), (bad, ack)
    await room.host.barrier()
    assert room.host.drain("reaction") == []
    # Reactions are not stored: nothing in the chat table.
    assert chat_rows(room) == []


async def test_reactions_and_chat_share_one_budget(room):
    for _ in range(5):
        assert (await room.target.request("react", {"emoji": "🎉"}))["ok"]
    assert refused(await room.target.request("chat_send", {"text": "and now words"}), "rate_limited")
    assert refused(await room.target.request("react", {"emoji": "🎉"}), "rate_limited")
    assert chat_rows(room) == []


async def test_many_connections_on_one_link_share_its_chat_limit(room):
    """Twenty connections on one invite link, each within its own per-connection limit (a burst of
    five), must not flush the 200-message history: the link has a limit of its own."""
    clients = [(await room.join("participant", f"Flooder {i}"))[0] for i in range(20)]
    accepted = 0
    for n in range(3):
        for client in clients:
            ack = await client.request("chat_send", {"text": f"flood {n}"})
            accepted += bool(ack["ok"])
            assert ack["ok"] or ack["error"]["code"] == "rate_limited", ack
    # 60 messages, each connection's own limit would take them all; the link's (3/s, burst 15) not
    assert accepted < 40, accepted
    assert len([r for r in chat_rows(room) if r[4].startswith("flood")]) == accepted
    # someone who came through another link is not held back by them
    assert (await room.host.request("chat_send", {"text": "host here"}))["ok"]
    for client in clients:
        assert client.sio.connected
