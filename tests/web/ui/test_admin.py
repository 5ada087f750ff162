"""Admin pages over the admin layer: users, groups, rules with lint, check access, keys."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import Instance
from tests.web.test_token_get import SERVICE
from tests.web.ui.conftest import page_csrf, post, second_browser, sign_in
from tests.web.ui.test_tokens import changes


@pytest.fixture
def admin(ui: TestClient, instance: Instance) -> TestClient:
    instance.add_user("root", "root-pw", ("admins",))
    r = sign_in(ui, "root", "root-pw")
    assert r.status_code == 303
    return ui


def test_admin_adds_a_user_who_can_then_sign_in(admin: TestClient, instance: Instance) -> None:
    csrf = page_csrf(admin, "/ui/admin/users")
    r = post(
        admin,
        "/ui/admin/users",
        {"csrf": csrf, "name": "carol", "password": "carol-password", "groups": "dev"},
    )
    assert (r.status_code, r.headers["location"]) == (303, "/ui/admin/users?q=carol&notice=saved")
    shown = admin.get(r.headers["location"])
    assert "carol" in shown.text and "dev" in shown.text and "carol-password" not in shown.text
    [change] = [c for c in changes(instance) if c.kind == "user:add"]
    assert (change.actor_kind, change.actor_name, change.subject) == ("user", "root", "carol")
    assert "carol-password" not in (change.after or "") and "argon2" not in (change.after or "")
    admin.cookies.clear()
    assert sign_in(admin, "carol", "carol-password").status_code == 303


def test_invalid_user_form_names_the_fields(admin: TestClient) -> None:
    csrf = page_csrf(admin, "/ui/admin/users")
    r = post(admin, "/ui/admin/users", {"csrf": csrf, "name": "Bad Name!", "password": "x"})
    assert r.status_code == 422
    assert "at least 8 characters" in r.text


def test_shadowed_rule_shows_its_lint_warning_next_to_it(admin: TestClient) -> None:
    csrf = page_csrf(admin, "/ui/admin/rules")
    first = {"csrf": csrf, "owner_kind": "group", "owner": "dev", "name": "team/**"}
    r = post(admin, "/ui/admin/rules", {**first, "action_pull": "on", "action_push": "on"})
    assert r.status_code == 303
    second = {**first, "name": "team/secret/**", "deny": "on", "comment": "no secrets"}
    assert post(admin, "/ui/admin/rules", second).status_code == 303
    page = admin.get("/ui/admin/rules").text
    rows = re.findall(r'<tr id="rule-(\d+)">(.*?)</tr>', page, re.DOTALL)
    assert len(rows) == 2
    assert "deny never applies" not in rows[0][1]
    assert "deny never applies" in rows[1][1]  # next to the rule it concerns


def test_rules_can_be_moved_and_removed(admin: TestClient, instance: Instance) -> None:
    csrf = page_csrf(admin, "/ui/admin/rules")
    base = {"csrf": csrf, "owner_kind": "user", "owner": "alice", "action_pull": "on"}
    post(admin, "/ui/admin/rules", {**base, "name": "a/**"})
    post(admin, "/ui/admin/rules", {**base, "name": "b/**"})
    ids = re.findall(r'<tr id="rule-(\d+)">', admin.get("/ui/admin/rules").text)
    r = post(admin, f"/ui/admin/rules/{ids[1]}/move", {"csrf": csrf, "position": "1"})
    assert r.status_code == 303
    page = admin.get("/ui/admin/rules").text
    assert page.index("b/**") < page.index("a/**")
    assert post(admin, f"/ui/admin/rules/{ids[0]}/remove", {"csrf": csrf}).status_code == 303
    assert "a/**" not in admin.get("/ui/admin/rules").text
    kinds = [c.kind for c in changes(instance) if c.kind.startswith("rule:")]
    assert kinds == ["rule:add", "rule:add", "rule:move", "rule:remove"]


def test_invalid_rule_is_refused_with_the_field(admin: TestClient) -> None:
    csrf = page_csrf(admin, "/ui/admin/rules")
    r = post(admin, "/ui/admin/rules", {"csrf": csrf, "owner_kind": "user", "owner": "alice"})
    assert r.status_code == 422
    assert "The rule was not added" in r.text


def test_check_access_shows_the_deciding_rule(admin: TestClient) -> None:
    r = admin.get(
        "/ui/admin/check",
        params={"user": "bob", "scope": "repository:team/app:pull,push", "service": SERVICE},
    )
    assert r.status_code == 200
    assert "Decision for bob" in r.text
    assert "config:" in r.text  # the global rule that decided, named in the trace
    denied = admin.get(
        "/ui/admin/check",
        params={"user": "alice", "scope": "repository:secret/x:pull", "service": SERVICE},
    )
    assert "explicit deny" in denied.text
    bad = admin.get("/ui/admin/check", params={"scope": "nonsense", "service": SERVICE})
    assert bad.status_code == 422


def test_groups_and_members(admin: TestClient, instance: Instance) -> None:
    csrf = page_csrf(admin, "/ui/admin/groups")
    assert post(admin, "/ui/admin/groups", {"csrf": csrf, "name": "ops"}).status_code == 303
    r = post(admin, "/ui/admin/groups/ops/members", {"csrf": csrf, "user": "alice"})
    assert r.status_code == 303
    assert re.search(r"ops</strong></td>\s*<td>.*alice", admin.get("/ui/admin/groups").text, re.S)
    bad = post(admin, "/ui/admin/groups", {"csrf": csrf, "name": "Not OK"})
    assert bad.status_code == 422


def test_keys_page_rotates_and_downloads(admin: TestClient, instance: Instance) -> None:
    before = admin.get("/ui/admin/keys").text
    current = re.search(r'<dt>Key</dt><dd class="mono">([^<]+)</dd>', before)
    assert current is not None
    instance.clock.advance(seconds=5)
    r = post(admin, "/ui/admin/keys/rotate", {"csrf": page_csrf(admin, "/ui/admin/keys")})
    assert r.status_code == 303
    after = admin.get("/ui/admin/keys").text
    assert after.count(current.group(1)) == 1  # now among the previous keys
    bundle = admin.get("/ui/admin/keys/registry-bundle.pem")
    assert bundle.status_code == 200 and b"BEGIN CERTIFICATE" in bundle.content
    assert "attachment" in bundle.headers["content-disposition"]
    assert admin.get("/ui/admin/keys/jwks.json").json()["keys"]


@pytest.mark.parametrize(
    "url", ["/ui/admin/users", "/ui/admin/rules", "/ui/admin/groups", "/ui/admin/keys"]
)
def test_admin_pages_refuse_other_users(ui: TestClient, url: str) -> None:
    sign_in(ui, "alice", "alice-pw")
    r = ui.get(url)
    assert r.status_code == 403 and "admin.forbidden" in r.text
    assert "Admin" not in ui.get("/ui/").text.split("<main")[0]  # no admin link for her


def test_admin_posts_refuse_other_users(ui: TestClient) -> None:
    sign_in(ui, "alice", "alice-pw")
    csrf = page_csrf(ui)
    r = post(ui, "/ui/admin/groups", {"csrf": csrf, "name": "mine"})
    assert r.status_code == 403


def test_audit_filters_and_shows_the_trace(instance: Instance) -> None:
    instance.add_user("root", "root-pw", ("admins",))
    with instance.client() as c:  # the audit batch is written when the app stops
        scope = {"service": SERVICE, "scope": "repository:bob/app:pull,push"}
        assert c.get("/token", params=scope, auth=("bob", "bob-pw")).status_code == 200
        other = {"service": SERVICE, "scope": "repository:team/x:pull"}
        assert c.get("/token", params=other, auth=("bob", "wrong")).status_code == 401
    with instance.client() as c:
        sign_in(c, "root", "root-pw")
        every = c.get("/ui/admin/audit", params={"user": "bob"}).text
        assert every.count("<details>") == 2
        assert "auth.invalid_credential" in every and "wrong" not in every
        assert "<strong>account</strong>" in every  # the stage of the trace
        denied = c.get("/ui/admin/audit", params={"user": "bob", "outcome": "denied"}).text
        assert denied.count("<details>") == 1
        repo = c.get("/ui/admin/audit", params={"repository": "bob/app"}).text
        assert repo.count("<details>") == 1 and "repository:bob/app:pull,push" in repo
        later = c.get("/ui/admin/audit", params={"since": "2030-01-01T00:00"}).text
        assert "<details>" not in later
        bad = c.get("/ui/admin/audit", params={"since": "yesterday"})
        assert bad.status_code == 422


def test_users_list_search_disable_and_attributes(admin: TestClient, instance: Instance) -> None:
    listed = admin.get("/ui/admin/users").text
    assert all(name in listed for name in ("alice", "bob", "root"))
    one = admin.get("/ui/admin/users", params={"q": "ali"}).text
    assert '<h2 id="user-title">alice' in one  # a single match is shown in full
    csrf = page_csrf(admin, "/ui/admin/users?q=alice")
    r = post(admin, "/ui/admin/users/alice/update", {"csrf": csrf, "action": "disable"})
    assert r.status_code == 303
    assert "disabled" in admin.get("/ui/admin/users", params={"q": "alice"}).text
    scope = {"service": SERVICE, "scope": "repository:alice/x:pull"}
    assert admin.get("/token", params=scope, auth=("alice", "alice-pw")).status_code == 401
    attrs = {"csrf": csrf, "action": "attributes", "attributes": "plan=pro\nlicense=L-1\n"}
    assert post(admin, "/ui/admin/users/alice/update", attrs).status_code == 303
    shown = admin.get("/ui/admin/users", params={"q": "alice"}).text
    assert "<dt>plan</dt><dd>pro</dd>" in shown
    bad = {"csrf": csrf, "action": "attributes", "attributes": "no equals sign"}
    assert post(admin, "/ui/admin/users/alice/update", bad).status_code == 422
    kinds = [c.kind for c in changes(instance) if c.subject == "alice"]
    assert kinds == ["user:update", "user:update"]


def test_a_disabled_users_session_ends(ui: TestClient, instance: Instance) -> None:
    sign_in(ui, "alice", "alice-pw")
    other = second_browser(ui)
    instance.add_user("root", "root-pw", ("admins",))
    sign_in(other, "root", "root-pw")
    csrf = page_csrf(other, "/ui/admin/users?q=alice")
    post(other, "/ui/admin/users/alice/update", {"csrf": csrf, "action": "disable"})
    assert ui.get("/ui/", follow_redirects=False).status_code == 303
