"""Chat on a real database (SQLite file and PostgreSQL): stored as plain text, read back oldest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text

from rooms.chat import ChatService, validate_text
from rooms.errors import Forbidden, RoomNotFound, ValidationError
from rooms.meeting import LiveParticipant
from rooms.models import ChatMessage, Participant, Room
from tests.rooms_fixtures import clock, db, service  # noqa: F401 - pytest fixtures


@pytest.fixture
async def chat(service, clock):
    return ChatService(service.db, clock=clock)


async def joined(service, room_id: str, name: str, role: str = "participant") -> LiveParticipant:
    row = await service.record_join(room_id, None, name, "Lisbon", role)
    return LiveParticipant(id=row.id, name=row.name, organisation=row.organisation, role=row.role,
                           joined_at=row.joined_at)


async def count_messages(db) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(ChatMessage))


async def test_post_stores_the_row_and_returns_the_protocol_object(service, chat, clock):
    room, _ = await service.create_room("Council")
    ana = await joined(service, room.id, "Ana Silva")
    message = await chat.post(room.id, ana, "  Good morning, everyone  ")
    assert set(message) == {"id", "participant_id", "name", "role", "text", "sent_at"}
    assert message["id"].startswith("m_")
    assert message == {"id": message["id"], "participant_id": ana.id, "name": "Ana Silva",
                       "role": "participant", "text": "Good morning, everyone",
                       "sent_at": clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    async with service.db.session() as session:
        rows = (await session.execute(text(
            "SELECT room_id, participant_id, author_name, author_role, text FROM chat_messages"))).all()
        stored = await session.scalar(select(ChatMessage))
    assert [tuple(r) for r in rows] == [(room.id, ana.id, "Ana Silva", "participant", "Good morning, everyone")]
    assert stored.created_at == clock.now and stored.created_at.utcoffset() == timedelta(0)


async def test_html_is_stored_and_returned_verbatim_as_text(service, chat):
    room, _ = await service.create_room("Council")
    mallory = await joined(service, room.id, "<b>Mallory</b>")
    payloads = ["<img src=x onerror=alert(1)>", "<script>alert('x')</script>", "a &amp; b &lt;",
                "line one\nline two\ttabbed", "emoji 🏛️ and ünïcødé", "javascript:alert(1)"]
    for payload in payloads:
        assert (await chat.post(room.id, mallory, payload))["text"] == payload
    history = await chat.history(room.id)
    assert [m["text"] for m in history] == payloads
    assert all(m["name"] == "<b>Mallory</b>" for m in history)
    async with service.db.session() as session:
        raw = list(await session.scalars(text("SELECT text FROM chat_messages ORDER BY id")))
    assert raw == payloads


@pytest.mark.parametrize("bad", ["", "   \n\t ", "x" * 2001, "a\x00b", None, 42, ["hi"], "\ud800 lone surrogate"])
async def test_bad_text_is_refused_and_nothing_is_stored(service, chat, bad):
    room, _ = await service.create_room("Council")
    ana = await joined(service, room.id, "Ana")
    with pytest.raises(ValidationError) as info:
        await chat.post(room.id, ana, bad)
    assert info.value.code == "bad_request" and info.value.field == "text"
    assert await count_messages(service.db) == 0


async def test_length_limit_is_in_characters_after_trimming(service, chat):
    room, _ = await service.create_room("Council")
    ana = await joined(service, room.id, "Ana")
    longest = "é" * 1999 + "🏛"  # 2000 characters, many more bytes
    assert (await chat.post(room.id, ana, f"  {longest}\n"))["text"] == longest
    assert validate_text(" " * 50 + "x" * 2000 + " " * 50) == "x" * 2000


async def test_viewers_may_not_chat_and_unknown_rooms_are_refused(service, chat):
    room, _ = await service.create_room("Council")
    viewer = await joined(service, room.id, "Vera", "viewer")
    with pytest.raises(Forbidden) as info:
        await chat.post(room.id, viewer, "hello")
    assert info.value.code == "forbidden"
    ana = await joined(service, room.id, "Ana")
    for room_id in ("nosuchroom", None):
        with pytest.raises(RoomNotFound):
            await chat.post(room_id, ana, "hello")
    assert await count_messages(service.db) == 0


async def test_history_is_oldest_first_per_room_and_limited(service, chat, clock):
    room, _ = await service.create_room("Council")
    other, _ = await service.create_room("Other")
    ana = await joined(service, room.id, "Ana")
    host = await joined(service, room.id, "Hal", "host")
    for i in range(12):
        clock.advance(timedelta(seconds=1))
        await chat.post(room.id, ana if i % 2 else host, f"message {i}")
    await chat.post(other.id, await joined(service, other.id, "Olga"), "elsewhere")
    history = await chat.history(room.id)
    assert [m["text"] for m in history] == [f"message {i}" for i in range(12)]
    assert [m["role"] for m in history[:2]] == ["host", "participant"]
    assert [m["text"] for m in await chat.history(room.id, limit=5)] == [f"message {i}" for i in range(7, 12)]
    assert await chat.history(room.id, limit=0) == []
    assert await chat.history("nosuchroom") == []
    assert [m["text"] for m in await chat.history(other.id)] == ["elsewhere"]
    ids = [int(m["id"][2:]) for m in history]
    assert ids == sorted(ids) and len(set(ids)) == 12
    for bad in (-1, "5", True):
        with pytest.raises(ValidationError):
            await chat.history(room.id, limit=bad)


async def test_same_instant_keeps_the_order_of_posting(service, chat):
    room, _ = await service.create_room("Council")
    ana = await joined(service, room.id, "Ana")
    for i in range(5):
        await chat.post(room.id, ana, str(i))  # the clock does not move
    assert [m["text"] for m in await chat.history(room.id)] == ["0", "1", "2", "3", "4"]


async def test_messages_outlive_their_author_and_go_with_the_room(service, chat):
    room, _ = await service.create_room("Council")
    ana = await joined(service, room.id, "Ana")
    ghost = LiveParticipant(id="p_not_in_db", name="Ghost", organisation="", role="staff")
    await chat.post(room.id, ana, "first")
    unlinked = await chat.post(room.id, ghost, "second")
    assert unlinked["participant_id"] is None and unlinked["name"] == "Ghost"
    await service.record_leave(ana.id)
    async with service.db.session() as session:
        await session.execute(delete(Participant).where(Participant.id == ana.id))
    history = await chat.history(room.id)
    assert [(m["participant_id"], m["name"], m["text"]) for m in history] == [
        (None, "Ana", "first"), (None, "Ghost", "second")]
    async with service.db.session() as session:
        await session.execute(delete(Room).where(Room.id == room.id))
    assert await count_messages(service.db) == 0
