"""The administration layer: every change to users, groups, rules, tokens, keys.

The CLI, the admin API (``/api/v1``) and the UI parse their input, call a use
case here and render the view it returns; none of them imports
``regauth.store``. One module per noun (``users.py``, ``groups.py``,
``rules.py``, ``tokens.py``…).

Adding a use case
-----------------
A use case is one ``async def`` taking the unit of work, the actor and a
frozen command, returning a frozen view (never an ORM row or a store
record)::

    @dataclass(frozen=True, slots=True)
    class AddGroup:            # the command: plain values, already parsed
        name: str

    @dataclass(frozen=True, slots=True)
    class GroupView:           # the view: what callers may show
        name: str
        members: tuple[str, ...]

    async def add_group(uow: UnitOfWork, actor: Actor, cmd: AddGroup) -> GroupView:
        actor.require(Permission.GROUPS_WRITE)                    # 1. authorize
        require({"name": name_problem(cmd.name)})                 # 2. validate
        await uow.groups.add(cmd.name)                            # 3. change
        view = GroupView(cmd.name, ())
        uow.record(Change(actor, "group:add", cmd.name, None, asdict(view)))  # 4. record
        await uow.commit()                                        # 5. commit
        return view

and callers run it as ``async with UnitOfWork(db, clock) as uow: view = await
add_group(uow, actor, AddGroup("devs"))``. Always in that order: authorize,
validate, change, record, commit. ``actor`` is required: the CLI passes
``Actor.console(os_user)``. Failures are the ``errors.py`` classes
``admin.invalid`` (422, :func:`validation.require` names the fields),
``admin.forbidden`` (403), ``admin.not_found`` (404), ``admin.conflict``
(409); store errors raised in the unit of work are translated for you.
``Change.kind`` is ``noun:verb``; ``before``/``after`` never hold secrets or
hashes. Read-only use cases authorize and validate, then return a view
without recording or committing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from regauth.admin.actor import Actor, Permission
from regauth.admin.validation import require

if TYPE_CHECKING:
    from regauth.admin.uow import Change, UnitOfWork

__all__ = ["Actor", "Change", "Permission", "UnitOfWork", "require"]


def __getattr__(name: str) -> object:
    # The unit of work pulls in SQLAlchemy; the config loader imports the
    # validation module only, so keep that import lazy.
    if name in ("Change", "UnitOfWork"):
        from regauth.admin import uow

        return getattr(uow, name)
    raise AttributeError(name)
