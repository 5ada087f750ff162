"""Request parsing and problem rendering of /api/v1 (RFC 9457, fields named)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.web.api.conftest import ADMIN, ALICE, assert_problem


def fields(body: dict[str, object]) -> set[str]:
    errors = body["errors"]
    assert isinstance(errors, list)
    return {e["field"] for e in errors}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"surprise": 1}, "surprise"),
        ({"expires_in_days": "9"}, "expires_in_days"),
        ({"rules": [{"actions": ["pull"]}]}, "rules[0].name"),
        ({"rules": [{"name": "**", "actions": "pull"}]}, "rules[0].actions"),
        ([], "body"),
    ],
)
def test_body_errors_name_the_field(api: TestClient, body: object, field: str) -> None:
    r = api.post("/api/v1/me/tokens", json=body, headers=ALICE)
    problem = assert_problem(r, 422, "admin.invalid")
    assert field in fields(problem), problem
    assert field in problem["detail"]


def test_query_and_path_errors_are_prefixed(api: TestClient) -> None:
    r = api.get("/api/v1/tokens", params={"kind": "bogus"}, headers=ADMIN)
    assert fields(assert_problem(r, 422, "admin.invalid")) == {"query.kind"}
    r = api.get(f"/api/v1/users/{'a' * 65}/tokens", headers=ADMIN)
    assert fields(assert_problem(r, 422, "admin.invalid")) == {"path.name"}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"name": "x"}', "text/plain"),
        (b'{"name": "x"}', ""),
        (b"\xff\xfe", "application/json"),
        (b'{"name": "' + b"x" * 70_000 + b'"}', "application/json"),
    ],
)
def test_unreadable_bodies_are_400(api: TestClient, content: bytes, content_type: str) -> None:
    headers = {**ALICE, "Content-Type": content_type} if content_type else ALICE
    r = api.post("/api/v1/me/tokens", content=content, headers=headers)
    assert_problem(r, 400, "request.malformed")


def test_answers_are_not_cached(api: TestClient) -> None:
    r = api.get("/api/v1/me/tokens", headers=ALICE)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/json"
