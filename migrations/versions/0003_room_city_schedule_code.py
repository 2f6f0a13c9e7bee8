"""The room's city and planned time, and a short code for its participant invite.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Hand-written, and deliberately independent of ``rooms.models`` (see 0001).

- ``rooms.city``: the built-in city a room's simulated panels default to (``seoul``, ``lisbon``...);
- ``rooms.starts_at`` / ``rooms.ends_at``: when the meeting is planned (both optional), for the
  invitation text and the meeting clock's scheduled end;
- ``invites.code``: a short, case-insensitive code (``K7M-4PD-Q2R``) that a person can type on the
  start page instead of pasting a link; unique where set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rooms", sa.Column("city", sa.String(32), nullable=True))
    op.add_column("rooms", sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("rooms", sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("invites", sa.Column("code", sa.String(16), nullable=True))
    op.create_index("ix_invites_code", "invites", ["code"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_invites_code", table_name="invites")
    op.drop_column("invites", "code")
    op.drop_column("rooms", "ends_at")
    op.drop_column("rooms", "starts_at")
    op.drop_column("rooms", "city")
