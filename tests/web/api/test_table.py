"""The route table's /me twins: same models as the admin operation, the caller's own things."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from regauth.web.api import OPERATIONS
from regauth.web.api.access import RequestPath
from regauth.web.api.models import TokenPath, UserTokenPath
from regauth.web.api.table import Link, Operation, as_mine
from regauth.web.api.tokens import CREATE_USER_TOKEN, REVOKE_USER_TOKEN, TokenIn


def test_a_twin_keeps_the_models_and_drops_the_user() -> None:
    link = {"revoke": Link("revokeMyToken", {"token_id": "$response.body#/token/id"})}
    twin = as_mine(CREATE_USER_TOKEN, "createMine", "Mine", CREATE_USER_TOKEN.handler, link)
    assert (twin.method, twin.path, twin.tag, twin.permission) == ("POST", "/me/tokens", "me", None)
    assert twin.self_service and twin.params is None
    assert (twin.body, twin.out, twin.status) == (TokenIn, CREATE_USER_TOKEN.out, 201)
    assert twin.links == link
    revoke = as_mine(REVOKE_USER_TOKEN, "revokeMine", "Mine", REVOKE_USER_TOKEN.handler)
    assert revoke.path == "/me/tokens/{token_id}" and revoke.params is TokenPath
    assert revoke.links == {}


@pytest.mark.parametrize(
    ("path", "params"),
    [("/groups/{group}", None), ("/users/{name}", None), ("/tokens", UserTokenPath)],
)
def test_only_an_operation_on_a_user_has_a_twin(path: str, params: type[BaseModel] | None) -> None:
    op = Operation("GET", path, "x", "x", "x", CREATE_USER_TOKEN.handler, None, params=params)
    with pytest.raises(ValueError, match="not an operation on a user"):
        as_mine(op, "y", "y", op.handler)


def test_every_me_operation_is_self_service_without_a_user_parameter() -> None:
    mine = [op for op in OPERATIONS if op.path.startswith("/me")]
    assert len(mine) == 10
    for op in mine:
        assert op.tag == "me" and op.self_service, op.operation_id
        assert op.params in (None, TokenPath, RequestPath), op.operation_id
