"""How many times each invite has been used (issue 15: ``max_uses`` counts uses, atomically).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Hand-written, and deliberately independent of ``rooms.models`` (see 0001).

- ``invites.uses``: the joins made with the invite so far (a participant coming back on its resume
  key is not a new use). An invite with ``max_uses`` admits a new join only through the conditional
  ``UPDATE invites SET uses = uses + 1 WHERE id = ? AND uses < max_uses``, which SQLite and
  PostgreSQL both carry out atomically. Existing invites start with the joins already made on them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invites", sa.Column("uses", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE invites SET uses = (SELECT COUNT(*) FROM participants WHERE participants.invite_id = invites.id)")


def downgrade() -> None:
    op.drop_column("invites", "uses")
