"""UI test helpers: a browser-like client (same-origin headers, cookies) over TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import Instance

ORIGIN = "http://testserver"
SAME_ORIGIN = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def post(client: TestClient, url: str, data: dict[str, str], **headers: str) -> httpx.Response:
    return client.post(url, data=data, headers={**SAME_ORIGIN, **headers}, follow_redirects=False)


def sign_in(client: TestClient, username: str, password: str) -> httpx.Response:
    form = client.get("/ui/signin")
    assert form.status_code == 200
    data = {"csrf": csrf_of(form.text), "username": username, "password": password}
    return post(client, "/ui/signin", data)


def second_browser(client: TestClient) -> TestClient:
    """Another browser (its own cookies) on the same app. It shares ``client``'s event loop:
    the app's database connections belong to the loop its lifespan ran on, and a PostgreSQL
    connection used from a second loop can hang."""
    other = TestClient(client.app, base_url=str(client.base_url))
    other.portal = client.portal
    return other


def page_csrf(client: TestClient, url: str = "/ui/") -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


@pytest.fixture
def ui(instance: Instance) -> Iterator[TestClient]:
    with instance.client() as c:
        yield c
