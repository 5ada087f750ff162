"""Repository of refresh tokens and personal access tokens.

Callers generate the public ``token_id`` and hash the secret (hex SHA-256)
themselves; the raw secret never reaches the store. ``find_by_hash`` is on
the hot path of every token request: one indexed JOIN with the owner, and it
returns revoked and expired tokens too, because deciding is the caller's
job. Revocation is a timestamp, never a delete, so it is visible to every
process sharing the database (SPEC §7). Unknown user names raise
:class:`~regauth.store.errors.NotFound`; a taken id or hash raises
:class:`~regauth.store.errors.Conflict`.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Self

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from regauth.ports import Clock
from regauth.store import _queries as q
from regauth.store._session import Sessions
from regauth.store.database import Database
from regauth.store.errors import Conflict, NotFound
from regauth.store.models import Token, User
from regauth.store.records import TokenRecord

TOKEN_KINDS = frozenset({"refresh", "pat"})


def _joined() -> Select[Token, str, bool]:
    return select(Token, User.name, User.disabled).join(User, User.id == Token.user_id)


def _record(token: Token, user_name: str, user_disabled: bool) -> TokenRecord:
    return TokenRecord(
        id=token.id,
        user_id=token.user_id,
        user_name=user_name,
        kind=token.kind,
        name=token.name,
        client_id=token.client_id,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        last_used_addr=token.last_used_addr,
        rules_json=token.rules_json,
        user_disabled=user_disabled,
    )


class TokenStore:
    """Stored tokens (``kind`` is ``"refresh"`` or ``"pat"``)."""

    def __init__(self, db: Database | Sessions, clock: Clock) -> None:
        self._tx = db if isinstance(db, Sessions) else Sessions(db)
        self._clock = clock

    @classmethod
    def within(cls, session: AsyncSession, clock: Clock) -> Self:
        """This repository inside a caller's transaction (it never commits)."""
        return cls(Sessions(None, session), clock)

    async def create(
        self,
        *,
        token_id: str,
        user_name: str,
        kind: str,
        secret_hash: str,
        expires_at: datetime | None,
        name: str = "",
        client_id: str = "",
        rules_json: str = "[]",
    ) -> TokenRecord:
        if kind not in TOKEN_KINDS:
            raise ValueError(f"token kind must be one of {sorted(TOKEN_KINDS)}, not {kind!r}")
        try:
            async with self._tx.write() as s:
                owner = await s.scalar(select(User).where(User.name == user_name))
                if owner is None:
                    raise NotFound(f"user {user_name!r} not found")
                token = Token(
                    id=token_id,
                    user_id=owner.id,
                    kind=kind,
                    name=name,
                    client_id=client_id,
                    secret_hash=secret_hash,
                    created_at=self._clock.now(),
                    expires_at=expires_at,
                    revoked_at=None,
                    last_used_at=None,
                    last_used_addr=None,
                    rules_json=rules_json,
                )
                s.add(token)
        except IntegrityError:
            raise Conflict(f"token {token_id!r} already exists") from None
        return _record(token, owner.name, owner.disabled)

    async def find_by_hash(self, secret_hash: str) -> TokenRecord | None:
        async with self._tx.read() as s:
            row = (await s.execute(_joined().where(Token.secret_hash == secret_hash))).first()
        return None if row is None else _record(*row)

    async def revoke(self, token_id: str) -> bool:
        """Revoke one token; False when it is unknown or already revoked."""
        query = update(Token).where(Token.id == token_id, Token.revoked_at.is_(None))
        async with self._tx.write() as s:
            result = await s.execute(query.values(revoked_at=self._clock.now()))
            return q.affected(result) > 0

    async def revoke_all(self, user_name: str, kind: str | None = None) -> int:
        """Revoke every live token of a user (of one kind); returns how many."""
        async with self._tx.write() as s:
            uid = await q.user_id(s, user_name)
            query = update(Token).where(Token.user_id == uid, Token.revoked_at.is_(None))
            if kind is not None:
                query = query.where(Token.kind == kind)
            result = await s.execute(query.values(revoked_at=self._clock.now()))
            return q.affected(result)

    async def list(
        self, *, user_name: str | None = None, kind: str | None = None
    ) -> builtins.list[TokenRecord]:
        """Tokens oldest first, revoked ones included; filters combine."""
        query = _joined().order_by(Token.created_at, Token.id)
        if user_name is not None:
            query = query.where(User.name == user_name)
        if kind is not None:
            query = query.where(Token.kind == kind)
        async with self._tx.read() as s:
            rows = (await s.execute(query)).all()
        return [_record(*row) for row in rows]

    async def touch(self, token_id: str, *, addr: str | None) -> None:
        """Record a use; an unknown token is ignored (it may have just been deleted)."""
        values = {"last_used_at": self._clock.now(), "last_used_addr": addr}
        async with self._tx.write() as s:
            await s.execute(update(Token).where(Token.id == token_id).values(**values))
