"""Statements shared by the repositories (private to the store).

Lookups raise :class:`~regauth.store.errors.NotFound` naming the entity.
Idempotent inserts use ``ON CONFLICT DO NOTHING``, which both SQLite and
PostgreSQL understand, so concurrent creators of one group never fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Result, Table, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from regauth.store.errors import NotFound
from regauth.store.models import Group, Membership, User


def affected(result: Result[Any]) -> int:
    """Rows matched by an UPDATE or DELETE."""
    return cast(CursorResult[Any], result).rowcount


async def user_id(session: AsyncSession, name: str) -> int:
    found = await session.scalar(select(User.id).where(User.name == name))
    if found is None:
        raise NotFound(f"user {name!r} not found")
    return found


async def group_id(session: AsyncSession, name: str) -> int:
    found = await session.scalar(select(Group.id).where(Group.name == name))
    if found is None:
        raise NotFound(f"group {name!r} not found")
    return found


def conflict_insert(dialect: str) -> Callable[[Any], Any]:
    """The dialect's ``insert`` (it has ``on_conflict_do_nothing`` / ``_do_update``).

    The PostgreSQL dialect module is imported only on PostgreSQL: on SQLite it
    would be a sizeable share of a serving worker's memory and of a CLI call's start-up.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


async def insert_ignoring_conflicts(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, object]]
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    # Imported here: the PostgreSQL dialect module alone is a sizeable share of the
    # start-up cost of a CLI command on SQLite.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        await session.execute(postgresql.insert(table).values(list(rows)).on_conflict_do_nothing())
        return
    from sqlalchemy.dialects import sqlite

    await session.execute(sqlite.insert(table).values(list(rows)).on_conflict_do_nothing())


async def ensure_groups(session: AsyncSession, names: Iterable[str], now: datetime) -> list[int]:
    """Ids of the named groups, creating the missing ones."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    rows = [{"name": name, "created_at": now} for name in wanted]
    await insert_ignoring_conflicts(session, cast(Table, Group.__table__), rows)
    found = await session.scalars(select(Group.id).where(Group.name.in_(wanted)))
    return list(found)


async def set_memberships(session: AsyncSession, uid: int, group_ids: Sequence[int]) -> None:
    table = cast(Table, Membership.__table__)
    await session.execute(table.delete().where(table.c.user_id == uid))
    rows = [{"user_id": uid, "group_id": gid} for gid in group_ids]
    await insert_ignoring_conflicts(session, table, rows)


async def groups_of(session: AsyncSession, uids: Sequence[int] | None) -> dict[int, list[str]]:
    """Sorted group names per user id (all users when ``uids`` is None)."""
    query = (
        select(Membership.user_id, Group.name)
        .join(Group, Group.id == Membership.group_id)
        .order_by(Group.name)
    )
    if uids is not None:
        query = query.where(Membership.user_id.in_(uids))
    groups: dict[int, list[str]] = {}
    for uid, name in await session.execute(query):
        groups.setdefault(uid, []).append(name)
    return groups
