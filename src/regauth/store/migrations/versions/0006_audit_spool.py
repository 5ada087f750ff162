"""How far each local audit spool segment has been drained into audit_events.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_spool",
        sa.Column("segment", sa.String(255), nullable=False),
        sa.Column("drained", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("segment", name="pk_audit_spool"),
    )


def downgrade() -> None:
    op.drop_table("audit_spool")
