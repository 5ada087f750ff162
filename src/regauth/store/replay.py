"""A replay cache in the database, so every worker sees every DPoP proof id (RFC 9449 §11.1).

``seen`` is one INSERT … ON CONFLICT DO NOTHING: a proof id inserted by any
process before makes the insert a no-op, which is the answer. An expired row
is taken over (its id may be reused after the window). Expired rows are
purged now and then by the same call.
"""

from __future__ import annotations

from sqlalchemy import delete, update

from regauth.ports import Clock
from regauth.store import _queries as q
from regauth.store.database import Database
from regauth.store.models_authz import ReplayRow

PURGE_EVERY = 500


class DatabaseReplayCache:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._calls = 0

    async def seen(self, jti: str, expires_at: float) -> bool:
        now = self._clock.now().timestamp()
        insert = q.conflict_insert(self._db.dialect)(ReplayRow).values(
            key=jti, expires_at=expires_at
        )
        async with self._db.session() as session, session.begin():
            result = await session.execute(insert.on_conflict_do_nothing())
            if q.affected(result) == 1:
                fresh = True
            else:  # present: a replay, unless the old entry has expired
                taken = await session.execute(
                    update(ReplayRow)
                    .where(ReplayRow.key == jti, ReplayRow.expires_at <= now)
                    .values(expires_at=expires_at)
                )
                fresh = q.affected(taken) == 1
            self._calls += 1
            if self._calls % PURGE_EVERY == 0:
                await session.execute(delete(ReplayRow).where(ReplayRow.expires_at <= now))
        return not fresh
