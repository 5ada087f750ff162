"""Where a repository gets its session: its own per call, or a unit of work's.

A repository built on a :class:`~regauth.store.database.Database` opens one
session per method (and one transaction per writing method): that is the hot
path of the token endpoint and stays exactly as cheap. A repository built
*within* a session (``UserStore.within(session, clock)``) runs every method
in that session and never begins, commits or rolls back: the caller (the
admin layer's unit of work) owns the one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from regauth.ports import Clock
from regauth.store.database import Database


class Sessions:
    def __init__(self, db: Database | None, session: AsyncSession | None = None) -> None:
        if (db is None) == (session is None):
            raise ValueError("give a database or a session, not both")
        self._db = db
        self._session = session

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session to read in (no explicit transaction when the repository owns it)."""
        if self._db is not None:
            return self._db.session()
        return self._borrowed()

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session inside a transaction: a new one committed on exit, or the borrowed one."""
        if self._db is not None:
            return self._own_transaction(self._db)
        return self._borrowed(flush=True)

    @staticmethod
    @asynccontextmanager
    async def _own_transaction(db: Database) -> AsyncIterator[AsyncSession]:
        async with db.session() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _borrowed(self, *, flush: bool = False) -> AsyncIterator[AsyncSession]:
        assert self._session is not None
        yield self._session
        if flush:
            # Flushed here, so a unique-constraint error surfaces inside the
            # repository method (as Conflict), as it does with its own commit.
            await self._session.flush()


class Repository:
    """The base of a repository: on a database (its own session per call) or
    :meth:`within` a caller's session."""

    def __init__(self, db: Database | Sessions, clock: Clock) -> None:
        self._tx = db if isinstance(db, Sessions) else Sessions(db)
        self._clock = clock

    @classmethod
    def within(cls, session: AsyncSession, clock: Clock) -> Self:
        """This repository inside a caller's transaction (it never commits)."""
        return cls(Sessions(None, session), clock)
