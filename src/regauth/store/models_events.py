"""Tables of events (migration 0009): the outbox, registry notifications, access requests.

- ``events`` + ``deliveries`` are the durable outbox: an event row is written
  in the transaction of the change that caused it; ``routed`` turns true when
  the delivery worker has created one ``deliveries`` row per subscribed
  webhook. A delivery is ``pending`` until delivered or ``dead``; ``due_at``
  is when it may be tried next, moved ahead by the lease of a worker that
  claimed it (``claim`` identifies that lease).
- ``registry_events`` keeps each registry notification once (its event id).
- ``access_requests`` are temporary-access requests and, once approved, grants.
- ``callback_signatures`` remembers accepted callback signatures (replay).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from regauth.store.models import Base


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_routed", "routed", "at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    routed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint", name="uq_deliveries_event_endpoint"),
        Index("ix_deliveries_state", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    due_at: Mapped[datetime]
    claim: Mapped[str] = mapped_column(String(32), default="", server_default=text("''"))
    last_error: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))
    delivered_at: Mapped[datetime | None]


class RegistryEventRow(Base):
    __tablename__ = "registry_events"
    __table_args__ = (Index("ix_registry_events_repository", "repository", "at"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    received_at: Mapped[datetime]
    repository: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(128), default="", server_default=text("''"))
    digest: Mapped[str] = mapped_column(String(128), default="", server_default=text("''"))
    media_type: Mapped[str] = mapped_column(String(128), default="", server_default=text("''"))
    actor: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))
    source_addr: Mapped[str] = mapped_column(String(128), default="", server_default=text("''"))
    request_id: Mapped[str] = mapped_column(String(128), default="", server_default=text("''"))
    document: Mapped[str] = mapped_column(Text)


class AccessRequestRow(Base):
    __tablename__ = "access_requests"
    __table_args__ = (Index("ix_access_requests_subject", "subject", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(255))
    repository: Mapped[str] = mapped_column(String(255))
    actions: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(1024), default="", server_default=text("''"))
    state: Mapped[str] = mapped_column(String(16))  # requested|approved|denied|revoked|expired
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))
    expires_at: Mapped[datetime | None]


class CallbackSignatureRow(Base):
    __tablename__ = "callback_signatures"
    __table_args__ = (Index("ix_callback_signatures_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime | None]
