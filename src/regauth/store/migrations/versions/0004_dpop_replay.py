"""DPoP proof ids seen recently, shared by every worker (RFC 9449 §11.1 replay).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dpop_replay",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_dpop_replay"),
    )
    op.create_index("ix_dpop_replay_expires_at", "dpop_replay", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_dpop_replay_expires_at", table_name="dpop_replay")
    op.drop_table("dpop_replay")
