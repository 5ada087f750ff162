"""Repositories of local users, robots and groups.

Every method is one transaction on its own session. Unknown names raise
:class:`~regauth.store.errors.NotFound`, taken names
:class:`~regauth.store.errors.Conflict`. Password hashes are stored as given
(``regauth.authn.passwords`` makes them); ``None`` means the account cannot
log in with a password. Deleting a user or group cascades to its memberships
and (for users) its tokens. Groups named when adding a user or setting their
groups are created on the fly; ``GroupStore.add_member`` needs both to exist.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from regauth.store import _queries as q
from regauth.store._session import Repository
from regauth.store.errors import Conflict, NotFound
from regauth.store.models import Group, Membership, User
from regauth.store.records import UserRecord

USER_KINDS = frozenset({"user", "robot"})


def _record(user: User, groups: Iterable[str]) -> UserRecord:
    return UserRecord(
        id=user.id,
        name=user.name,
        password_hash=user.password_hash,
        disabled=user.disabled,
        kind=user.kind,
        password_expires_at=user.password_expires_at,
        groups=tuple(groups),
        created_at=user.created_at,
        attributes=_attributes(user.attributes_json),
    )


def _attributes(text: str) -> dict[str, str]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class UserStore(Repository):
    """Local accounts (``kind`` is ``"user"`` or ``"robot"``) and their groups."""

    async def add(
        self,
        name: str,
        password_hash: str | None,
        *,
        groups: Iterable[str] = (),
        kind: str = "user",
    ) -> UserRecord:
        if kind not in USER_KINDS:
            raise ValueError(f"user kind must be one of {sorted(USER_KINDS)}, not {kind!r}")
        now = self._clock.now()
        wanted = sorted(set(groups))
        user = User(
            name=name,
            password_hash=password_hash,
            disabled=False,
            kind=kind,
            password_expires_at=None,
            created_at=now,
        )
        try:
            async with self._tx.write() as s:
                s.add(user)
                await s.flush()
                await q.set_memberships(s, user.id, await q.ensure_groups(s, wanted, now))
        except IntegrityError:
            raise Conflict(f"user {name!r} already exists") from None
        return _record(user, wanted)

    async def get(self, name: str) -> UserRecord | None:
        if "\x00" in name:  # no stored name has one (PostgreSQL would refuse the query)
            return None
        async with self._tx.read() as s:
            user = await s.scalar(select(User).where(User.name == name))
            if user is None:
                return None
            groups = await q.groups_of(s, [user.id])
        return _record(user, groups.get(user.id, ()))

    async def list(self) -> builtins.list[UserRecord]:
        async with self._tx.read() as s:
            users = (await s.scalars(select(User).order_by(User.name))).all()
            groups = await q.groups_of(s, None)
        return [_record(u, groups.get(u.id, ())) for u in users]

    async def set_password(
        self, name: str, password_hash: str | None, *, expires_at: datetime | None = None
    ) -> None:
        await self._update(name, password_hash=password_hash, password_expires_at=expires_at)

    async def set_attributes(self, name: str, attributes: dict[str, str]) -> None:
        """Replace a user's attributes (claims for plans, licences and CEL)."""
        async with self._tx.write() as session:
            result = await session.execute(
                update(User).where(User.name == name).values(attributes_json=json.dumps(attributes))
            )
            if q.affected(result) == 0:
                raise NotFound(f"user {name!r} not found")

    async def set_disabled(self, name: str, disabled: bool) -> None:
        await self._update(name, disabled=disabled)

    async def set_groups(self, name: str, groups: Iterable[str]) -> None:
        now = self._clock.now()
        async with self._tx.write() as s:
            uid = await q.user_id(s, name)
            await q.set_memberships(s, uid, await q.ensure_groups(s, groups, now))

    async def delete(self, name: str) -> None:
        async with self._tx.write() as s:
            result = await s.execute(delete(User).where(User.name == name))
            if q.affected(result) == 0:
                raise NotFound(f"user {name!r} not found")

    async def _update(self, name: str, **values: Any) -> None:
        async with self._tx.write() as s:
            result = await s.execute(update(User).where(User.name == name).values(**values))
            if q.affected(result) == 0:
                raise NotFound(f"user {name!r} not found")


class GroupStore(Repository):
    """Groups and their members."""

    async def add(self, name: str) -> None:
        try:
            async with self._tx.write() as s:
                s.add(Group(name=name, created_at=self._clock.now()))
        except IntegrityError:
            raise Conflict(f"group {name!r} already exists") from None

    async def list(self) -> builtins.list[tuple[str, tuple[str, ...]]]:
        """Every group (sorted) with its members (sorted), empty groups included."""
        query = (
            select(Group.name, User.name)
            .outerjoin(Membership, Membership.group_id == Group.id)
            .outerjoin(User, User.id == Membership.user_id)
            .order_by(Group.name, User.name)
        )
        members: dict[str, builtins.list[str]] = {}
        async with self._tx.read() as s:
            for group, user in await s.execute(query):
                names = members.setdefault(group, [])
                if user is not None:
                    names.append(user)
        return [(group, tuple(names)) for group, names in members.items()]

    async def add_member(self, group: str, user: str) -> None:
        """Make ``user`` a member of ``group``; already being one is fine."""
        async with self._tx.write() as s:
            row = {"group_id": await q.group_id(s, group), "user_id": await q.user_id(s, user)}
            await q.insert_ignoring_conflicts(s, cast(Table, Membership.__table__), [row])

    async def remove_member(self, group: str, user: str) -> None:
        """Remove ``user`` from ``group``; not being a member is fine."""
        async with self._tx.write() as s:
            gid, uid = await q.group_id(s, group), await q.user_id(s, user)
            await s.execute(
                delete(Membership).where(Membership.group_id == gid, Membership.user_id == uid)
            )

    async def delete(self, name: str) -> None:
        async with self._tx.write() as s:
            result = await s.execute(delete(Group).where(Group.name == name))
            if q.affected(result) == 0:
                raise NotFound(f"group {name!r} not found")
