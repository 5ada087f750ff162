"""The web UI in a real browser (Debian's chromium through Playwright) against ``regauth serve``.

- a signed-out browser is sent to the sign-in page and comes back after signing in;
- a user creates a personal access token, skopeo pushes with it to a real registry,
  the user revokes it in the UI and the next push fails;
- a form without its CSRF token, and a cross-site form post, are refused;
- an admin adds a user and a rule, sees the lint warning of a shadowed rule next to it,
  and Check access names the deciding rule;
- "Sign in with Test IdP" against the suite's oidc-provider;
- every page is photographed at desktop and phone width (``shoot``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.authn.idp_fixture import Idp
from tests.authn.idp_fixture import idp as idp
from tests.e2e.browser import browser as browser
from tests.e2e.browser import context as context
from tests.e2e.browser import new_context, shoot
from tests.e2e.browser import page as page
from tests.e2e.browser import playwright as playwright
from tests.e2e.browser import screenshot_dir as screenshot_dir
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


def ui_config(issuer: Idp) -> str:
    return (
        '[ui]\nregistry = "registry.example"\n'
        f'[ui.oidc]\nissuer = "{issuer.issuer}"\nlabel = "Test IdP"\nclient_id = "regauth-ui"\n'
        'client_secret = "regauth-ui-secret"\ngroups_claim = "groups"\n\n'
    )


@pytest.fixture(scope="module")
def stack(module_launcher: Launcher, idp: Idp) -> tuple[RegauthServer, Registry]:
    server = module_launcher.regauth(
        rules_toml=ui_config(idp) + RULES,
        users=[("alice", "alice-pw", ()), ("bob", "bob-pw", ())],
    )
    return server, module_launcher.registry(server)


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
    expect(page.get_by_role("heading", level=1)).to_have_text("What can I do?")
    assert page.url == f"{server.base_url}/ui/access"
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
    page.get_by_label("Repositories 1", exact=True).fill("alice/**")
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


def test_admin_adds_a_user_and_rules_sees_the_lint_and_checks_access(
    browser: Browser, stack: tuple[RegauthServer, Registry], screenshot_dir: Path
) -> None:
    server, _ = stack
    ctx = new_context(browser)
    try:
        page = ctx.new_page()
        sign_in(page, server, "admin", ADMIN_PASSWORD)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Users")
        page.get_by_label("Name", exact=True).fill("dave")
        page.get_by_label("Password", exact=True).fill("dave-password")
        page.get_by_label("Groups").fill("dev")
        page.get_by_role("button", name="Add user").click()
        expect(page.get_by_role("heading", name="dave")).to_be_visible()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        shoot(page, screenshot_dir, "admin-users")

        page.get_by_role("navigation", name="Administration").get_by_role(
            "link", name="Rules"
        ).click()
        add_rule(page, "dev", "team/**", "pull", "push")
        add_rule(page, "dev", "team/secret/**", deny=True, comment="no secrets")
        row = page.get_by_role("row").filter(has_text="team/secret/**")
        expect(row.get_by_role("note").filter(has_text="deny never applies")).to_be_visible()
        first = page.get_by_role("row").filter(has_text="team/**").filter(has_not_text="secret")
        expect(first.get_by_role("note")).to_have_count(0)
        shoot(page, screenshot_dir, "admin-rules")

        page.get_by_role("link", name="Check access").click()
        page.get_by_label("Caller").fill("dave")
        page.get_by_label("Scopes").fill("repository:team/app:pull,push")
        page.get_by_role("button", name="Check").click()
        result = page.get_by_role("region", name="Decision for dave")
        expect(result).to_contain_text("Granted: pull, push")
        expect(result.locator("ol.stages li").first).to_contain_text("group:dev#")
        shoot(page, screenshot_dir, "check-access")

        admin_nav = page.get_by_role("navigation", name="Administration")
        for link, name in (("Groups", "admin-groups"), ("Keys", "admin-keys")):
            admin_nav.get_by_role("link", name=link).click()
            shoot(page, screenshot_dir, name)
        assert server.token_response("dave", "dave-password", "repository:team/app:pull").is_success
        server.token_response("dave", "not-the-password", "repository:team/app:pull")
        admin_nav.get_by_role("link", name="Audit").click()
        page.get_by_label("User", exact=True).fill("dave")
        for _ in range(50):  # audit events are written in batches, off the request path
            page.get_by_role("button", name="Filter").click()
            page.wait_for_load_state()
            if page.locator("details").count() >= 2:
                break
            time.sleep(0.2)
        issued = page.locator("details").filter(has_text="issued").first
        issued.locator("summary").click()
        expect(issued.locator("ol.stages")).to_contain_text("account")
        shoot(page, screenshot_dir, "admin-audit")
        page.get_by_role("link", name="Registry setup").click()
        expect(page.locator("#token-block-1")).to_contain_text(f"realm: {server.base_url}/token")
        shoot(page, screenshot_dir, "setup")
    finally:
        ctx.close()


def add_rule(
    page: Page, group: str, name: str, *actions: str, deny: bool = False, comment: str = ""
) -> None:
    form = page.locator("form[action='/ui/admin/rules']")
    form.get_by_label("List").select_option("group")
    form.get_by_label("User or group").fill(group)
    form.get_by_label("Repositories", exact=True).fill(name)
    for action in actions:
        form.get_by_label(action, exact=True).check()
    if deny:
        form.get_by_label("explicit deny (no actions)").check()
    form.get_by_label("Comment").fill(comment)
    form.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")


def test_sign_in_with_the_test_idp(
    page: Page, stack: tuple[RegauthServer, Registry], screenshot_dir: Path
) -> None:
    server, _ = stack
    page.goto(f"{server.base_url}/ui/signin")
    shoot(page, screenshot_dir, "signin-oidc")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.locator("input[name=login]").fill("carol")
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the IdP's consent page
    expect(page.get_by_role("heading", level=1)).to_have_text("My access")
    expect(page.get_by_role("main")).to_contain_text("Signed in as carol")
    page.get_by_role("link", name="What can I do?").first.click()
    expect(page.get_by_role("main")).to_contain_text("carol/**")
    shoot(page, screenshot_dir, "what-can-i-do")
