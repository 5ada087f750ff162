"""The web UI in a real browser (Debian's chromium through Playwright) against ``regauth serve``.

- a signed-out browser is sent to the sign-in page and comes back after signing in;
- a user creates a personal access token, skopeo pushes with it to a real registry,
  the user revokes it in the UI and the next push fails;
- a form without its CSRF token, and a cross-site form post, are refused;
- every page is photographed at desktop and phone width (``shoot``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.e2e.browser import browser as browser
from tests.e2e.browser import context as context
from tests.e2e.browser import page as page
from tests.e2e.browser import playwright as playwright
from tests.e2e.browser import screenshot_dir as screenshot_dir
from tests.e2e.browser import shoot
from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    ImageFactory,
    Launcher,
    RegauthServer,
    Registry,
    describe,
    skopeo_push,
    unique,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

RULES = """
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
"""
# The revocation reaches the token cache of the serving process within this bound.
CACHE_SECONDS = 1.0


@pytest.fixture(scope="module")
def stack(module_launcher: Launcher) -> Iterator[tuple[RegauthServer, Registry]]:
    server = module_launcher.regauth(
        rules_toml="[ui]\nregistry = \"registry.example\"\n\n" + RULES,
        users=[("alice", "alice-pw", ()), ("bob", "bob-pw", ())],
    )
    yield server, module_launcher.registry(server)


def sign_in(page: Page, server: RegauthServer, user: str, password: str) -> None:
    page.goto(f"{server.base_url}/ui/signin")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My access")


def test_signed_out_browser_is_redirected_and_returns(
    page: Page, stack: tuple[RegauthServer, Registry], screenshot_dir: Path
) -> None:
    server, _ = stack
    page.goto(f"{server.base_url}/ui/access")
    assert page.url.startswith(f"{server.base_url}/ui/signin?next=")
    shoot(page, screenshot_dir, "signin")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.get_by_label("Password").fill("alice-pw")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{server.base_url}/ui/access")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{server.base_url}/ui/")
    assert page.url.startswith(f"{server.base_url}/ui/signin")


def test_token_created_in_the_ui_pushes_until_revoked(
    page: Page,
    stack: tuple[RegauthServer, Registry],
    oci_image: ImageFactory,
    screenshot_dir: Path,
) -> None:
    server, registry = stack
    sign_in(page, server, "alice", "alice-pw")
    shoot(page, screenshot_dir, "my-access")
    page.get_by_label("Name").fill("ci")
    page.get_by_label("Expires after").select_option("30")
    page.get_by_label("Repositories 1").fill("alice/**")
    actions = page.get_by_role("group", name="Actions for repositories 1")
    actions.get_by_label("pull").check()
    actions.get_by_label("push").check()
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("regauth_pat_")
    expect(page.locator("#docker-login")).to_have_text(
        "docker login registry.example --username alice --password-stdin"
    )
    expect(page.get_by_role("button", name="Copy")).to_be_visible()  # the script ran (CSP ok)
    shoot(page, screenshot_dir, "token-created")

    repo = unique("alice/ui")
    pushed = skopeo_push(oci_image(), registry, repo, f"alice:{secret}")
    assert pushed.returncode == 0, describe(pushed)

    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("row").filter(has_text="ci")
    expect(row).to_contain_text("alice/**")
    page.get_by_role("button", name="Revoke token ci").click()
    expect(page.get_by_role("status")).to_have_text("The token was revoked.")
    assert secret not in page.content()
    time.sleep(CACHE_SECONDS + 0.5)
    again = skopeo_push(oci_image(), registry, unique("alice/ui"), f"alice:{secret}")
    assert again.returncode != 0
    assert "invalid username/password" in again.stderr, describe(again)


def test_form_without_csrf_token_is_refused(
    page: Page, stack: tuple[RegauthServer, Registry]
) -> None:
    server, _ = stack
    sign_in(page, server, "bob", "bob-pw")
    page.locator("form.signout input[name=csrf]").evaluate("input => input.remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request refused")
    expect(page.get_by_text("ui.csrf_rejected")).to_be_visible()
    page.goto(f"{server.base_url}/ui/")
    expect(page.get_by_role("heading", level=1)).to_have_text("My access")  # still signed in


def test_cross_site_form_post_is_refused(
    context: BrowserContext, stack: tuple[RegauthServer, Registry]
) -> None:
    server, _ = stack
    page = context.new_page()
    sign_in(page, server, "bob", "bob-pw")
    token = page.locator("form.signout input[name=csrf]").get_attribute("value")
    evil = (
        f'<form method="post" action="{server.base_url}/ui/signout">'
        f'<input type="hidden" name="csrf" value="{token}"><button>Win a prize</button></form>'
    )

    def fulfil(route: Route) -> None:  # another origin, served without any network
        route.fulfill(status=200, content_type="text/html", body=evil)

    context.route("http://attacker.invalid/**", fulfil)
    page.goto("http://attacker.invalid/")
    page.get_by_role("button", name="Win a prize").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request refused")
    page.goto(f"{server.base_url}/ui/")
    expect(page.get_by_role("heading", level=1)).to_have_text("My access")


def test_admin_sign_in_uses_the_generated_admin(
    browser: Browser, stack: tuple[RegauthServer, Registry]
) -> None:
    server, _ = stack
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        sign_in(page, server, "admin", ADMIN_PASSWORD)
        expect(page.get_by_role("navigation", name="Main")).to_contain_text("Admin")
    finally:
        ctx.close()
