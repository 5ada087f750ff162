"""The record of administrative changes (migration 0005).

One ``changes`` row per change made through ``regauth.admin``, written in the
same transaction as the change itself. ``before``/``after`` are JSON objects
(or NULL for "did not exist"); they never hold secrets or their hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from regauth.store.models import Base


class ChangeRow(Base):
    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_at", "at"),
        Index("ix_changes_subject", "subject", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(255))
    actor_address: Mapped[str] = mapped_column(String(64), default="", server_default=text("''"))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
