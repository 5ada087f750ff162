"""Account rules in the database, user attributes, and the audit log.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("attributes_json", sa.Text(), server_default=sa.text("'{}'"), nullable=False)
        )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), server_default="repository", nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("actions", sa.String(255), server_default="", nullable=False),
        sa.Column("services", sa.String(1024), server_default="", nullable=False),
        sa.Column("client_cidrs", sa.String(1024), server_default="", nullable=False),
        sa.Column("comment", sa.String(255), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_rules_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_rules_group_id_groups", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rules"),
        sa.CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="ck_rules_one_owner"),
    )
    op.create_index("ix_rules_user_id", "rules", ["user_id", "position"])
    op.create_index("ix_rules_group_id", "rules", ["group_id", "position"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("service", sa.String(255), server_default="", nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(64), server_default="", nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_subject", "audit_events", ["subject", "at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_index("ix_rules_group_id", table_name="rules")
    op.drop_index("ix_rules_user_id", table_name="rules")
    op.drop_table("rules")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("attributes_json")
