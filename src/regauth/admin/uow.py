"""The unit of work: one session, one transaction, the record of the change.

::

    async with UnitOfWork(db, clock) as uow:
        user = await uow.users.get("alice")
        ...
        uow.record(Change(actor, "user:remove", "alice", before={...}, after=None))
        await uow.commit()

Leaving the block without :meth:`commit` rolls everything back, the
``changes`` rows included: a change and its record are written together or
not at all. The repositories on the unit of work (``users``, ``groups``,
``rules``, ``tokens``) run in its session. Store errors raised inside the
block come out as the admin errors (``NotFound`` → ``admin.not_found``,
``Conflict`` → ``admin.conflict``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from regauth.admin.actor import Actor
from regauth.errors import AdminConflict, AdminNotFound
from regauth.events.outbox import event_row
from regauth.ports import Clock
from regauth.store import Database, GroupStore, RuleStore, TokenStore, UserStore
from regauth.store.errors import Conflict, NotFound
from regauth.store.models_admin import ChangeRow
from regauth.store.models_events import EventRow

Snapshot = Mapping[str, object] | None


@dataclass(frozen=True, slots=True)
class Change:
    """One administrative change. ``kind`` is ``noun:verb`` (``user:add``).

    ``before``/``after`` are JSON-able snapshots (None: did not exist / no
    longer exists). Never put a secret or a hash in them.
    """

    actor: Actor
    kind: str
    subject: str
    before: Snapshot = None
    after: Snapshot = field(default=None)


def _new_event_id() -> str:
    return uuid.uuid4().hex


class UnitOfWork:
    def __init__(
        self, db: Database, clock: Clock, *, event_ids: Callable[[], str] = _new_event_id
    ) -> None:
        self._db = db
        self.clock = clock
        self._event_ids = event_ids
        self._session: AsyncSession | None = None

    @property
    def db(self) -> Database:
        """The database (for collaborators that read outside this transaction)."""
        return self._db

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("use the unit of work as `async with UnitOfWork(...) as uow`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._db.session()
        await self._session.begin()
        self.users = UserStore.within(self._session, self.clock)
        self.groups = GroupStore.within(self._session, self.clock)
        self.rules = RuleStore.within(self._session, self.clock)
        self.tokens = TokenStore.within(self._session, self.clock)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            # Whatever was not committed goes (after a commit this is a no-op).
            await session.rollback()
        finally:
            await session.close()
        if isinstance(exc, NotFound):
            raise AdminNotFound(str(exc)) from None
        if isinstance(exc, Conflict):
            raise AdminConflict(str(exc)) from None

    def event_id(self) -> str:
        """A fresh outbox event id (for events a use case adds besides its change's)."""
        return self._event_ids()

    def record(self, change: Change) -> None:
        """Add the ``changes`` row and its ``admin.<kind>`` outbox event to this
        transaction (both written only by :meth:`commit`, or neither): webhooks
        subscribed to ``admin.*`` learn of every committed change, and of no other.
        """
        at = self.clock.now()
        payload = {
            "actor": {
                "kind": change.actor.kind,
                "name": change.actor.name,
                "address": change.actor.address,
            },
            "kind": change.kind,
            "subject": change.subject,
            "before": change.before,
            "after": change.after,
        }
        row = event_row(self._event_ids(), f"admin.{change.kind}", at, _plain(payload))
        self.session.add(EventRow(**row))
        self.session.add(
            ChangeRow(
                at=at,
                actor_kind=change.actor.kind,
                actor_name=change.actor.name,
                actor_address=change.actor.address,
                kind=change.kind,
                subject=change.subject,
                before=_json(change.before),
                after=_json(change.after),
            )
        )

    async def commit(self) -> None:
        await self.session.commit()


def _plain(value: Mapping[str, object]) -> dict[str, object]:
    """JSON-able as the ``changes`` row stores it (datetimes and the like as text)."""
    loaded: dict[str, object] = json.loads(json.dumps(value, default=str))
    return loaded


def _json(snapshot: Snapshot) -> str | None:
    return None if snapshot is None else json.dumps(snapshot, sort_keys=True, default=str)
