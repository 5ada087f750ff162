"""The OpenAPI document: built from the route table, committed, served, valid."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import schemathesis
from starlette.testclient import TestClient

from regauth.web.api import OPERATIONS, openapi_bytes
from regauth.web.api.dispatch import PREFIX
from tests.conftest import Instance
from tests.web.api.conftest import ADMIN, OPS

COMMITTED = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_committed_document_matches_the_code() -> None:
    assert COMMITTED.read_bytes() == openapi_bytes(), (
        "docs/openapi.json is stale: run `.venv/bin/python -m regauth.web.api > docs/openapi.json`"
    )


def test_served_document(api: TestClient) -> None:
    r = api.get(f"{PREFIX}/openapi.json")  # public: clients need it before they have a key
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == openapi_bytes()


def test_document_is_openapi_3_1_with_every_operation() -> None:
    doc = json.loads(openapi_bytes())
    assert doc["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()
    ids = [
        result.ok().definition.raw["operationId"]  # type: ignore[union-attr]
        for result in schema.get_all_operations()
    ]
    assert sorted(ids) == sorted(op.operation_id for op in OPERATIONS)
    assert len(set(ids)) == len(ids)
    for op in OPERATIONS:
        entry = doc["paths"][PREFIX + op.path][op.method.lower()]
        assert entry["x-permission"] == (op.permission.value if op.permission else "self-service")
        assert "401" in entry["responses"] and "403" in entry["responses"]
        for ref in (entry.get("requestBody", {}).get("content", {}).get("application/json", {}),):
            if ref:
                assert ref["schema"]["$ref"].startswith("#/components/schemas/")


def test_models_are_the_schema() -> None:
    doc = json.loads(openapi_bytes())
    schemas = doc["components"]["schemas"]
    from regauth.web.api.users import UserIn, UserOut, UserPatch

    for model in (UserIn, UserPatch):
        assert schemas[model.__name__] == model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    assert set(schemas["UserOut"]["properties"]) == set(UserOut.model_fields)


def test_every_change_is_recorded_with_who_and_where(api: TestClient, instance: Instance) -> None:
    api.post("/api/v1/users/alice/tokens", json={"name": "ci"}, headers=OPS)
    api.post("/api/v1/groups", json={"name": "ops"}, headers=ADMIN)
    database = instance.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT actor_kind, actor_name, actor_address, kind, subject, after FROM changes"
        ).fetchall()
    assert [r[:4] for r in rows] == [
        ("apikey", "ops", "testclient", "token:create"),
        ("user", "admin", "testclient", "group:add"),
    ]
    assert "regauth_pat_" not in json.dumps(rows)
