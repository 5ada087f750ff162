"""Login-failure counters for throttling, shared by every worker.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_auth_failures"),
    )
    op.create_index("ix_auth_failures_window_start", "auth_failures", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_auth_failures_window_start", table_name="auth_failures")
    op.drop_table("auth_failures")
