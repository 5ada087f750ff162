"""Repository of web UI sessions and OIDC sign-ins in progress.

Keys are hashes made by the caller (:mod:`regauth.authn.browser`); the raw
cookie id and the raw OIDC ``state`` never reach the database. Expired rows
are invisible to :meth:`UiSessionStore.get` and removed by :meth:`purge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update

from regauth.store import _queries as q
from regauth.store.database import Database
from regauth.store.models_ui import UiOidcLoginRow, UiSessionRow


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id_hash: str = field(repr=False)
    subject: str
    source: str
    principal_json: str
    csrf_token: str = field(repr=False)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client_ip: str | None
    user_agent: str


@dataclass(frozen=True, slots=True)
class OidcLoginRecord:
    verifier: str = field(repr=False)
    nonce: str = field(repr=False)
    return_to: str


def _record(row: UiSessionRow) -> SessionRecord:
    return SessionRecord(
        id_hash=row.id_hash,
        subject=row.subject,
        source=row.source,
        principal_json=row.principal_json,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        client_ip=row.client_ip,
        user_agent=row.user_agent,
    )


class UiSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, record: SessionRecord) -> None:
        row = UiSessionRow(
            id_hash=record.id_hash,
            subject=record.subject,
            source=record.source,
            principal_json=record.principal_json,
            csrf_token=record.csrf_token,
            created_at=record.created_at,
            last_seen_at=record.last_seen_at,
            expires_at=record.expires_at,
            client_ip=record.client_ip,
            user_agent=record.user_agent[:255],
        )
        async with self._db.session() as s, s.begin():
            s.add(row)

    async def get(self, id_hash: str, now: datetime) -> SessionRecord | None:
        async with self._db.session() as s:
            row = await s.get(UiSessionRow, id_hash)
            return _record(row) if row is not None and row.expires_at > now else None

    async def touch(self, id_hash: str, at: datetime) -> None:
        async with self._db.session() as s, s.begin():
            stmt = update(UiSessionRow).where(UiSessionRow.id_hash == id_hash)
            await s.execute(stmt.values(last_seen_at=at))

    async def delete(self, id_hash: str) -> bool:
        async with self._db.session() as s, s.begin():
            result = await s.execute(delete(UiSessionRow).where(UiSessionRow.id_hash == id_hash))
            return q.affected(result) > 0

    async def delete_subject(self, subject: str, *, keep: str = "") -> int:
        """End every session of ``subject`` except ``keep`` (after a password change)."""
        stmt = delete(UiSessionRow).where(
            UiSessionRow.subject == subject, UiSessionRow.id_hash != keep
        )
        async with self._db.session() as s, s.begin():
            return q.affected(await s.execute(stmt))

    async def purge(self, now: datetime, idle_since: datetime) -> None:
        """Delete ended sessions (expired, or unused since ``idle_since``) and old logins."""
        ended = (UiSessionRow.expires_at <= now) | (UiSessionRow.last_seen_at <= idle_since)
        async with self._db.session() as s, s.begin():
            await s.execute(delete(UiSessionRow).where(ended))
            await s.execute(delete(UiOidcLoginRow).where(UiOidcLoginRow.expires_at <= now))

    async def put_login(
        self, state_hash: str, login: OidcLoginRecord, expires_at: datetime
    ) -> None:
        row = UiOidcLoginRow(
            state_hash=state_hash,
            verifier=login.verifier,
            nonce=login.nonce,
            return_to=login.return_to,
            expires_at=expires_at,
        )
        async with self._db.session() as s, s.begin():
            s.add(row)

    async def take_login(self, state_hash: str, now: datetime) -> OidcLoginRecord | None:
        """The login started with this state, at most once (the row is deleted)."""
        async with self._db.session() as s, s.begin():
            row = await s.scalar(
                select(UiOidcLoginRow).where(UiOidcLoginRow.state_hash == state_hash)
            )
            if row is None:
                return None
            gone = await s.execute(
                delete(UiOidcLoginRow).where(UiOidcLoginRow.state_hash == state_hash)
            )
            if q.affected(gone) != 1 or row.expires_at <= now:  # taken by a concurrent callback
                return None
            return OidcLoginRecord(row.verifier, row.nonce, row.return_to)
