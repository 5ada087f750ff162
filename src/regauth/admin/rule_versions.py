"""Versions of the ordered rule lists, so concurrent edits are detected (HTTP ``If-Match``).

The version of a list is a digest of its rules in order (ids, positions and
every field), so any insert, move or removal changes it. A writer passes the
version it read; :func:`require_version` compares it, inside the writer's
unit of work, with the version of the list being changed — or of all lists,
for a caller that read them all — and raises ``admin.stale`` (412) when
neither matches. ``None`` skips the check; ``*`` matches any version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from regauth.admin.rules import RuleView, _view
from regauth.admin.uow import UnitOfWork
from regauth.errors import AdminNotFound, AdminStale


def version(rules: Iterable[RuleView]) -> str:
    text = json.dumps([asdict(rule) for rule in rules], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def list_version(uow: UnitOfWork, *, user: str | None, group: str | None) -> str:
    return version(_view(r) for r in await uow.rules.list(user=user, group=group))


async def owner_of(uow: UnitOfWork, rule_id: int) -> tuple[str | None, str | None]:
    """(user, group) owning the rule; ``admin.not_found`` when there is no such rule."""
    for record in await uow.rules.list():
        if record.id == rule_id:
            owner = record.owner
            return (owner, None) if record.owner_kind == "user" else (None, owner)
    raise AdminNotFound(f"rule {rule_id} not found")


async def require_version(
    uow: UnitOfWork, expected: Sequence[str] | None, *, user: str | None, group: str | None
) -> None:
    if expected is None or "*" in expected:
        return
    if user is None and group is None:
        return
    current = {
        await list_version(uow, user=user, group=group),
        await list_version(uow, user=None, group=None),
    }
    if current.isdisjoint(expected):
        raise AdminStale("the rule list changed since it was read: read it again")
