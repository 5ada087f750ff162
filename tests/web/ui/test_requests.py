"""Access requests, the group filter on Users and the notifications block of Registry setup."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.ui.conftest import page_csrf, post, sign_in
from tests.web.ui.test_tokens import changes

NOTIFY_SECRET = "ui-notify-secret"
EVENTS = f"""
[events.registry]
secret = "{NOTIFY_SECRET}"
header = "X-Registry-Token"

[events.approval]
enabled = true
secret = "ui-approval-secret"
max_duration = 14400
"""


@pytest.fixture
def events_instance(tmp_path: Path, clock: FrozenClock, sqlite_template: Path) -> Instance:
    """alice, bob (dev) and root (admins), temporary access and registry notifications on."""
    target = tmp_path / "data" / "regauth.db"
    target.parent.mkdir(parents=True)
    shutil.copyfile(sqlite_template, target)
    inst = make_instance(tmp_path, clock, extra=EVENTS, database_url=f"sqlite:///{target}")
    inst.add_user("alice", "alice-pw")
    inst.add_user("bob", "bob-pw", ("dev",))
    inst.add_user("root", "root-pw", ("admins",))
    return inst


@pytest.fixture
def browser(events_instance: Instance) -> Iterator[TestClient]:
    with events_instance.client() as c:
        yield c


def ask(client: TestClient, repository: str = "team/secret", **extra: str) -> str:
    csrf = page_csrf(client, "/ui/requests")
    form = {"csrf": csrf, "repository": repository, "minutes": "60", "action_push": "on"}
    r = post(client, "/ui/requests", {**form, "reason": "hotfix", **extra})
    assert (r.status_code, r.headers.get("location")) == (303, "/ui/requests?notice=requested")
    return csrf


def request_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="request-(\d+)">', html)


def test_a_user_requests_an_admin_approves_the_user_sees_until(
    browser: TestClient, events_instance: Instance
) -> None:
    sign_in(browser, "alice", "alice-pw")
    ask(browser)
    mine = browser.get("/ui/requests?notice=requested").text
    assert "Your request was sent to the approver." in mine
    [request_id] = request_ids(mine)
    assert "pending" in mine and "team/secret" in mine and "hotfix" in mine

    browser.cookies.clear()
    sign_in(browser, "root", "root-pw")
    listing = browser.get("/ui/admin/access").text
    assert f"Approve request {request_id}" in listing
    csrf = page_csrf(browser, "/ui/admin/access")
    r = post(browser, f"/ui/admin/access/{request_id}", {"csrf": csrf, "decision": "approve"})
    assert (r.status_code, r.headers["location"]) == (303, "/ui/admin/access?notice=saved")
    assert "approved until" in browser.get("/ui/admin/access").text
    kinds = [(c.actor_name, c.kind) for c in changes(events_instance)]
    assert kinds == [("alice", "access:request"), ("root", "access:approve")]

    browser.cookies.clear()
    sign_in(browser, "alice", "alice-pw")
    until = events_instance.clock.now().strftime("%Y-%m-%d")
    shown = browser.get("/ui/requests").text
    assert re.search(rf"approved until {until} \d\d:\d\d UTC", shown), shown
    assert "by root" in shown


def test_a_user_withdraws_a_pending_request(browser: TestClient) -> None:
    sign_in(browser, "alice", "alice-pw")
    csrf = ask(browser)
    [request_id] = request_ids(browser.get("/ui/requests").text)
    r = post(browser, f"/ui/requests/{request_id}/withdraw", {"csrf": csrf})
    assert (r.status_code, r.headers["location"]) == (303, "/ui/requests?notice=withdrawn")
    assert "revoked" in browser.get("/ui/requests").text


def test_invalid_request_names_the_fields_and_keeps_the_input(browser: TestClient) -> None:
    sign_in(browser, "alice", "alice-pw")
    csrf = page_csrf(browser, "/ui/requests")
    r = post(browser, "/ui/requests", {"csrf": csrf, "repository": "team/*", "minutes": "60"})
    assert r.status_code == 422
    assert "no wildcards" in r.text and "actions must be among" in r.text
    assert 'value="team/*"' in r.text
    too_long = post(
        browser,
        "/ui/requests",
        {"csrf": csrf, "repository": "team/x", "minutes": "999999", "action_pull": "on"},
    )
    assert too_long.status_code == 422 and "between 1 and 14400 seconds" in too_long.text
    assert request_ids(browser.get("/ui/requests").text) == []


def test_forms_without_csrf_are_refused_and_change_nothing(
    browser: TestClient, events_instance: Instance
) -> None:
    sign_in(browser, "alice", "alice-pw")
    form = {"repository": "team/x", "minutes": "60", "action_pull": "on"}
    r = post(browser, "/ui/requests", form)
    assert r.status_code == 403 and "ui.csrf_rejected" in r.text
    ask(browser)
    [request_id] = request_ids(browser.get("/ui/requests").text)
    assert post(browser, f"/ui/requests/{request_id}/withdraw", {}).status_code == 403
    browser.cookies.clear()
    sign_in(browser, "root", "root-pw")
    r = post(browser, f"/ui/admin/access/{request_id}", {"decision": "approve"})
    assert r.status_code == 403 and "ui.csrf_rejected" in r.text
    assert [c.kind for c in changes(events_instance)] == ["access:request"]
    assert "pending" in browser.get("/ui/admin/access").text


def test_a_plain_user_cannot_decide_nor_see_everyones(
    browser: TestClient, events_instance: Instance
) -> None:
    sign_in(browser, "alice", "alice-pw")
    ask(browser)
    [request_id] = request_ids(browser.get("/ui/requests").text)
    browser.cookies.clear()
    sign_in(browser, "bob", "bob-pw")
    assert browser.get("/ui/admin/access").status_code == 403
    csrf = page_csrf(browser, "/ui/requests")
    r = post(browser, f"/ui/admin/access/{request_id}", {"csrf": csrf, "decision": "approve"})
    assert r.status_code == 403 and "admin.forbidden" in r.text and "hotfix" not in r.text
    r = post(browser, f"/ui/requests/{request_id}/withdraw", {"csrf": csrf})
    assert r.status_code == 404 and "access.not_found" in r.text
    assert [c.kind for c in changes(events_instance)] == ["access:request"]


def test_admin_sees_an_unknown_request_and_a_bad_decision_refused(browser: TestClient) -> None:
    sign_in(browser, "root", "root-pw")
    csrf = page_csrf(browser, "/ui/admin/access")
    r = post(browser, "/ui/admin/access/77", {"csrf": csrf, "decision": "approve"})
    assert r.status_code == 404 and "access.not_found" in r.text
    r = post(browser, "/ui/admin/access/77", {"csrf": csrf, "decision": "steal"})
    assert r.status_code == 422 and "admin.invalid" in r.text
    assert browser.get("/ui/admin/access?state=bogus&repository=").status_code == 200


def test_users_filtered_by_group_shows_only_members(browser: TestClient) -> None:
    sign_in(browser, "root", "root-pw")
    page = browser.get("/ui/admin/users?group=dev").text
    listed = re.findall(r'<td><a href="/ui/admin/users\?q=([^"]+)">', page)
    assert listed == ["bob"]
    assert '<option value="dev" selected>' in page
    both = browser.get("/ui/admin/users?q=o&group=admins").text
    assert re.findall(r'<td><a href="/ui/admin/users\?q=([^"]+)">', both) == ["root"]
    none = browser.get("/ui/admin/users?group=nobody").text
    assert "No local user in group nobody." in none


def test_setup_shows_the_notifications_block_to_admins_only(browser: TestClient) -> None:
    sign_in(browser, "root", "root-pw")
    admin = browser.get("/ui/setup").text
    assert f"X-Registry-Token: [&#34;{NOTIFY_SECRET}&#34;]" in admin
    assert "url: &#34;http://testserver/events/registry&#34;" in admin
    browser.cookies.clear()
    sign_in(browser, "alice", "alice-pw")
    plain = browser.get("/ui/setup").text
    assert NOTIFY_SECRET not in plain
    assert "X-Registry-Token: [&#34;&lt;the secret of [events.registry]" in plain
    assert "shown to administrators only" in plain
