"""Tables of the web UI: browser sessions and OIDC sign-ins in progress (migration 0011).

Neither holds a secret in the clear: a session row is keyed by the SHA-256 of
the cookie's random id, an OIDC login by the SHA-256 of its ``state``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from regauth.store.models import Base


class UiSessionRow(Base):
    __tablename__ = "ui_sessions"
    __table_args__ = (
        Index("ix_ui_sessions_expires_at", "expires_at"),
        Index("ix_ui_sessions_subject", "subject"),
    )

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(64))
    # The principal at sign-in (groups, attributes) as JSON: LDAP and OIDC users have no row.
    principal_json: Mapped[str] = mapped_column(Text)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(255), default="", server_default="")


class UiOidcLoginRow(Base):
    __tablename__ = "ui_oidc_logins"
    __table_args__ = (Index("ix_ui_oidc_logins_expires_at", "expires_at"),)

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(128))
    return_to: Mapped[str] = mapped_column(String(255), default="", server_default="")
    expires_at: Mapped[datetime]
