"""Users, groups, rules (ETag / If-Match), audit and check through /api/v1."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.conftest import Instance
from tests.web.api.conftest import ADMIN, ALICE, BOB, OPS, assert_problem, basic
from tests.web.test_token_get import SERVICE


def test_user_lifecycle(api: TestClient) -> None:
    r = api.post(
        "/api/v1/users",
        json={"name": "carol", "password": "carol-password", "groups": ["dev"]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    carol = r.json()
    assert carol["name"] == "carol" and carol["groups"] == ["dev"] and carol["has_password"]
    assert "carol-password" not in r.text and "$argon2" not in r.text
    assert_problem(
        api.post("/api/v1/users", json={"name": "carol", "password": "x" * 8}, headers=ADMIN),
        409,
        "admin.conflict",
    )
    token_query = {"service": SERVICE, "scope": "repository:carol/x:pull"}
    assert api.get(
        "/token", params=token_query, headers=basic("carol", "carol-password")
    ).is_success
    r = api.patch(
        "/api/v1/users/carol",
        json={"disabled": True, "attributes": {"plan": "gold"}},
        headers=OPS,
    )
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True and r.json()["attributes"] == {"plan": "gold"}
    refused = api.get("/token", params=token_query, headers=basic("carol", "carol-password"))
    assert_problem(refused, 401, "auth.invalid_credential")
    r = api.patch(
        "/api/v1/users/carol", json={"disabled": False, "password": "new-password"}, headers=ADMIN
    )
    assert r.status_code == 200
    assert api.get("/token", params=token_query, headers=basic("carol", "new-password")).is_success
    shown = api.get("/api/v1/users/carol", headers=ADMIN).json()
    assert shown["failures"] == 0 and shown["locked_until"] is None
    r = api.delete("/api/v1/users/carol", headers=ADMIN)
    assert r.status_code == 200 and r.json()["name"] == "carol"
    assert_problem(api.get("/api/v1/users/carol", headers=ADMIN), 404, "admin.not_found")


def test_robot_and_validation(api: TestClient) -> None:
    r = api.post("/api/v1/users", json={"name": "ci-bot", "robot": True}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["kind"] == "robot"
    assert not r.json()["has_password"]
    for body, field in [
        ({"name": "Bad Name", "password": "long-enough"}, "name"),
        ({"name": "dave"}, "body"),
        ({"name": "dave", "password": "short"}, "password"),
        ({"name": "dave", "password": "long-enough", "groups": ["UPPER"]}, "groups[0]"),
    ]:
        problem = assert_problem(
            api.post("/api/v1/users", json=body, headers=ADMIN), 422, "admin.invalid"
        )
        assert field in {e["field"] for e in problem["errors"]}, problem


def test_list_users_pages_with_a_cursor(api: TestClient) -> None:
    for name in ("u1", "u2", "u3"):
        api.post("/api/v1/users", json={"name": name, "robot": True}, headers=ADMIN)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/users", params=params, headers=ADMIN).json()
        seen += [u["name"] for u in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ["admin", "alice", "bob", "u1", "u2", "u3"]
    only = api.get("/api/v1/users", params={"filter": "u", "group": "dev"}, headers=ADMIN)
    assert [u["name"] for u in only.json()["items"]] == []
    dev = api.get("/api/v1/users", params={"group": "dev"}, headers=ADMIN).json()["items"]
    assert [u["name"] for u in dev] == ["alice"]


def test_unlock_clears_throttling(api: TestClient, instance: Instance) -> None:
    params = {"service": SERVICE, "scope": "repository:bob/x:pull"}
    for _ in range(3):
        api.get("/token", params=params, headers=basic("bob", "wrong"))
    assert api.get("/api/v1/users/bob", headers=ADMIN).json()["failures"] == 3
    r = api.post("/api/v1/users/bob/unlock", headers=ADMIN)
    assert r.status_code == 200 and r.json() == {"name": "bob", "cleared_failures": 3}
    assert api.get("/api/v1/users/bob", headers=ADMIN).json()["failures"] == 0


def test_me_and_password_change(api: TestClient) -> None:
    me = api.get("/api/v1/me", headers=ALICE).json()
    assert me["name"] == "alice" and me["groups"] == ["dev"]
    wrong = api.post(
        "/api/v1/me/password",
        json={"current_password": "nope", "new_password": "alice-new-pw"},
        headers=ALICE,
    )
    assert_problem(wrong, 422, "admin.invalid")
    r = api.post(
        "/api/v1/me/password",
        json={"current_password": "alice-pw", "new_password": "alice-new-pw"},
        headers=ALICE,
    )
    assert r.status_code == 204, r.text
    assert_problem(api.get("/api/v1/me", headers=ALICE), 401, "auth.invalid_credential")
    assert api.get("/api/v1/me", headers=basic("alice", "alice-new-pw")).status_code == 200
    assert_problem(api.get("/api/v1/me", headers=OPS), 403, "auth.scope_denied")


def test_groups(api: TestClient) -> None:
    assert api.post("/api/v1/groups", json={"name": "ops"}, headers=ADMIN).status_code == 201
    r = api.put("/api/v1/groups/ops/members/bob", headers=ADMIN)
    assert r.status_code == 200 and r.json() == {"name": "ops", "members": ["bob"]}
    listed = api.get("/api/v1/groups", headers=ADMIN).json()["items"]
    assert {"name": "ops", "members": ["bob"]} in listed
    r = api.delete("/api/v1/groups/ops/members/bob", headers=ADMIN)
    assert r.json()["members"] == []
    assert api.delete("/api/v1/groups/ops", headers=ADMIN).status_code == 200
    assert_problem(api.delete("/api/v1/groups/ops", headers=ADMIN), 404, "admin.not_found")


def add_rule(
    api: TestClient, headers: dict[str, str] | None = None, **rule: object
) -> dict[str, object]:
    r = api.post("/api/v1/rules", json=rule, headers={**ADMIN, **(headers or {})})
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_rules_ordered_insert_move_remove_and_lint(api: TestClient) -> None:
    first = add_rule(api, user="alice", name="team/**", actions=["pull", "push"])
    assert first["findings"] == []
    deny = add_rule(api, user="alice", name="team/secret/**", deny=True)
    findings = deny["findings"]
    assert isinstance(findings, list) and findings, "a deny after the covering allow is linted"
    top = add_rule(api, user="alice", name="x/**", actions=["pull"], position=1)
    listed = api.get("/api/v1/rules", params={"user": "alice"}, headers=ADMIN).json()
    assert [(r["name"], r["position"]) for r in listed["items"]] == [
        ("x/**", 1),
        ("team/**", 2),
        ("team/secret/**", 3),
    ]
    assert listed["global_rules"][0]["name"] == "${account}/**"
    deny_rule = deny["rule"]
    assert isinstance(deny_rule, dict)
    moved = api.put(
        f"/api/v1/rules/{deny_rule['id']}/position", json={"position": 1}, headers=ADMIN
    )
    assert moved.status_code == 200 and moved.json()["position"] == 1
    lint = api.get("/api/v1/rules/lint", params={"user": "alice"}, headers=ADMIN).json()
    assert all("alice" not in f["list"] or "secret" not in f["message"] for f in lint["findings"])
    top_rule = top["rule"]
    assert isinstance(top_rule, dict)
    assert api.delete(f"/api/v1/rules/{top_rule['id']}", headers=ADMIN).status_code == 200
    assert_problem(
        api.delete(f"/api/v1/rules/{top_rule['id']}", headers=ADMIN), 404, "admin.not_found"
    )
    # the stored rules decide /token
    params = {"service": SERVICE, "scope": "repository:team/secret/x:pull"}
    granted = api.get("/token", params=params, headers=ALICE).json()["token"]
    assert granted


def test_concurrent_rule_edits_are_detected(api: TestClient) -> None:
    add_rule(api, group="dev", name="team/**", actions=["pull"])
    read = api.get("/api/v1/rules", params={"group": "dev"}, headers=ADMIN)
    etag = read.headers["etag"]
    assert etag == f'"{read.json()["version"]}"'
    # someone else inserts a rule into the same list
    second = add_rule(api, headers={"If-Match": etag}, group="dev", name="a/**", actions=["pull"])
    rule = second["rule"]
    assert isinstance(rule, dict)
    # the first reader's version is stale now: 412, nothing written
    stale = api.post(
        "/api/v1/rules",
        json={"group": "dev", "name": "b/**", "actions": ["pull"]},
        headers={**ADMIN, "If-Match": etag},
    )
    assert_problem(stale, 412, "admin.stale")
    assert_problem(
        api.delete(f"/api/v1/rules/{rule['id']}", headers={**ADMIN, "If-Match": etag}),
        412,
        "admin.stale",
    )
    assert (
        len(api.get("/api/v1/rules", params={"group": "dev"}, headers=ADMIN).json()["items"]) == 2
    )
    fresh = api.get("/api/v1/rules", params={"group": "dev"}, headers=ADMIN).headers["etag"]
    r = api.delete(f"/api/v1/rules/{rule['id']}", headers={**ADMIN, "If-Match": fresh})
    assert r.status_code == 200 and r.headers["etag"] != fresh
    # a version of all lists is accepted too; an edit of another list does not make it stale
    everything = api.get("/api/v1/rules", headers=ADMIN).headers["etag"]
    add_rule(api, headers={"If-Match": everything}, user="bob", name="c/**", actions=["pull"])


def test_rule_validation(api: TestClient) -> None:
    for body, field in [
        ({"user": "alice", "name": "x/[", "actions": ["pull"]}, "name"),
        ({"user": "alice", "name": "x/**", "actions": ["pul"]}, "actions"),
        ({"user": "alice", "name": "x/**"}, "actions"),
        ({"name": "x/**", "actions": ["pull"]}, "owner"),
    ]:
        problem = assert_problem(
            api.post("/api/v1/rules", json=body, headers=ADMIN), 422, "admin.invalid"
        )
        assert field in {e["field"] for e in problem["errors"]}, problem


def test_a_rule_for_a_missing_owner_is_a_documented_404(api: TestClient) -> None:
    for owner in ({"group": "no-such-group"}, {"user": "no-such-user"}):
        body = {**owner, "name": "x/**", "actions": ["pull"]}
        problem = assert_problem(
            api.post("/api/v1/rules", json=body, headers=ADMIN), 404, "admin.not_found"
        )
        assert "password" not in json.dumps(problem).lower()
    spec = api.get("/api/v1/openapi.json").json()
    assert "404" in spec["paths"]["/api/v1/rules"]["post"]["responses"]


def test_check_matches_token(api: TestClient) -> None:
    add_rule(api, group="dev", name="team/**", actions=["pull", "push"])
    r = api.post(
        "/api/v1/check",
        json={
            "user": "alice",
            "scopes": ["repository:team/app:pull,push,delete"],
            "service": SERVICE,
        },
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    (grant,) = r.json()["grants"]
    assert grant["resource"] == "repository:team/app" and grant["granted"] == ["pull", "push"]
    assert grant["trace"] and grant["trace"][0]["stage"]
    bad = api.post(
        "/api/v1/check", json={"scopes": ["nonsense"], "service": SERVICE}, headers=ADMIN
    )
    assert_problem(bad, 400, "request.malformed_scope")


def test_audit_pages_filters_and_export(api: TestClient) -> None:
    params = {"service": SERVICE, "scope": "repository:alice/app:pull"}
    api.get("/token", params=params, headers=ALICE)
    api.get("/token", params=params, headers=basic("bob", "wrong"))
    api.get("/token", params={**params, "scope": "repository:bob/app:pull"}, headers=BOB)
    page = api.get("/api/v1/audit", params={"limit": "2"}, headers=ADMIN).json()
    assert len(page["items"]) == 2 and page["next"] is not None
    rest = api.get("/api/v1/audit", params={"cursor": page["next"]}, headers=ADMIN).json()
    assert len(rest["items"]) == 1 and rest["next"] is None
    denied = api.get("/api/v1/audit", params={"outcome": "denied"}, headers=ADMIN).json()["items"]
    assert [(e["subject"], e["authenticated"]) for e in denied] == [("bob", False)]
    assert "wrong" not in json.dumps(denied)
    by_repo = api.get("/api/v1/audit", params={"repository": "alice/app"}, headers=ADMIN).json()
    assert {e["subject"] for e in by_repo["items"]} == {"alice", "bob"}
    export = api.get("/api/v1/audit/export", params={"user": "bob"}, headers=ADMIN)
    assert export.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert len(lines) == 2 and {line["outcome"] for line in lines} == {"issued", "denied"}
