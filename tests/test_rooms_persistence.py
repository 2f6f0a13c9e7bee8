"""RoomService and the migrations on a real database: SQLite (a file) and PostgreSQL.

Each PostgreSQL test gets a freshly created database (``sitroom_test_<random>``), dropped after, so
runs never collide. PostgreSQL is looked for at 127.0.0.1:5432 as user ``postgres`` or ``root``
(trust authentication), or at ``$SITROOM_TEST_POSTGRES_URL``. If it is unreachable the PostgreSQL
tests are skipped, except with ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from rooms import tokens
from rooms.db import head_revision
from rooms.errors import RoomNotFound, TokenError, ValidationError
from rooms.authorize import Role
from rooms.models import Base, Invite, Participant, Room
from tests.rooms_fixtures import SECRET, clock, db, service  # noqa: F401 - pytest fixtures


# ---- schema -------------------------------------------------------------------------------------

async def test_upgrade_creates_the_tables_and_is_idempotent(db):
    assert await db.current_revision() is None
    await db.upgrade()
    await db.upgrade()
    assert await db.current_revision() == head_revision() == "0006"
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"alembic_version", "rooms", "invites", "participants", "chat_messages", "timeline_events",
            "panels", "documents", "delegations"} <= tables


async def test_models_match_the_migrations(db):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    await db.upgrade()
    async with db.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                          Base.metadata)
        )
    assert diff == []


async def test_foreign_keys_are_enforced(db):
    await db.upgrade()
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            session.add(Participant(room_id="nosuchroom", name="Ghost", role="participant",
                                    joined_at=datetime.now(UTC)))


# ---- rooms and tokens ---------------------------------------------------------------------------

async def test_create_room_gives_host_and_participant_tokens_that_verify(service):
    room, links = await service.create_room("  Budget committee  ")
    assert re.fullmatch(r"[a-z0-9]{8}", room.id) and room.title == "Budget committee"
    assert room.locked is False and room.lobby_enabled is False
    assert set(links) == {"host", "participant"}
    host = await service.verify_token(links["host"])
    participant = await service.verify_token(links["participant"])
    assert (host.room_id, host.role, host.label) == (room.id, Role.HOST, "Host link")
    assert (participant.room_id, participant.role) == (room.id, Role.PARTICIPANT)
    assert host.invite_id != participant.invite_id
    assert tokens.verify(links["host"], SECRET)["exp"] is None
    fetched = await service.get_room(room.id)
    assert (fetched.id, fetched.title, fetched.created_at) == (room.id, room.title, room.created_at)
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)
                                    .where(Invite.room_id == room.id)) == 2


async def test_chosen_room_id_and_collisions(service):
    room, _ = await service.create_room("Paris", room_id="paris-2026")
    assert room.id == "paris-2026"
    with pytest.raises(ValidationError) as info:
        await service.create_room("Again", room_id="paris-2026")
    assert info.value.code == "bad_request"
    for bad in ("", "Has Caps", "-leading", "x" * 65, "a/b"):
        with pytest.raises(ValidationError):
            await service.create_room("t", room_id=bad)


async def test_get_room_missing(service):
    for room_id in ("nosuchroom", "", "../etc", "\x00"):
        with pytest.raises(RoomNotFound) as info:
            await service.get_room(room_id)
        assert info.value.code == "room_not_found"


async def test_ensure_room_is_idempotent(service):
    room1, links1 = await service.ensure_room("demo", "City Situation Room (demo)")
    room2, links2 = await service.ensure_room("demo", "City Situation Room (demo)")
    assert room1.id == room2.id == "demo"
    first = {role: await service.verify_token(links1[role]) for role in ("host", "participant")}
    for role in ("host", "participant"):
        second = await service.verify_token(links2[role])
        assert second.invite_id == first[role].invite_id and second.role == role
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Room)) == 1
        assert await session.scalar(select(func.count()).select_from(Invite)) == 2
    # A revoked default link is replaced on the next start; the other one is kept.
    await service.revoke_invite(first["host"].invite_id)
    _, links3 = await service.ensure_room("demo", "City Situation Room (demo)")
    assert (await service.verify_token(links3["host"])).invite_id != first["host"].invite_id
    assert (await service.verify_token(links3["participant"])).invite_id == first["participant"].invite_id
    with pytest.raises(TokenError):
        await service.verify_token(links1["host"])


async def test_create_invite_with_label(service):
    room, _ = await service.create_room("Summit")
    invite, token = await service.create_invite(room.id, "viewer", label="Paris delegation")
    claims = await service.verify_token(token)
    assert (claims.role, claims.label, claims.invite_id) == (Role.VIEWER, "Paris delegation", invite.id)
    with pytest.raises(ValidationError):
        await service.create_invite(room.id, "emperor")
    with pytest.raises(ValidationError):
        await service.create_invite(room.id, "viewer", label="x" * 81)
    with pytest.raises(RoomNotFound):
        await service.create_invite("nosuchroom", "viewer")


async def test_revoked_invite_is_refused(service):
    room, _ = await service.create_room("Summit")
    invite, token = await service.create_invite(room.id, Role.STAFF, label="Press office")
    assert (await service.verify_token(token)).role == Role.STAFF
    revoked = await service.revoke_invite(invite.id)
    assert revoked.revoked_at is not None
    with pytest.raises(TokenError) as info:
        await service.verify_token(token)
    assert info.value.code == "invalid_token" and "revoked" in info.value.message
    # A freshly signed token for the same invite is just as dead.
    with pytest.raises(TokenError):
        await service.verify_token(service.invite_token(revoked))
    with pytest.raises(ValidationError):
        await service.revoke_invite("i_nosuchinvite")


async def test_token_for_another_room_or_a_deleted_invite_is_refused(service):
    room_a, links_a = await service.create_room("A")
    room_b, _ = await service.create_room("B")
    invite_a = (await service.verify_token(links_a["participant"])).invite_id
    # Genuinely signed, but room B's token naming room A's invite.
    cross = tokens.sign({"room": room_b.id, "role": "participant", "inv": invite_a, "exp": None}, SECRET)
    with pytest.raises(TokenError):
        await service.verify_token(cross)
    # Genuinely signed, right room and invite, but a role the invite does not grant.
    upgraded = tokens.sign({"room": room_a.id, "role": "host", "inv": invite_a, "exp": None}, SECRET)
    with pytest.raises(TokenError):
        await service.verify_token(upgraded)
    # Signed with another secret.
    with pytest.raises(TokenError):
        await service.verify_token(
            tokens.sign({"room": room_a.id, "role": "participant", "inv": invite_a, "exp": None}, b"other"))
    # The invite row deleted.
    async with service.db.session() as session:
        await session.execute(delete(Invite).where(Invite.id == invite_a))
    with pytest.raises(TokenError):
        await service.verify_token(links_a["participant"])
    # The room deleted (its invites go with it): room_not_found.
    async with service.db.session() as session:
        await session.execute(delete(Room).where(Room.id == room_a.id))
    with pytest.raises(RoomNotFound):
        await service.verify_token(links_a["host"])
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)
                                    .where(Invite.room_id == room_a.id)) == 0


async def test_expired_invite_is_refused(service, clock):
    room, _ = await service.create_room("Short")
    invite, token = await service.create_invite(room.id, "participant", expires_in=timedelta(hours=1))
    assert invite.expires_at is not None and invite.expires_at > clock.now
    assert tokens.verify(token, SECRET, now=clock.now)["exp"] == int(invite.expires_at.timestamp())
    await service.verify_token(token)
    # The database's expiry holds even for a token that claims none.
    no_exp = tokens.sign({"room": room.id, "role": "participant", "inv": invite.id, "exp": None}, SECRET)
    await service.verify_token(no_exp)
    clock.advance(timedelta(hours=1, seconds=1))
    for expired in (token, no_exp):
        with pytest.raises(TokenError) as info:
            await service.verify_token(expired)
        assert info.value.code == "invalid_token" and "expired" in info.value.message
    with pytest.raises(ValidationError):
        await service.create_invite(room.id, "participant", expires_in=timedelta(0))


async def test_used_up_invite_is_refused(service):
    room, _ = await service.create_room("Once")
    invite, token = await service.create_invite(room.id, "participant", max_uses=1)
    claims = await service.verify_token(token)
    assert not claims.used_up
    ana = await service.record_join(room.id, claims.invite_id, "Ana", "Lisbon", claims.role)
    assert (await service.verify_token(token)).used_up  # (Ana may still come back on her resume key)
    with pytest.raises(TokenError):
        await service.record_join(room.id, claims.invite_id, "Copy", "Elsewhere", claims.role)
    # max_uses counts uses, not people present: once she has left, a forwarded link is still spent
    await service.record_leave(ana.id)
    with pytest.raises(TokenError):
        await service.record_join(room.id, claims.invite_id, "Copy", "Elsewhere", claims.role)


async def test_ten_devices_at_once_on_a_single_use_invite_get_in_once(service):
    """The use is taken by one conditional UPDATE: atomic on SQLite and PostgreSQL alike."""
    room, _ = await service.create_room("Race")
    invite, token = await service.create_invite(room.id, "participant", max_uses=1)
    claims = await service.verify_token(token)
    results = await asyncio.gather(*(service.record_join(room.id, claims.invite_id, f"Device {i}", None, claims.role)
                                     for i in range(10)), return_exceptions=True)
    joined = [r for r in results if not isinstance(r, BaseException)]
    assert len(joined) == 1, results
    assert all(isinstance(r, TokenError) for r in results if isinstance(r, BaseException)), results
    async with service.db.session() as session:
        rows = (await session.execute(text("SELECT COUNT(*) FROM participants WHERE invite_id = :i"),
                                      {"i": claims.invite_id})).scalar_one()
        uses = (await session.execute(text("SELECT uses FROM invites WHERE id = :i"), {"i": claims.invite_id})).scalar_one()
    assert rows == 1 and uses == 1


# ---- participants -------------------------------------------------------------------------------

async def test_record_join_and_leave_are_in_the_database(service, clock):
    room, links = await service.create_room("Council")
    claims = await service.verify_token(links["participant"])
    ana = await service.record_join(room.id, claims.invite_id, " Ana Silva ", "Lisbon", claims.role)
    clock.advance(timedelta(seconds=5))
    bob = await service.record_join(room.id, None, "Bob", None, "viewer")
    assert re.fullmatch(r"p_[0-9a-f]{16}", ana.id) and ana.id != bob.id
    assert ana.name == "Ana Silva" and bob.organisation == ""

    async with service.db.session() as session:
        rows = (await session.execute(text(
            "SELECT id, room_id, invite_id, name, organisation, role, left_at FROM participants ORDER BY name"
        ))).all()
    assert [tuple(r) for r in rows] == [
        (ana.id, room.id, claims.invite_id, "Ana Silva", "Lisbon", "participant", None),
        (bob.id, room.id, None, "Bob", "", "viewer", None),
    ]
    assert [p.id for p in await service.list_participants(room.id)] == [ana.id, bob.id]

    clock.advance(timedelta(minutes=3))
    left = await service.record_leave(ana.id)
    assert left.left_at == clock.now
    again = await service.record_leave(ana.id)  # idempotent: the first time is kept
    assert again.left_at == left.left_at
    assert await service.record_leave("p_nosuch") is None

    assert [p.id for p in await service.list_participants(room.id)] == [bob.id]
    everyone = await service.list_participants(room.id, present_only=False)
    assert [p.id for p in everyone] == [ana.id, bob.id]
    async with service.db.session() as session:
        stored = await session.get(Participant, ana.id)
        assert stored.left_at == left.left_at and stored.joined_at < stored.left_at


async def test_record_join_validates(service):
    room, _ = await service.create_room("Council")
    for name, organisation in (("", "x"), ("   ", "x"), ("n" * 65, "x"), ("ok", "o" * 81), ("a\x00b", "")):
        with pytest.raises(ValidationError) as info:
            await service.record_join(room.id, None, name, organisation, "participant")
        assert info.value.code == "bad_request"
    with pytest.raises(ValidationError):
        await service.record_join(room.id, None, "ok", "", "emperor")
    with pytest.raises(RoomNotFound):
        await service.record_join("nosuchroom", None, "ok", "", "participant")
    await service.record_join(room.id, None, "n" * 64, "o" * 80, "participant")


async def test_title_validation(service):
    for bad in ("", "   ", "t" * 121, None, 5):
        with pytest.raises(ValidationError):
            await service.create_room(bad)
    room, _ = await service.create_room("t" * 120)
    assert len(room.title) == 120


async def test_deleting_an_invite_keeps_its_participants(service):
    room, _ = await service.create_room("Council")
    invite, _ = await service.create_invite(room.id, "participant")
    p = await service.record_join(room.id, invite.id, "Ana", "", "participant")
    async with service.db.session() as session:
        await session.execute(delete(Invite).where(Invite.id == invite.id))
    async with service.db.session() as session:
        assert (await session.get(Participant, p.id)).invite_id is None


# ---- time ---------------------------------------------------------------------------------------

async def test_datetimes_round_trip_timezone_aware(service, clock):
    room, links = await service.create_room("Clock")
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2026, 11, 23, 11, 30, 15, 987654, tzinfo=plus_two)
    async with service.db.session() as session:
        session.add(Participant(id="p_tz", room_id=room.id, name="Tz", role="host", joined_at=moment,
                                left_at=moment + timedelta(hours=1)))
    async with service.db.session() as session:
        stored = await session.get(Participant, "p_tz")
        stored_room = await session.get(Room, room.id)
    assert stored.joined_at == moment and stored.joined_at.utcoffset() == timedelta(0)
    assert stored.joined_at.tzinfo is not None and stored.joined_at.hour == 9
    assert stored.joined_at.microsecond == 987654
    assert stored.left_at - stored.joined_at == timedelta(hours=1)
    assert stored_room.created_at == clock.now and stored_room.created_at.utcoffset() == timedelta(0)
    # Ordering in SQL follows the instant, also on SQLite's text storage.
    async with service.db.session() as session:
        later = await session.scalar(select(func.count()).select_from(Participant)
                                     .where(Participant.joined_at > datetime(2026, 11, 23, 9, 30, tzinfo=UTC)))
    assert later == 1


async def test_naive_datetimes_are_refused(service):
    room, _ = await service.create_room("Naive")
    with pytest.raises(StatementError):
        async with service.db.session() as session:
            session.add(Participant(room_id=room.id, name="N", role="host", joined_at=datetime(2026, 1, 1)))
