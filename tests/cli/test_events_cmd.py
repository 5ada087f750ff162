"""``regauth events``, ``regauth access`` and ``regauth registry-config --notifications``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from click.testing import Result

from regauth.config import load_settings
from regauth.events.outbox import Outbox
from regauth.ports import SystemClock
from regauth.store import Database
from tests.cli.test_cli import cfg, run

EVENTS = """
[events.registry]
secret_env = "TEST_NOTIFY_SECRET"
public_url = "http://regauth.internal:5001/"

[events.approval]
enabled = true
secret = "approval-secret"

[events.webhook.sink]
url = "http://127.0.0.1:9/hook"
secret = "sink-secret"
events = ["access.*"]
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    result = run(
        ["init", "--dir", str(tmp_path / "var"), "--service", "reg.test", "--port", "5999"],
        env={"REGAUTH_ADMIN_PASSWORD": "admin-pw"},
    )
    assert result.exit_code == 0, result.output
    config = tmp_path / "var" / "regauth.toml"
    config.write_text(config.read_text() + EVENTS)
    return tmp_path / "var"


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_registry_config_prints_the_notifications_block(home: Path) -> None:
    out = ok(
        run(
            [*cfg(home), "registry-config", "--only-notifications"],
            env={"TEST_NOTIFY_SECRET": "n0t1fy"},
        )
    )
    assert out == (
        "notifications:\n"
        "  endpoints:\n"
        "    - name: regauth\n"
        '      url: "http://regauth.internal:5001/events/registry"\n'
        "      headers:\n"
        '        Authorization: ["Bearer n0t1fy"]\n'
        "      timeout: 2s\n"
        "      threshold: 3\n"
        "      backoff: 1s\n"
    )


def test_registry_config_without_the_secret_is_an_error(home: Path) -> None:
    result = run([*cfg(home), "registry-config", "--notifications"])
    assert result.exit_code == 2
    assert "TEST_NOTIFY_SECRET is not set" in result.output


def test_access_request_list_revoke(home: Path) -> None:
    line = ok(
        run(
            [
                *cfg(home),
                "access",
                "request",
                "--user",
                "alice",
                "--repo",
                "team/secret",
                "--actions",
                "push",
                "--for",
                "2h",
                "--reason",
                "release",
            ]
        )
    )
    assert line.startswith("#1 ") and "requested" in line and "team/secret push for 7200s" in line
    assert "#1" in ok(run([*cfg(home), "access", "list", "--state", "requested"]))
    assert "revoked" in ok(run([*cfg(home), "access", "revoke", "1"]))
    again = run([*cfg(home), "access", "revoke", "1"])
    assert again.exit_code == 2 and "already revoked" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repo", "team/*"], "one repository name"),
        (["--repo", "team/x", "--actions", "steal"], "actions must be among"),
        (["--repo", "team/x", "--for", "soon"], "use 30m, 2h, 1d"),
        (["--repo", "team/x", "--for", "30d"], "duration must be between"),
    ],
)
def test_bad_access_requests(home: Path, args: list[str], message: str) -> None:
    result = run([*cfg(home), "access", "request", "--user", "alice", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_events_list_dead_retry(home: Path) -> None:
    ok(run([*cfg(home), "access", "request", "--user", "alice", "--repo", "team/x"]))
    settings = load_settings(home / "regauth.toml", {})

    async def kill_it() -> None:
        db = Database(settings.database_url)
        outbox = Outbox(db)
        now = SystemClock().now()
        # the request's access.requested (its admin.access:request record goes nowhere here)
        await outbox.route(lambda t: ["sink"] if t.startswith("access.") else [], now)
        (item,) = await outbox.claim(now, timedelta(seconds=60), "c", 10)
        await outbox.settle(item, now=now, delivered=False, retry_at=None, error="HTTP 500")
        await db.dispose()

    anyio.run(kill_it)
    listed = ok(run([*cfg(home), "events", "list"]))
    assert "access.requested" in listed and "sink" in listed and "dead" in listed
    assert "HTTP 500" in ok(run([*cfg(home), "events", "dead"]))
    assert ok(run([*cfg(home), "events", "retry", "--all-dead"])) == "1 deliveries queued again\n"
    assert "pending" in ok(run([*cfg(home), "events", "list", "--state", "pending"]))
    assert ok(run([*cfg(home), "events", "dead"])) == ""
    assert run([*cfg(home), "events", "retry"]).exit_code == 2


def test_a_request_without_the_approval_callback_is_refused(tmp_path: Path) -> None:
    result = run(
        ["init", "--dir", str(tmp_path / "v"), "--service", "reg.test", "--port", "5999"],
        env={"REGAUTH_ADMIN_PASSWORD": "admin-pw"},
    )
    assert result.exit_code == 0, result.output
    args = ["access", "request", "--user", "alice", "--repo", "team/x"]
    refused = run([*cfg(tmp_path / "v"), *args])
    assert refused.exit_code == 2 and "enable the approval callback" in refused.output


def test_access_approve_and_deny_from_the_console(home: Path) -> None:
    base = [*cfg(home), "access", "request", "--user", "alice", "--repo", "team/x"]
    ok(run([*base, "--for", "30m"]))
    ok(run([*base, "--reason", "second"]))
    approved = ok(run([*cfg(home), "access", "approve", "1"]))
    assert approved.startswith("#1 ") and "approved" in approved and " until " in approved
    assert "denied" in ok(run([*cfg(home), "access", "deny", "2"]))
    again = run([*cfg(home), "access", "deny", "1"])
    assert again.exit_code == 2 and "already approved" in again.output
    missing = run([*cfg(home), "access", "approve", "9"])
    assert missing.exit_code == 2 and "no access request #9" in missing.output
    listed = ok(run([*cfg(home), "access", "list", "--state", "approved"]))
    assert listed.startswith("#1 ") and "#2" not in listed
