"""My access: personal access tokens through the UI (create once-shown, list, revoke)."""

from __future__ import annotations

import re

import anyio
from sqlalchemy import select
from starlette.testclient import TestClient

from regauth.store import Database
from regauth.store.models_admin import ChangeRow
from tests.conftest import Instance
from tests.web.test_token_get import SERVICE
from tests.web.ui.conftest import page_csrf, post, second_browser, sign_in

SECRET = re.compile(r"regauth_pat_[A-Za-z0-9_-]+")


def changes(instance: Instance) -> list[ChangeRow]:
    async def main() -> list[ChangeRow]:
        db = Database(instance.settings.database_url)
        try:
            async with db.session() as s:
                return list(await s.scalars(select(ChangeRow).order_by(ChangeRow.id)))
        finally:
            await db.dispose()

    return anyio.run(main)


def create(ui: TestClient, **fields: str) -> str:
    data = {"csrf": page_csrf(ui), "name": "laptop", "expires_days": "30", **fields}
    r = post(ui, "/ui/tokens", data)
    assert r.status_code == 200, r.text
    found = SECRET.search(r.text)
    assert found is not None
    assert "docker login" in r.text and "--username alice --password-stdin" in r.text
    return found.group(0)


def test_create_use_and_revoke_a_token(ui: TestClient, instance: Instance) -> None:
    sign_in(ui, "alice", "alice-pw")
    secret = create(ui, rule0_name="alice/**", rule0_pull="on")
    home = ui.get("/ui/")
    assert "laptop" in home.text and secret not in home.text  # shown once, never listed
    scope = {"service": SERVICE, "scope": "repository:alice/app:pull,push"}
    r = ui.get("/token", params=scope, auth=("alice", secret))
    assert r.status_code == 200
    token_id = re.search(r"/ui/tokens/([0-9a-f]+)/revoke", home.text)
    assert token_id is not None
    r = post(ui, f"/ui/tokens/{token_id.group(1)}/revoke", {"csrf": page_csrf(ui)})
    assert (r.status_code, r.headers["location"]) == (303, "/ui/?notice=revoked")
    assert ui.get("/token", params=scope, auth=("alice", secret)).status_code == 401
    kinds = [(c.kind, c.actor_kind, c.actor_name) for c in changes(instance)]
    assert kinds == [("token:create", "user", "alice"), ("token:revoke", "user", "alice")]
    assert all(secret not in (c.after or "") + (c.before or "") for c in changes(instance))


def test_invalid_token_form_names_the_fields(ui: TestClient) -> None:
    sign_in(ui, "alice", "alice-pw")
    r = post(
        ui,
        "/ui/tokens",
        {"csrf": page_csrf(ui), "name": "x", "expires_days": "0", "rule1_push": "on"},
    )
    assert r.status_code == 422
    assert "choose a number of days" in r.text
    assert "name the repositories this rule is about" in r.text
    assert SECRET.search(r.text) is None


def test_someone_elses_token_is_not_found(ui: TestClient, instance: Instance) -> None:
    sign_in(ui, "bob", "bob-pw")
    create_bob = post(ui, "/ui/tokens", {"csrf": page_csrf(ui), "name": "b", "expires_days": "7"})
    assert create_bob.status_code == 200
    bob_home = ui.get("/ui/").text
    found = re.search(r"/ui/tokens/([0-9a-f]+)/revoke", bob_home)
    assert found is not None
    ui.cookies.clear()
    sign_in(ui, "alice", "alice-pw")
    r = post(ui, f"/ui/tokens/{found.group(1)}/revoke", {"csrf": page_csrf(ui)})
    assert r.status_code == 404 and "admin.not_found" in r.text


def test_creating_without_csrf_token_is_refused(ui: TestClient) -> None:
    sign_in(ui, "alice", "alice-pw")
    r = post(ui, "/ui/tokens", {"name": "x", "expires_days": "7"})
    assert r.status_code == 403
    assert SECRET.search(r.text) is None


def test_what_can_i_do_lists_my_rules_in_order(ui: TestClient) -> None:
    sign_in(ui, "bob", "bob-pw")
    r = ui.get("/ui/access")
    assert r.status_code == 200
    text = r.text
    assert "bob/**" in text  # ${account}/** filled in
    assert "team/**" in text  # the dev group's rule
    assert "public/**" not in text  # only for anonymous callers
    assert text.index("bob/**") < text.index("team/**")  # config order


def test_registry_setup_page_shows_the_blocks(ui: TestClient) -> None:
    sign_in(ui, "alice", "alice-pw")
    r = ui.get("/ui/setup")
    assert r.status_code == 200
    assert "realm: http://testserver/token" in r.text
    assert f"service: {SERVICE}" in r.text and "issuer: test-issuer" in r.text
    # no [events.registry] secret here: the page says what to configure instead of a block
    assert "Registry notifications are not configured" in r.text
    assert "notifications:" not in r.text


def test_change_password_signs_out_other_browsers(ui: TestClient, instance: Instance) -> None:
    other = second_browser(ui)
    sign_in(other, "alice", "alice-pw")
    sign_in(ui, "alice", "alice-pw")
    csrf = page_csrf(ui, "/ui/password")
    wrong = post(
        ui,
        "/ui/password",
        {"csrf": csrf, "current": "nope", "new": "n3w-password", "again": "n3w-password"},
    )
    assert wrong.status_code == 401
    short = post(
        ui, "/ui/password", {"csrf": csrf, "current": "alice-pw", "new": "short", "again": "short"}
    )
    assert short.status_code == 422
    r = post(
        ui,
        "/ui/password",
        {"csrf": csrf, "current": "alice-pw", "new": "n3w-password", "again": "n3w-password"},
    )
    assert (r.status_code, r.headers["location"]) == (303, "/ui/?notice=password")
    assert ui.get("/ui/").status_code == 200  # this browser stays signed in
    assert other.get("/ui/", follow_redirects=False).status_code == 303  # the other one is out
    scope = {"service": SERVICE, "scope": "repository:alice/x:pull"}
    assert ui.get("/token", params=scope, auth=("alice", "n3w-password")).status_code == 200
    assert ui.get("/token", params=scope, auth=("alice", "alice-pw")).status_code == 401
    [change] = [c for c in changes(instance) if c.kind == "user:password"]
    assert change.actor_name == "alice" and "n3w-password" not in (change.after or "")
