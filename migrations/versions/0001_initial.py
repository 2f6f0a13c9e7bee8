"""Rooms, invites and participants.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Hand-written, and deliberately independent of ``rooms.models`` (a migration must keep meaning what
it meant when it was written). Timestamps are ``timestamp with time zone`` on PostgreSQL; on SQLite
``rooms.models.UTCDateTime`` stores naive UTC.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLE_CHECK = "role IN ('host', 'staff', 'participant', 'viewer')"


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("lobby_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rooms"),
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invites"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_invites_room_id_rooms",
                                ondelete="CASCADE"),
        sa.CheckConstraint(ROLE_CHECK, name="ck_invites_role"),
    )
    op.create_index("ix_invites_room_id", "invites", ["room_id"])
    op.create_table(
        "participants",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("invite_id", sa.String(32), nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("organisation", sa.String(80), server_default="", nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_participants"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_participants_room_id_rooms",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invite_id"], ["invites.id"],
                                name="fk_participants_invite_id_invites", ondelete="SET NULL"),
        sa.CheckConstraint(ROLE_CHECK, name="ck_participants_role"),
    )
    op.create_index("ix_participants_room_id_left_at", "participants", ["room_id", "left_at"])
    op.create_index("ix_participants_invite_id", "participants", ["invite_id"])


def downgrade() -> None:
    op.drop_index("ix_participants_invite_id", table_name="participants")
    op.drop_index("ix_participants_room_id_left_at", table_name="participants")
    op.drop_table("participants")
    op.drop_index("ix_invites_room_id", table_name="invites")
    op.drop_table("invites")
    op.drop_table("rooms")
