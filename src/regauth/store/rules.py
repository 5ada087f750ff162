"""Account rules attached to a user or a group, ordered by position (SPEC §4.1).

Positions are 1-based and dense within each owner's list; ``add`` inserts at
a position (default: the end) and shifts the rest, ``move`` and ``remove``
keep the list dense. ``for_principal`` is the hot-path read: one query for
the user's and its groups' rules.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from regauth.store import _queries as q
from regauth.store._session import Repository
from regauth.store.errors import NotFound
from regauth.store.models import Group, User
from regauth.store.models_authz import RuleRow


@dataclass(frozen=True, slots=True)
class RuleRecord:
    id: int
    owner_kind: str  # "user" | "group"
    owner: str
    position: int
    type: str
    name: str
    actions: tuple[str, ...]
    services: tuple[str, ...]
    client_cidrs: tuple[str, ...]
    comment: str


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a caller gives to create a rule (validated by the caller)."""

    name: str
    actions: tuple[str, ...]
    type: str = "repository"
    services: tuple[str, ...] = ()
    client_cidrs: tuple[str, ...] = ()
    comment: str = ""


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


class RuleStore(Repository):
    async def add(
        self,
        *,
        user: str | None = None,
        group: str | None = None,
        spec: RuleSpec,
        position: int | None = None,
    ) -> RuleRecord:
        async with self._tx.write() as session:
            owner = await self._owner(session, user, group)
            rows = await self._rows(session, owner)
            pos = len(rows) + 1 if position is None else max(1, min(position, len(rows) + 1))
            for row in rows:
                if row.position >= pos:
                    row.position += 1
            row = RuleRow(
                position=pos,
                type=spec.type,
                name=spec.name,
                actions=",".join(spec.actions),
                services=",".join(spec.services),
                client_cidrs=",".join(spec.client_cidrs),
                comment=spec.comment,
                created_at=self._clock.now(),
                **owner,
            )
            session.add(row)
            await session.flush()
            return self._record(row, user or group or "")

    async def list(
        self, *, user: str | None = None, group: str | None = None
    ) -> builtins.list[RuleRecord]:
        """Rules of one owner, or of every owner when neither is given."""
        async with self._tx.read() as session:
            stmt = (
                select(RuleRow, User.name, Group.name)
                .outerjoin(User, RuleRow.user_id == User.id)
                .outerjoin(Group, RuleRow.group_id == Group.id)
                .order_by(RuleRow.user_id.is_(None), User.name, Group.name, RuleRow.position)
            )
            if user is not None:
                stmt = stmt.where(RuleRow.user_id == await q.user_id(session, user))
            if group is not None:
                stmt = stmt.where(RuleRow.group_id == await q.group_id(session, group))
            result = await session.execute(stmt)
            return [self._record(row, u or g or "") for row, u, g in result.all()]

    async def for_principal(
        self, user: str | None, groups: Iterable[str]
    ) -> tuple[builtins.list[RuleRecord], dict[str, builtins.list[RuleRecord]]]:
        """The user's rules and each group's rules, each in position order (one query)."""
        names = builtins.list(groups)
        async with self._tx.read() as session:
            stmt = (
                select(RuleRow, User.name, Group.name)
                .outerjoin(User, RuleRow.user_id == User.id)
                .outerjoin(Group, RuleRow.group_id == Group.id)
                .where(or_(User.name == (user or ""), Group.name.in_(names)))
                .order_by(RuleRow.position)
            )
            result = await session.execute(stmt)
            own: builtins.list[RuleRecord] = []
            by_group: dict[str, builtins.list[RuleRecord]] = {}
            for row, u, g in result.all():
                if u is not None:
                    own.append(self._record(row, u))
                else:
                    by_group.setdefault(g, []).append(self._record(row, g))
            return own, by_group

    async def move(self, rule_id: int, position: int) -> RuleRecord:
        async with self._tx.write() as session:
            row = await self._get(session, rule_id)
            owner = {"user_id": row.user_id} if row.user_id else {"group_id": row.group_id}
            rows = [r for r in await self._rows(session, owner) if r.id != rule_id]
            rows.insert(max(0, min(position - 1, len(rows))), row)
            for index, item in enumerate(rows, start=1):
                item.position = index
            await session.flush()
            return self._record(row, await self._owner_name(session, row))

    async def remove(self, rule_id: int) -> None:
        async with self._tx.write() as session:
            row = await self._get(session, rule_id)
            owner_col = RuleRow.user_id if row.user_id else RuleRow.group_id
            owner_id = row.user_id or row.group_id
            await session.delete(row)
            await session.execute(
                update(RuleRow)
                .where(owner_col == owner_id, RuleRow.position > row.position)
                .values(position=RuleRow.position - 1)
            )

    async def _get(self, session: AsyncSession, rule_id: int) -> RuleRow:
        row = await session.get(RuleRow, rule_id)
        if row is None:
            raise NotFound(f"rule {rule_id} not found")
        return row

    async def _owner(
        self, session: AsyncSession, user: str | None, group: str | None
    ) -> dict[str, int]:
        if (user is None) == (group is None):
            raise ValueError("a rule belongs to exactly one user or one group")
        if user is not None:
            return {"user_id": await q.user_id(session, user)}
        return {"group_id": await q.group_id(session, group or "")}

    async def _rows(
        self, session: AsyncSession, owner: Mapping[str, int | None]
    ) -> builtins.list[RuleRow]:
        ((column, value),) = owner.items()
        stmt = select(RuleRow).where(getattr(RuleRow, column) == value).order_by(RuleRow.position)
        return builtins.list((await session.scalars(stmt)).all())

    async def _owner_name(self, session: AsyncSession, row: RuleRow) -> str:
        if row.user_id:
            return (await session.scalar(select(User.name).where(User.id == row.user_id))) or ""
        return (await session.scalar(select(Group.name).where(Group.id == row.group_id))) or ""

    @staticmethod
    def _record(row: RuleRow, owner: str) -> RuleRecord:
        return RuleRecord(
            id=row.id,
            owner_kind="user" if row.user_id else "group",
            owner=owner,
            position=row.position,
            type=row.type,
            name=row.name,
            actions=_split(row.actions),
            services=_split(row.services),
            client_cidrs=_split(row.client_cidrs),
            comment=row.comment,
        )
