"""``check``: what the token endpoint would decide, from the server's own inputs.

The principal is built as the authenticators build it: the stored account
(groups, attributes such as plan and licence, disabled, password expiry,
robot or user), and with ``token_id`` the stored personal access token (its
owner, rules, revocation and expiry). The decision then runs through the
server's :class:`~regauth.service.Decider`, licence check included, and the
endpoint's own refusals (unknown service, ``token.on_denied = "forbid"``).
A refusal the server would answer with (401, 403, 400) is raised as that
same :class:`~regauth.errors.ProblemError`.

``extra_groups`` / ``extra_claims`` are hypotheses ("what if alice were in
ops"): they are not what the server sees, and the view says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import UnitOfWork
from regauth.authn.pat import parse_token_rules
from regauth.authz.config_rules import compile_rules
from regauth.domain.policy import Grant
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.scope import ResourceActions
from regauth.errors import InvalidCredential, TokenExpired
from regauth.ports import CallerFacts
from regauth.service import Decider, TokenRequest
from regauth.store import TokenRecord, UserRecord


@dataclass(frozen=True, slots=True)
class CheckAccess:
    scopes: tuple[ResourceActions, ...]
    service: str
    user: str | None = None  # None: the anonymous caller
    token_id: str | None = None
    client_ip: str | None = None
    extra_groups: tuple[str, ...] = ()
    extra_claims: Mapping[str, str] = field(default_factory=dict)
    webhooks: bool = True


@dataclass(frozen=True, slots=True)
class CheckView:
    principal: Principal
    grants: tuple[Grant, ...]
    notes: tuple[str, ...] = ()


async def check_access(
    uow: UnitOfWork, actor: Actor, cmd: CheckAccess, decider: Decider
) -> CheckView:
    actor.require(Permission.CHECK)
    principal, notes = await _principal(uow, cmd)
    facts = CallerFacts(client_ip=cmd.client_ip, service=cmd.service)
    request = TokenRequest(cmd.scopes, facts)
    decider.check_request(request)
    grants = await decider.decide(principal, cmd.scopes, facts, webhooks=cmd.webhooks)
    decider.check_request(request, grants)
    return CheckView(principal, grants, notes)


async def _principal(uow: UnitOfWork, cmd: CheckAccess) -> tuple[Principal, tuple[str, ...]]:
    notes = []
    if cmd.extra_groups or cmd.extra_claims:
        notes.append("what-if: the extra groups and claims are not what the server sees")
    if cmd.user is None:
        if not (cmd.extra_groups or cmd.extra_claims):
            return ANONYMOUS, tuple(notes)
        return Principal("", "anonymous", frozenset(cmd.extra_groups), cmd.extra_claims), tuple(
            notes
        )
    user = await uow.users.get(cmd.user)
    if user is None:
        notes.append(f"{cmd.user} is not a local user: only the given groups and claims apply")
        groups = frozenset(cmd.extra_groups)
        return Principal(cmd.user, "external", groups, dict(cmd.extra_claims)), tuple(notes)
    groups = frozenset(user.groups) | frozenset(cmd.extra_groups)
    claims = dict(user.attributes) | dict(cmd.extra_claims)
    if cmd.token_id is None:
        _refuse_login(uow, user)
        return Principal(user.name, "local", groups, claims), tuple(notes)
    token = await _token(uow, user, cmd.token_id)
    rules_list = parse_token_rules(token.rules_json, stored=True)
    rules = compile_rules(rules_list, prefix=f"token:{token.id}") if rules_list else None
    source = "robot" if user.kind == "robot" else "pat"
    return Principal(user.name, source, groups, claims, token.id, rules), tuple(notes)


def _refuse_login(uow: UnitOfWork, user: UserRecord) -> None:
    """The password login's refusals for a known user (the password itself is not checked)."""
    if user.password_hash is None:
        raise InvalidCredential(f"{user.name} has no password: it logs in with a token only")
    if user.disabled:
        raise InvalidCredential("account disabled")
    if user.password_expires_at is not None and user.password_expires_at <= uow.clock.now():
        raise InvalidCredential("password expired")


async def _token(uow: UnitOfWork, user: UserRecord, token_id: str) -> TokenRecord:
    found = [t for t in await uow.tokens.list(user_name=user.name) if t.id == token_id]
    if not found or found[0].kind != "pat":
        raise InvalidCredential(f"{user.name} has no personal access token {token_id}")
    token = found[0]
    if token.revoked_at is not None:
        raise InvalidCredential("token has been revoked")
    if token.user_disabled:
        raise InvalidCredential("account disabled")
    if token.expires_at is not None and token.expires_at <= uow.clock.now():
        raise TokenExpired("token has expired")
    return token
