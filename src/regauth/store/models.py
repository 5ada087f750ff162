"""SQLAlchemy tables of the store (typed declarative).

The schema here and the Alembic revisions under ``migrations/versions`` must
agree; ``tests/store/test_database.py`` compares them. Constraint names come
from the naming convention so that both PostgreSQL and SQLite batch
migrations can refer to them.

Every datetime column goes through :class:`UTCDateTime`: aware datetimes are
normalised to UTC before they are written (SQLite would silently drop the
offset) and come back as aware UTC datetimes on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored and returned in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite hands back naive datetimes; they were written in UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[Mapping[Any, Any]] = {datetime: UTCDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_expires_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    created_at: Mapped[datetime]
    # Revision 0002; opaque JSON object, not yet surfaced in UserRecord.
    attributes_json: Mapped[str] = mapped_column(Text, default="{}", server_default=text("'{}'"))


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]


class Membership(Base):
    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128), default="", server_default="")
    client_id: Mapped[str] = mapped_column(String(255), default="", server_default="")
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    last_used_addr: Mapped[str | None] = mapped_column(String(255))
    rules_json: Mapped[str] = mapped_column(Text, default="[]", server_default=text("'[]'"))


class AuthFailure(Base):
    """A login-failure counter shared by every worker (``regauth.store.throttle``).

    ``key`` is the SHA-256 (hex) of ``account:<name>`` or ``ip:<address>``,
    never the name itself. ``count`` failures happened since ``window_start``.
    """

    __tablename__ = "auth_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(index=True)
    count: Mapped[int] = mapped_column(Integer)
