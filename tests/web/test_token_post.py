"""POST /token (OAuth2 password and refresh_token grants) and refresh-token lifecycle."""

from __future__ import annotations

import anyio
import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from regauth.runtime import Runtime
from regauth.store import Database, TokenStore, UserStore
from tests.conftest import Instance
from tests.web.test_token_get import SERVICE, assert_problem, basic, decode, get_token

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def flush_uses(client: TestClient) -> None:
    """Write the token uses the server only remembered (its background task does it each second)."""
    assert client.portal is not None
    runtime: Runtime = client.app.app.state.regauth.runtime  # type: ignore[attr-defined]
    client.portal.call(runtime.tokens.flush_uses)


def post(client: TestClient, **form: str) -> httpx.Response:
    form.setdefault("service", SERVICE)
    return client.post("/token", data=form, headers=FORM)


def password_grant(
    client: TestClient, user: str, password: str, scope: str, **extra: str
) -> httpx.Response:
    return post(
        client,
        grant_type="password",
        username=user,
        password=password,
        scope=scope,
        client_id="containerd-client",
        **extra,
    )


def test_password_grant_like_containerd(client: TestClient) -> None:
    r = password_grant(
        client, "alice", "alice-pw", "repository:alice/app:pull repository:alice/app:pull,push"
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["access_token"] == body["token"]
    assert "refresh_token" not in body
    assert decode(body["access_token"])[1]["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}
    ]


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        (
            {"grant_type": "password", "username": "alice", "password": "nope"},
            401,
            "auth.invalid_credential",
        ),
        (
            {"grant_type": "password", "username": "", "password": "x"},
            401,
            "auth.missing_credential",
        ),
        ({"grant_type": "client_credentials"}, 400, "request.unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, 401, "auth.missing_credential"),
        (
            {"grant_type": "refresh_token", "refresh_token": "regauth_rt_forged"},
            401,
            "auth.invalid_credential",
        ),
        (
            {"grant_type": "password", "username": "alice", "password": "alice-pw", "scope": "bad"},
            400,
            "request.malformed_scope",
        ),
    ],
)
def test_post_errors(client: TestClient, form: dict[str, str], status: int, code: str) -> None:
    assert_problem(post(client, **form), status, code)


def test_post_needs_a_form_body(client: TestClient) -> None:
    r = client.post("/token", json={"grant_type": "password"})
    assert_problem(r, 400, "request.malformed")


def test_offline_get_returns_a_reusable_refresh_token(
    client: TestClient, instance: Instance
) -> None:
    r = get_token(
        client,
        auth=basic("alice", "alice-pw"),
        offline_token="true",
        client_id="docker",
        account="alice",
    )
    refresh = r.json()["refresh_token"]
    assert refresh.startswith("regauth_rt_")
    for _ in range(2):  # reusable
        r2 = post(
            client,
            grant_type="refresh_token",
            refresh_token=refresh,
            scope="repository:alice/x:pull",
            client_id="docker",
        )
        assert r2.status_code == 200, r2.text
        assert decode(r2.json()["access_token"])[1]["sub"] == "alice"
    offline = post(client, grant_type="refresh_token", refresh_token=refresh, access_type="offline")
    assert offline.json()["refresh_token"] == refresh
    assert refresh not in _all_token_rows(instance)  # stored hashed only


def test_offline_post_password_grant_returns_refresh_token(client: TestClient) -> None:
    r = password_grant(client, "alice", "alice-pw", "", access_type="offline")
    assert r.json()["refresh_token"].startswith("regauth_rt_")


def test_anonymous_never_gets_a_refresh_token(client: TestClient) -> None:
    r = get_token(client, "repository:public/a:pull", offline_token="true", client_id="docker")
    assert "refresh_token" not in r.json()


def test_revoked_refresh_token_stops_working(client: TestClient, instance: Instance) -> None:
    refresh = get_token(client, auth=basic("alice", "alice-pw"), offline_token="true").json()[
        "refresh_token"
    ]

    async def revoke() -> None:
        db = Database(instance.settings.database_url)
        tokens = TokenStore(db, instance.clock)
        (record,) = await tokens.list(user_name="alice", kind="refresh")
        assert record.last_used_at is None
        assert await tokens.revoke(record.id)
        await db.dispose()

    anyio.run(revoke)
    r = post(client, grant_type="refresh_token", refresh_token=refresh)
    assert_problem(r, 401, "auth.invalid_credential")


def test_refresh_token_of_disabled_user_stops_working(
    client: TestClient, instance: Instance
) -> None:
    refresh = get_token(client, auth=basic("alice", "alice-pw"), offline_token="true").json()[
        "refresh_token"
    ]

    async def disable() -> None:
        db = Database(instance.settings.database_url)
        await UserStore(db, instance.clock).set_disabled("alice", True)
        await db.dispose()

    anyio.run(disable)
    assert_problem(
        post(client, grant_type="refresh_token", refresh_token=refresh),
        401,
        "auth.invalid_credential",
    )


def test_refresh_token_expires(client: TestClient, instance: Instance) -> None:
    refresh = get_token(client, auth=basic("alice", "alice-pw"), offline_token="true").json()[
        "refresh_token"
    ]
    instance.clock.advance(days=91)
    assert_problem(
        post(client, grant_type="refresh_token", refresh_token=refresh), 401, "auth.token_expired"
    )


def test_refresh_token_records_last_use(client: TestClient, instance: Instance) -> None:
    refresh = get_token(client, auth=basic("alice", "alice-pw"), offline_token="true").json()[
        "refresh_token"
    ]
    post(client, grant_type="refresh_token", refresh_token=refresh)
    used_at = instance.clock.now()
    instance.clock.advance(seconds=5)

    async def unwritten() -> None:  # remembered, not yet written: the request did not wait
        db = Database(instance.settings.database_url)
        (record,) = await TokenStore(db, instance.clock).list(user_name="alice")
        assert record.last_used_at is None
        await db.dispose()

    anyio.run(unwritten)
    flush_uses(client)

    async def check() -> None:
        db = Database(instance.settings.database_url)
        (record,) = await TokenStore(db, instance.clock).list(user_name="alice")
        assert record.last_used_at == used_at
        assert record.last_used_addr == "testclient"
        await db.dispose()

    anyio.run(check)


def test_refresh_token_for_another_username_is_refused(client: TestClient) -> None:
    refresh = get_token(client, auth=basic("alice", "alice-pw"), offline_token="true").json()[
        "refresh_token"
    ]
    r = post(client, grant_type="refresh_token", refresh_token=refresh, username="bob")
    assert_problem(r, 401, "auth.invalid_credential")


def _all_token_rows(instance: Instance) -> str:
    from sqlalchemy import text

    engine = Database(instance.settings.database_url).sync_engine()
    try:
        with engine.connect() as conn:
            return repr(conn.execute(text("select * from tokens")).all())
    finally:
        engine.dispose()
