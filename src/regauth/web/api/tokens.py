"""Personal access tokens and refresh tokens: an admin's view per user, and ``/me``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from regauth.admin import Permission
from regauth.admin import tokens as uc
from regauth.web.api.dispatch import Call
from regauth.web.api.models import In, NameParam, Out, Query, TokenPath, UserPath, UserTokenPath
from regauth.web.api.table import Link, Operation, as_mine


class TokenRule(In):
    """A token rule: it narrows what the owner's own rules grant (intersection)."""

    name: str = Field(description="repository pattern: `*` one segment, `**` any")
    actions: list[str] = Field(default_factory=list, description="empty only with deny")
    type: str = "repository"
    service: list[str] = Field(default_factory=list)
    client_cidr: list[str] = Field(default_factory=list)
    deny: bool = False
    comment: str = ""


class TokenIn(In):
    name: str = Field(default="", max_length=100, description="a label, e.g. ci")
    expires_in_days: int | None = Field(default=90, ge=1, le=3650, description="null: never")
    rules: list[TokenRule] = Field(default_factory=list, max_length=100)


class TokenRuleOut(Out):
    name: str
    actions: list[str] = Field(default_factory=list)
    type: str = "repository"
    service: list[str] = Field(default_factory=list)
    client_cidr: list[str] = Field(default_factory=list)
    deny: bool = False
    comment: str = ""


class TokenOut(Out):
    id: str
    user: str
    kind: Literal["pat", "refresh"]
    name: str
    client_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_addr: str | None
    rules: list[TokenRuleOut]


class CreatedTokenOut(Out):
    token: TokenOut
    secret: str = Field(description="shown once: use it as the password or as a Bearer token")


class TokenList(Out):
    items: list[TokenOut]


class TokenQuery(Query):
    user: NameParam | None = None
    kind: Literal["pat", "refresh"] | None = None
    active: bool = Field(default=False, description="only tokens that are not revoked")


class ActiveQuery(Query):
    active: bool = Field(default=False, description="only tokens that are not revoked")


def _create(call: Call, user: str) -> uc.CreateToken:
    body = call.body(TokenIn)
    days = body.expires_in_days
    return uc.CreateToken(
        user=user,
        name=body.name,
        expires_in=timedelta(days=days) if days is not None else None,
        rules=tuple(
            {**rule.model_dump(exclude_defaults=True), "actions": rule.actions}
            for rule in body.rules
        ),
    )


async def _created(call: Call, cmd: uc.CreateToken) -> CreatedTokenOut:
    async with call.uow() as uow:
        created = await uc.create_token(uow, call.actor, cmd, random=call.env.random)
    return CreatedTokenOut.model_validate(created)


async def _list(call: Call, user: str | None, kind: str | None, active: bool) -> TokenList:
    cmd = uc.ListTokens(user=user, kind=kind, include_revoked=not active)
    await call.state.runtime.tokens.flush_uses()  # this process's recent uses count too
    async with call.uow() as uow:
        views = await uc.list_tokens(uow, call.actor, cmd)
    return TokenList(items=[TokenOut.model_validate(v) for v in views])


async def _revoke(call: Call, user: str, token_id: str, kind: str) -> TokenOut:
    async with call.uow() as uow:
        view = await uc.revoke_token(uow, call.actor, uc.RevokeToken(token_id, user, kind))
    return TokenOut.model_validate(view)


async def list_all(call: Call) -> TokenList:
    q = call.query(TokenQuery)
    return await _list(call, q.user, q.kind, q.active)


async def list_pats(call: Call) -> TokenList:
    return await _list(call, call.params(UserPath).name, "pat", call.query(ActiveQuery).active)


async def create_pat(call: Call) -> CreatedTokenOut:
    return await _created(call, _create(call, call.params(UserPath).name))


async def revoke_pat(call: Call) -> TokenOut:
    p = call.params(UserTokenPath)
    return await _revoke(call, p.name, p.token_id, "pat")


async def list_refresh(call: Call) -> TokenList:
    user = call.params(UserPath).name
    return await _list(call, user, "refresh", call.query(ActiveQuery).active)


async def revoke_refresh(call: Call) -> TokenOut:
    p = call.params(UserTokenPath)
    return await _revoke(call, p.name, p.token_id, "refresh")


async def my_pats(call: Call) -> TokenList:
    return await _list(call, call.actor.name, "pat", call.query(ActiveQuery).active)


async def create_my_pat(call: Call) -> CreatedTokenOut:
    return await _created(call, _create(call, call.actor.name))


async def revoke_my_pat(call: Call) -> TokenOut:
    return await _revoke(call, call.actor.name, call.params(TokenPath).token_id, "pat")


async def my_refresh(call: Call) -> TokenList:
    return await _list(call, call.actor.name, "refresh", call.query(ActiveQuery).active)


async def revoke_my_refresh(call: Call) -> TokenOut:
    return await _revoke(call, call.actor.name, call.params(TokenPath).token_id, "refresh")


_REVOKE = {
    "revoke": Link(
        "revokeUserToken",
        {"name": "$request.path.name", "token_id": "$response.body#/token/id"},
    )
}
_REVOKE_MINE = {"revoke": Link("revokeMyToken", {"token_id": "$response.body#/token/id"})}
W, R = Permission.TOKENS_WRITE, Permission.TOKENS_READ

LIST_USER_TOKENS = Operation(
    "GET", "/users/{name}/tokens", "listUserTokens", "A user's or robot's access tokens",
    "tokens", list_pats, R, params=UserPath, query=ActiveQuery, out=TokenList,
)  # fmt: skip
CREATE_USER_TOKEN = Operation(
    "POST", "/users/{name}/tokens", "createUserToken",
    "Create an access token for a user or robot; the secret is shown once", "tokens",
    create_pat, W, params=UserPath, body=TokenIn, out=CreatedTokenOut, status=201,
    links=_REVOKE,
)  # fmt: skip
REVOKE_USER_TOKEN = Operation(
    "DELETE", "/users/{name}/tokens/{token_id}", "revokeUserToken", "Revoke an access token",
    "tokens", revoke_pat, W, params=UserTokenPath, out=TokenOut,
)  # fmt: skip
LIST_USER_REFRESH = Operation(
    "GET", "/users/{name}/refresh-tokens", "listUserRefreshTokens",
    "A user's refresh tokens (docker login sessions)", "tokens",
    list_refresh, R, params=UserPath, query=ActiveQuery, out=TokenList,
)  # fmt: skip
REVOKE_USER_REFRESH = Operation(
    "DELETE", "/users/{name}/refresh-tokens/{token_id}", "revokeUserRefreshToken",
    "Revoke a refresh token", "tokens", revoke_refresh, W, params=UserTokenPath, out=TokenOut,
)  # fmt: skip

OPERATIONS = (
    Operation(
        "GET", "/tokens", "listTokens", "Every token (never a secret), with last use", "tokens",
        list_all, R, query=TokenQuery, out=TokenList,
    ),
    LIST_USER_TOKENS,
    CREATE_USER_TOKEN,
    REVOKE_USER_TOKEN,
    LIST_USER_REFRESH,
    REVOKE_USER_REFRESH,
    as_mine(LIST_USER_TOKENS, "listMyTokens", "My access tokens", my_pats),
    as_mine(
        CREATE_USER_TOKEN, "createMyToken", "Create an access token; the secret is shown once",
        create_my_pat, links=_REVOKE_MINE,
    ),
    as_mine(REVOKE_USER_TOKEN, "revokeMyToken", "Revoke one of my access tokens", revoke_my_pat),
    as_mine(LIST_USER_REFRESH, "listMyRefreshTokens", "My refresh tokens", my_refresh),
    as_mine(
        REVOKE_USER_REFRESH, "revokeMyRefreshToken", "Revoke one of my refresh tokens",
        revoke_my_refresh,
    ),
)  # fmt: skip
