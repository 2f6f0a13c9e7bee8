"""What a live meeting decided, kept across restarts (issue 15): the ``room_states`` table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Hand-written, and deliberately independent of ``rooms.models`` (see 0001).

- ``room_states``: one row per room with its stage (what is shown, its version, the follow lock)
  and its meeting's raised hands and held mutes, as JSON; rewritten whenever they change, read when
  the room opens again after a restart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_states",
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.JSON(), nullable=True),
        sa.Column("meeting", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room_id", name="pk_room_states"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_room_states_room_id_rooms",
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("room_states")
