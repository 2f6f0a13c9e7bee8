"""Scheduled meetings (issue "records", Scheduling): agenda, the organiser's time zone, delegations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Hand-written, and deliberately independent of ``rooms.models`` (see 0001). All the schema of the
issue's scheduling is here:

- ``rooms.agenda``: the meeting's agenda (plain text);
- ``rooms.time_zone``: the IANA name of the zone the organiser scheduled it in (``Asia/Seoul``);
- ``rooms.opened_at``: when a host opened the meeting (joined), which lets the delegations' invites
  in before their ``not_before``;
- ``rooms.record_retention_days``: how many days the meeting's record and recordings are kept
  (``rooms.retention``; null: for ever);
- ``invites.not_before``: an invite is refused before this time (``not_yet_open``) unless the room
  was opened;
- ``delegations``: one per invited delegation of a scheduled meeting (name, city, IANA time zone,
  role, seats), in the order the organiser gave them (``position``),
  each with its own invite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rooms", sa.Column("agenda", sa.Text(), nullable=True))
    op.add_column("rooms", sa.Column("time_zone", sa.String(64), nullable=True))
    op.add_column("rooms", sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("rooms", sa.Column("record_retention_days", sa.Integer(), nullable=True))
    op.add_column("invites", sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "delegations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("city", sa.String(80), nullable=False, server_default=""),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delegations"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_delegations_room_id_rooms",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invite_id"], ["invites.id"], name="fk_delegations_invite_id_invites",
                                ondelete="SET NULL"),
        sa.CheckConstraint("role IN ('host', 'staff', 'participant', 'viewer')", name="ck_delegations_role"),
        sa.CheckConstraint("seats >= 1", name="ck_delegations_seats"),
    )
    op.create_index("ix_delegations_room_id", "delegations", ["room_id"])
    op.create_index("ix_delegations_invite_id", "delegations", ["invite_id"])


def downgrade() -> None:
    op.drop_index("ix_delegations_invite_id", table_name="delegations")
    op.drop_index("ix_delegations_room_id", table_name="delegations")
    op.drop_table("delegations")
    op.drop_column("invites", "not_before")
    op.drop_column("rooms", "record_retention_days")
    op.drop_column("rooms", "opened_at")
    op.drop_column("rooms", "time_zone")
    op.drop_column("rooms", "agenda")
