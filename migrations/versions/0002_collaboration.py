"""Collaboration: chat, the meeting timeline, panels, documents; moderation columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Hand-written, and deliberately independent of ``rooms.models`` (see 0001).

- ``rooms.allow_self_unmute`` (default true) and ``rooms.ended_at``;
- ``participants.removed`` (default false);
- ``chat_messages`` and ``timeline_events``: integer sequence ids, so that insertion order is the
  order of the conversation; ``timeline_events`` names participants by id without a foreign key
  (the record outlives the rows it names);
- ``panels`` and ``documents``: the stored definitions behind issue 5's live panels and documents.

Columns are added with ``ALTER TABLE ... ADD COLUMN`` on both backends (SQLite accepts a NOT NULL
column with a constant default) and dropped with ``ALTER TABLE ... DROP COLUMN`` (SQLite >= 3.35).
No batch mode: recreating ``rooms`` on SQLite with foreign keys on would cascade-delete every
invite and participant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

AUTHOR_ROLE_CHECK = "author_role IN ('host', 'staff', 'participant', 'viewer')"
DOCUMENT_KIND_CHECK = "kind IN ('pdf', 'image', 'png', 'jpeg')"
DOCUMENT_STATUS_CHECK = "status IN ('processing', 'ready', 'failed')"


def upgrade() -> None:
    op.add_column("rooms", sa.Column("allow_self_unmute", sa.Boolean(), server_default=sa.true(),
                                     nullable=False))
    op.add_column("rooms", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("participants", sa.Column("removed", sa.Boolean(), server_default=sa.false(),
                                            nullable=False))

    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(32), nullable=True),
        sa.Column("author_name", sa.String(64), nullable=False),
        sa.Column("author_role", sa.String(16), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_chat_messages_room_id_rooms",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"],
                                name="fk_chat_messages_participant_id_participants", ondelete="SET NULL"),
        sa.CheckConstraint(AUTHOR_ROLE_CHECK, name="ck_chat_messages_author_role"),
    )
    op.create_index("ix_chat_messages_room_id_id", "chat_messages", ["room_id", "id"])
    op.create_index("ix_chat_messages_participant_id", "chat_messages", ["participant_id"])

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(32), nullable=True),
        sa.Column("actor_name", sa.String(64), nullable=True),
        sa.Column("target_id", sa.String(32), nullable=True),
        sa.Column("target_name", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_timeline_events"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_timeline_events_room_id_rooms",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_timeline_events_room_id_id", "timeline_events", ["room_id", "id"])

    op.create_table(
        "panels",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_panels"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_panels_room_id_rooms",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_panels_room_id", "panels", ["room_id"])

    op.create_table(
        "documents",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mime", sa.String(64), nullable=True),
        sa.Column("page_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("page_sizes", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), server_default="processing", nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_dir", sa.String(1024), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_documents_room_id_rooms",
                                ondelete="CASCADE"),
        sa.CheckConstraint(DOCUMENT_KIND_CHECK, name="ck_documents_kind"),
        sa.CheckConstraint(DOCUMENT_STATUS_CHECK, name="ck_documents_status"),
    )
    op.create_index("ix_documents_room_id", "documents", ["room_id"])


def downgrade() -> None:
    op.drop_index("ix_documents_room_id", table_name="documents")
    op.drop_table("documents")
    op.drop_index("ix_panels_room_id", table_name="panels")
    op.drop_table("panels")
    op.drop_index("ix_timeline_events_room_id_id", table_name="timeline_events")
    op.drop_table("timeline_events")
    op.drop_index("ix_chat_messages_participant_id", table_name="chat_messages")
    op.drop_index("ix_chat_messages_room_id_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_column("participants", "removed")
    op.drop_column("rooms", "ended_at")
    op.drop_column("rooms", "allow_self_unmute")
