"""Fixtures of the admin API tests: an instance with callers of every kind.

Callers: ``admin`` (member of ``admins``), ``alice`` and ``bob`` (plain users),
the API keys ``ops`` (scope ``admin``) and ``reader`` (another scope).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import FrozenClock, Instance, make_instance

ADMIN_KEY = "regauth_ak_admin-key-0123456789abcdef"
READER_KEY = "regauth_ak_reader-key-0123456789abcdef"
API_KEYS = """
[[auth.api_keys]]
id = "ops"
hash_env = "OPS_API_KEY_HASH"
scopes = ["admin"]

[[auth.api_keys]]
id = "reader"
hash_env = "READER_API_KEY_HASH"
scopes = ["metadata"]
"""
RULES = '[[rules]]\naccount = "*"\nname = "${account}/**"\nactions = ["pull", "push"]\n'


def fingerprint(raw: str) -> str:
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


ADMIN = basic("admin", "admin-pw")
ALICE = basic("alice", "alice-pw")
BOB = basic("bob", "bob-password")
OPS = {"X-Api-Key": ADMIN_KEY}
READER = {"Authorization": f"Bearer {READER_KEY}"}


def api_instance(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, extra: str = ""
) -> Instance:
    monkeypatch.setenv("OPS_API_KEY_HASH", fingerprint(ADMIN_KEY))
    monkeypatch.setenv("READER_API_KEY_HASH", fingerprint(READER_KEY))
    inst = make_instance(tmp_path, clock, extra=API_KEYS + extra, rules=RULES)
    inst.add_user("admin", "admin-pw", ("admins",))
    inst.add_user("alice", "alice-pw", ("dev",))
    inst.add_user("bob", "bob-password")
    return inst


@pytest.fixture
def instance(tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Instance:
    return api_instance(tmp_path, clock, monkeypatch)


@pytest.fixture
def api(instance: Instance) -> Iterator[TestClient]:
    with instance.client() as c:
        yield c


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["type"].endswith(code) and body["title"]
    return body
