"""Tables of the authorization engine: account rules and audit events (migration 0002)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from regauth.store.models import Base


class RuleRow(Base):
    __tablename__ = "rules"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="one_owner"),
        Index("ix_rules_user_id", "user_id", "position"),
        Index("ix_rules_group_id", "group_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32), default="repository", server_default="repository")
    name: Mapped[str] = mapped_column(String(255))
    actions: Mapped[str] = mapped_column(String(255), default="", server_default="")
    services: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    client_cidrs: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    comment: Mapped[str] = mapped_column(String(255), default="", server_default="")
    created_at: Mapped[datetime]


class AuditRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_subject", "subject", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str] = mapped_column(String(64), default="", server_default=text("''"))
    # Migration 0005: refused, or scopes asked for and no action granted (`audit list --denied`).
    nothing_granted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    document: Mapped[str] = mapped_column(Text)


class ReplayRow(Base):
    __tablename__ = "dpop_replay"
    __table_args__ = (Index("ix_dpop_replay_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)
