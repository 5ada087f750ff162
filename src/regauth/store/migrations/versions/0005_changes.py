"""The record of administrative changes; audit events say when nothing was granted.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_name", sa.String(255), nullable=False),
        sa.Column("actor_address", sa.String(64), server_default=sa.text("''"), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
    )
    op.create_index("ix_changes_at", "changes", ["at"])
    op.create_index("ix_changes_subject", "changes", ["subject", "at"])
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(
            sa.Column("nothing_granted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute("UPDATE audit_events SET nothing_granted = (outcome = 'denied')")


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("nothing_granted")
    op.drop_index("ix_changes_subject", table_name="changes")
    op.drop_index("ix_changes_at", table_name="changes")
    op.drop_table("changes")
