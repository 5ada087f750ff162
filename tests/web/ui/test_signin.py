"""Sign-in, sessions, sign-out, the signed-out redirect, CSRF and the security headers."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import anyio
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from regauth.authn.browser import digest
from regauth.store import Database
from regauth.store.models_ui import UiSessionRow
from regauth.web.ui.session import PLAIN_COOKIE
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.ui.conftest import SAME_ORIGIN, csrf_of, page_csrf, post, sign_in


def session_rows(instance: Instance) -> list[UiSessionRow]:
    async def main() -> list[UiSessionRow]:
        db = Database(instance.settings.database_url)
        try:
            async with db.session() as s:
                return list(await s.scalars(select(UiSessionRow)))
        finally:
            await db.dispose()

    return anyio.run(main)


def test_signed_out_browser_is_sent_to_sign_in(ui: TestClient) -> None:
    r = ui.get("/ui/?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert unquote(r.headers["location"]) == "/ui/signin?next=/ui/?x=1"
    root = ui.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (303, "/ui/")


def test_sign_in_creates_a_hashed_session_and_sign_out_deletes_it(
    ui: TestClient, instance: Instance
) -> None:
    r = sign_in(ui, "alice", "alice-pw")
    assert (r.status_code, r.headers["location"]) == (303, "/ui/")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{PLAIN_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP: browsers would drop a Secure cookie
    raw = ui.cookies[PLAIN_COOKIE]
    [row] = session_rows(instance)
    assert row.id_hash == digest(raw) and raw not in row.id_hash
    assert row.subject == "alice"
    home = ui.get("/ui/")
    assert home.status_code == 200 and "alice" in home.text
    out = post(ui, "/ui/signout", {"csrf": page_csrf(ui)})
    assert (out.status_code, out.headers["location"]) == (303, "/ui/signin?notice=signed-out")
    assert session_rows(instance) == []
    assert ui.get("/ui/", follow_redirects=False).status_code == 303


def test_every_sign_in_starts_a_new_session(ui: TestClient, instance: Instance) -> None:
    sign_in(ui, "bob", "bob-pw")
    planted = ui.cookies[PLAIN_COOKIE]  # an id someone else planted in this browser
    ui.cookies.clear()
    token = csrf_of(ui.get("/ui/signin").text)
    ui.cookies.set(PLAIN_COOKIE, planted)
    r = post(ui, "/ui/signin", {"csrf": token, "username": "alice", "password": "alice-pw"})
    assert r.status_code == 303
    issued = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert issued and issued != planted
    assert sorted(row.subject for row in session_rows(instance)) == ["alice", "bob"]


@pytest.mark.parametrize(
    ("username", "password", "status"),
    [("alice", "wrong-Pa55", 401), ("nobody", "nobody-Pa55", 401), ("alice", "", 400)],
)
def test_wrong_credentials_say_nothing_more(
    ui: TestClient, username: str, password: str, status: int
) -> None:
    r = sign_in(ui, username, password)
    assert r.status_code == status
    assert PLAIN_COOKIE not in ui.cookies
    if status == 401:
        assert "Wrong username or password." in r.text
        assert password not in r.text


def test_sign_in_is_throttled_with_the_token_endpoint(tmp_path: Path, clock: FrozenClock) -> None:
    extra = "[auth.throttle]\nmax_failures_per_account = 2\nmax_failures_per_address = 100\n"
    inst = make_instance(tmp_path, clock, extra=extra)
    inst.add_user("alice", "alice-pw")
    with inst.client() as c:
        r = c.get("/token", params={"service": "registry.test"}, auth=("alice", "bad"))
        assert r.status_code == 401
        assert sign_in(c, "alice", "bad").status_code == 401
        throttled = sign_in(c, "alice", "alice-pw")
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) >= 1
        assert "auth.throttled" in throttled.text
        assert (
            c.get(
                "/token", params={"service": "registry.test"}, auth=("alice", "alice-pw")
            ).status_code
            == 429
        )


def test_expired_and_idle_sessions_end(ui: TestClient, instance: Instance) -> None:
    sign_in(ui, "alice", "alice-pw")
    instance.clock.advance(minutes=59)
    assert ui.get("/ui/").status_code == 200
    instance.clock.advance(minutes=61)  # idle for more than an hour
    r = ui.get("/ui/", follow_redirects=False)
    assert r.status_code == 303
    sign_in(ui, "alice", "alice-pw")
    for _ in range(9):
        instance.clock.advance(minutes=55)
        ui.get("/ui/")
    assert ui.get("/ui/", follow_redirects=False).status_code == 303  # 8 h after sign-in


def test_form_without_csrf_token_is_refused(ui: TestClient) -> None:
    sign_in(ui, "alice", "alice-pw")
    r = post(ui, "/ui/signout", {})
    assert r.status_code == 403 and "ui.csrf_rejected" in r.text
    r = post(ui, "/ui/signout", {"csrf": "forged"})
    assert r.status_code == 403
    assert ui.get("/ui/").status_code == 200  # still signed in


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    ],
)
def test_cross_site_post_is_refused_even_with_the_token(
    ui: TestClient, headers: dict[str, str]
) -> None:
    sign_in(ui, "alice", "alice-pw")
    token = page_csrf(ui)
    r = ui.post("/ui/signout", data={"csrf": token}, headers=headers, follow_redirects=False)
    assert r.status_code == 403 and "ui.csrf_rejected" in r.text
    assert ui.get("/ui/").status_code == 200


def test_origin_alone_is_enough_for_browsers_without_fetch_metadata(ui: TestClient) -> None:
    sign_in(ui, "alice", "alice-pw")
    token = page_csrf(ui)
    r = ui.post(
        "/ui/signout",
        data={"csrf": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_sign_in_form_needs_its_double_submit_token(ui: TestClient) -> None:
    ui.get("/ui/signin")
    r = post(ui, "/ui/signin", {"csrf": "x" * 32, "username": "alice", "password": "alice-pw"})
    assert r.status_code == 403
    assert PLAIN_COOKIE not in ui.cookies


def test_security_headers_on_every_ui_answer(ui: TestClient) -> None:
    for url in ("/ui/signin", "/ui/static/ui.css", "/ui/nothing-here"):
        r = ui.get(url, follow_redirects=False)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/ui/", "/ui/\\evil", "/token"]
)
def test_next_never_leaves_the_ui(ui: TestClient, target: str) -> None:
    form = ui.get("/ui/signin", params={"next": target})
    data = {"csrf": csrf_of(form.text), "username": "alice", "password": "alice-pw", "next": target}
    r = post(ui, "/ui/signin", data)
    assert r.headers["location"] == "/ui/"


def test_malformed_forms_are_4xx(ui: TestClient) -> None:
    r = ui.post(
        "/ui/signin",
        content=b"\xff\xfe=%%%",
        headers={**SAME_ORIGIN, "content-type": "multipart/form-data; boundary=x"},
    )
    assert 400 <= r.status_code < 500
    big = ui.post("/ui/signin", data={"a": "x" * 70000}, headers=SAME_ORIGIN)
    assert big.status_code == 400


def test_ended_sessions_are_purged_by_a_later_sign_in(ui: TestClient, instance: Instance) -> None:
    sign_in(ui, "alice", "alice-pw")
    ui.cookies.clear()
    instance.clock.advance(hours=2)  # alice's session has been idle too long
    sign_in(ui, "bob", "bob-pw")
    assert [row.subject for row in session_rows(instance)] == ["bob"]
