"""Use cases on tokens: personal access tokens (of users and robots) and refresh tokens.

Who may act: an actor holding ``tokens:write`` (``tokens:read`` to list) on
anyone's tokens, and any local account on its own (self-service: the command
names the owner, and the use case compares it with the actor). A token of
someone else is "not found" to a self-service caller, never "forbidden", so
ids of other users' tokens cannot be probed.

The secret of a new token is returned once in :class:`CreatedToken` and is
never stored (only its SHA-256), recorded or logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.admin.validation import name_problem, require
from regauth.authn.pat import create_token as _create_pat
from regauth.authn.pat import parse_token_rules
from regauth.config.rules import SUBJECTS, RuleSettings
from regauth.errors import AdminInvalid, AdminNotFound
from regauth.ports import Random
from regauth.store import TokenRecord

KINDS = frozenset({"pat", "refresh"})
MAX_NAME = 100
MAX_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class CreateToken:
    """``rules`` narrow the owner's access (intersection); each is a token rule mapping."""

    user: str
    name: str = ""
    expires_in: timedelta | None = timedelta(days=90)
    rules: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class ListTokens:
    user: str | None = None  # None: everyone's (needs tokens:read)
    kind: str | None = None  # "pat" | "refresh" | None (both)
    include_revoked: bool = True


@dataclass(frozen=True, slots=True)
class RevokeToken:
    token_id: str
    user: str | None = None  # when given, the token must belong to this user
    kind: str | None = None  # when given, the token must be of this kind


@dataclass(frozen=True, slots=True)
class RevokeUserTokens:
    user: str
    kind: str | None = None  # None: PATs and refresh tokens


@dataclass(frozen=True, slots=True)
class TokenView:
    id: str
    user: str
    kind: str
    name: str
    client_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_addr: str | None
    rules: tuple[Mapping[str, object], ...]


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: TokenView
    secret: str = field(repr=False)


async def create_token(
    uow: UnitOfWork, actor: Actor, cmd: CreateToken, *, random: Random
) -> CreatedToken:
    _authorize(actor, cmd.user, Permission.TOKENS_WRITE)
    rules_json = _validate_create(cmd)
    record, secret = await _create_pat(
        uow.tokens,
        random,
        uow.clock,
        user=cmd.user,
        name=cmd.name,
        expires_in=cmd.expires_in,
        rules_json=rules_json,
    )
    view = _view(record)
    uow.record(Change(actor, "token:create", f"{view.user}/{view.id}", None, _snapshot(view)))
    await uow.commit()
    return CreatedToken(view, secret)


async def list_tokens(uow: UnitOfWork, actor: Actor, cmd: ListTokens) -> tuple[TokenView, ...]:
    """Tokens oldest first, with their last use; never their secrets."""
    _authorize(actor, cmd.user, Permission.TOKENS_READ)
    if cmd.kind is not None:
        require({"kind": None if cmd.kind in KINDS else "kind must be pat or refresh"})
    if cmd.user is not None:
        require({"user": name_problem(cmd.user)})
        if await uow.users.get(cmd.user) is None:
            raise AdminNotFound(f"user {cmd.user!r} not found")
    records = await uow.tokens.list(user_name=cmd.user, kind=cmd.kind)
    views = (_view(r) for r in records if cmd.include_revoked or r.revoked_at is None)
    return tuple(views)


async def revoke_token(uow: UnitOfWork, actor: Actor, cmd: RevokeToken) -> TokenView:
    """Revoke one token (revoking a revoked one changes nothing and is not an error)."""
    _authorize(actor, cmd.user, Permission.TOKENS_WRITE)
    before = await _find(uow, cmd)
    if before.revoked_at is not None:
        return before
    await uow.tokens.revoke(cmd.token_id)
    after = await _find(uow, cmd)
    subject = f"{after.user}/{after.id}"
    uow.record(Change(actor, "token:revoke", subject, _snapshot(before), _snapshot(after)))
    await uow.commit()
    return after


async def revoke_user_tokens(uow: UnitOfWork, actor: Actor, cmd: RevokeUserTokens) -> int:
    """Revoke every live token of a user (of one kind); returns how many."""
    _authorize(actor, cmd.user, Permission.TOKENS_WRITE)
    require({"user": name_problem(cmd.user)})
    count = await uow.tokens.revoke_all(cmd.user, cmd.kind)
    if count:
        after = {"revoked": count, "kind": cmd.kind}
        uow.record(Change(actor, "token:revoke_all", cmd.user, None, after))
        await uow.commit()
    return count


def _authorize(actor: Actor, owner: str | None, permission: Permission) -> None:
    """Anyone's tokens with ``permission``; a local account's own tokens without."""
    if actor.holds(permission) or (actor.kind == "user" and owner == actor.name):
        return
    actor.require(permission)


def _validate_create(cmd: CreateToken) -> str:
    problems: dict[str, str | None] = {"user": name_problem(cmd.user)}
    if len(cmd.name) > MAX_NAME or not cmd.name.isprintable():
        problems["name"] = f"a token name is at most {MAX_NAME} printable characters"
    if cmd.expires_in is not None and not timedelta(minutes=1) <= cmd.expires_in <= MAX_LIFETIME:
        problems["expires_in"] = "a token lives between one minute and ten years"
    for index, rule in enumerate(cmd.rules):
        problems.update(_rule_problems(index, rule))
    require(problems)
    rules_json = json.dumps(list(cmd.rules))
    try:
        parse_token_rules(rules_json)
    except ValueError:  # every cause was reported above; this is the loader's own check
        raise AdminInvalid({"rules": "invalid token rules"}) from None
    return rules_json


def _rule_problems(index: int, rule: Mapping[str, object]) -> dict[str, str | None]:
    where = f"rules[{index}]"
    named = [key for key in SUBJECTS if rule.get(key) is not None]
    if named:
        return {f"{where}.{named[0]}": "token rules cannot name who they apply to"}
    try:
        RuleSettings.model_validate(rule)
    except ValidationError as exc:
        found: dict[str, str | None] = {}
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = ".".join(str(part) for part in error["loc"])
            found.setdefault(f"{where}.{loc}" if loc else where, _message(error["msg"]))
        return found
    return {}


def _message(text: str) -> str:
    return text.removeprefix("Value error, ")


async def _find(uow: UnitOfWork, cmd: RevokeToken) -> TokenView:
    records = await uow.tokens.list(user_name=cmd.user, kind=cmd.kind)
    for record in records:
        if record.id == cmd.token_id:
            return _view(record)
    raise AdminNotFound(f"token {cmd.token_id!r} not found")


def _view(record: TokenRecord) -> TokenView:
    rules = parse_token_rules(record.rules_json, stored=True)
    return TokenView(
        id=record.id,
        user=record.user_name,
        kind=record.kind,
        name=record.name,
        client_id=record.client_id,
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        last_used_at=record.last_used_at,
        last_used_addr=record.last_used_addr,
        rules=tuple(r.model_dump(exclude_defaults=True, mode="json") for r in rules),
    )


def _snapshot(view: TokenView) -> dict[str, object]:
    return {
        "user": view.user,
        "kind": view.kind,
        "name": view.name,
        "expires_at": view.expires_at.isoformat() if view.expires_at else None,
        "revoked_at": view.revoked_at.isoformat() if view.revoked_at else None,
        "rules": [dict(r) for r in view.rules],
    }
