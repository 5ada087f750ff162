"""Sign in with the IdP: authorization code flow with PKCE against the suite's oidc-provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from regauth.web.app import create_asgi
from regauth.web.ui.session import PLAIN_COOKIE
from tests.authn.idp_fixture import Idp
from tests.authn.idp_fixture import idp as idp
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_identity_http import live_clock as live_clock

ORIGIN = "http://127.0.0.1:5999"  # any loopback port: the IdP's client is a native one
SAME_ORIGIN = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}


def ui_oidc(issuer: Idp) -> str:
    return (
        f'[ui]\npublic_url = "{ORIGIN}"\n'
        f'[ui.oidc]\nissuer = "{issuer.issuer}"\nlabel = "Test IdP"\nclient_id = "regauth-ui"\n'
        'client_secret = "regauth-ui-secret"\nscopes = ["openid", "profile"]\n'
        'groups_claim = "groups"\n'
    )


@pytest.fixture
def instance(tmp_path: Path, live_clock: FrozenClock, idp: Idp) -> Instance:
    inst = make_instance(
        tmp_path, live_clock, extra=ui_oidc(idp) + '[admin]\noidc_groups = ["idp-admins"]\n'
    )
    return inst


@pytest.fixture
def ui(instance: Instance) -> Iterator[TestClient]:
    app = create_asgi(instance.settings, clock=instance.clock)
    with TestClient(app, base_url=ORIGIN) as c:
        yield c


def at_idp(authorize_url: str, login: str) -> str:
    """Sign in at the IdP's login page and consent; the redirect back to us."""
    with httpx.Client() as browser:
        r = browser.get(authorize_url)
        for _ in range(10):
            location: str = r.headers.get("location", "")
            if location.startswith(ORIGIN):
                return location
            if r.status_code in (302, 303):
                r = browser.get(httpx.URL(str(r.url)).join(location))
                continue
            assert r.status_code == 200, r.text
            prompt = "login" if 'value="login"' in r.text else "consent"
            form = {"prompt": prompt, "login": login, "password": "any"}
            r = browser.post(str(r.url), data=form if prompt == "login" else {"prompt": prompt})
    raise AssertionError("the IdP never redirected back")


def start(ui: TestClient) -> str:
    r = ui.get("/ui/oidc/start", params={"next": "/ui/access"}, follow_redirects=False)
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [f"{ORIGIN}/ui/oidc/callback"]
    assert "code_verifier" not in r.headers["location"]
    return str(r.headers["location"])


def test_sign_in_with_the_idp(ui: TestClient, idp: Idp) -> None:
    form = ui.get("/ui/signin")
    assert "Sign in with Test IdP" in form.text
    back = at_idp(start(ui), "carol")
    r = ui.get(back.removeprefix(ORIGIN), follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/ui/access")
    assert PLAIN_COOKIE in ui.cookies
    page = ui.get("/ui/access")
    assert "carol" in page.text and "ci" in page.text  # the IdP's groups
    assert "Admin" not in ui.get("/ui/").text.split("<main")[0]
    replay = ui.get(back.removeprefix(ORIGIN), follow_redirects=False)
    assert replay.status_code == 401  # a code and its state work once


def test_idp_admin_group_makes_an_administrator(ui: TestClient, idp: Idp) -> None:
    back = at_idp(start(ui), "admin-dora")
    ui.get(back.removeprefix(ORIGIN))
    assert ui.get("/ui/admin/groups").status_code == 200


def test_callback_from_another_browser_is_refused(ui: TestClient, idp: Idp) -> None:
    back = at_idp(start(ui), "carol")
    ui.cookies.clear()  # the state cookie stayed in the browser that started
    r = ui.get(back.removeprefix(ORIGIN), follow_redirects=False)
    assert r.status_code == 401 and PLAIN_COOKIE not in ui.cookies


@pytest.mark.parametrize(
    "change",
    [
        {"state": "forged"},
        {"iss": "http://127.0.0.1:1"},
        {"code": "made-up"},
        {"error": "access_denied"},
    ],
)
def test_tampered_callbacks_are_refused(ui: TestClient, idp: Idp, change: dict[str, str]) -> None:
    back = at_idp(start(ui), "carol")
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()} | change
    r = ui.get("/ui/oidc/callback", params=query, follow_redirects=False)
    assert r.status_code == 401
    assert PLAIN_COOKIE not in ui.cookies
    assert "regauth-ui-secret" not in r.text


def test_start_without_oidc_configured_is_a_400(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock)
    with inst.client() as c:
        r = c.get("/ui/oidc/start", follow_redirects=False)
        assert r.status_code == 400
        assert "Sign in with" not in c.get("/ui/signin").text
