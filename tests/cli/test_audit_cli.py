"""Audit you can investigate with: attempted names, --denied, columns, export, prune, retention."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from regauth.errors import ConfigError
from regauth.retention import AuditRetention
from regauth.store import AuditStore, Database
from tests.cli.test_cli import run
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import basic, get_token

THROTTLE = "[auth.throttle]\nmax_failures_per_account = 2\nmax_failures_per_address = 100\n"
RULES = '[[rules]]\nanyone = true\nname = "public/**"\nactions = ["pull"]\n'


@pytest.fixture
def logged(tmp_path: Path, clock: FrozenClock) -> Instance:
    """bob is attacked: two wrong passwords, then a throttled attempt; alice is granted nothing."""
    inst = make_instance(tmp_path, clock, extra=THROTTLE, rules=RULES)
    inst.add_user("alice", "alice-pw")
    inst.add_user("bob", "bob-pw")
    with inst.client() as client:
        for _ in range(3):
            get_token(client, "repository:public/x:pull", auth=basic("bob", "guess-Secret-1"))
        get_token(client, "repository:private/x:push", auth=basic("alice", "alice-pw"))
        clock.advance(minutes=1)
        get_token(client, "repository:public/x:pull", auth=basic("alice", "alice-pw"))
    return inst


def _cli(instance: Instance, *args: str) -> tuple[int, str]:
    result = run(["--config", str(instance.dir / "regauth.toml"), "audit", *args])
    return result.exit_code, result.output


def test_failed_and_throttled_logins_record_the_attempted_name(logged: Instance) -> None:
    code, out = _cli(logged, "list", "--user", "bob")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["TIME", "OUTCOME", "WHO", "SOURCE"]
    rows = lines[1:]
    assert len(rows) == 3
    assert sum("denied auth.throttled" in r for r in rows) == 1
    assert sum("denied auth.invalid_credential" in r for r in rows) == 2
    assert all("[bob]" in r for r in rows)
    assert "guess-Secret-1" not in out
    # Aligned: the WHO column starts at the same offset on every line.
    starts = {line.index("[bob]") for line in rows}
    assert starts == {lines[0].index("WHO")}
    code, docs = _cli(logged, "list", "--user", "bob", "--json")
    for doc in map(json.loads, docs.splitlines()):
        assert doc["subject"] is None and doc["username"] == "bob"
        assert "guess-Secret-1" not in json.dumps(doc)


def test_denied_includes_requests_that_were_granted_nothing(logged: Instance) -> None:
    _, out = _cli(logged, "list", "--denied", "--user", "alice")
    rows = out.splitlines()[1:]
    assert len(rows) == 1
    assert "issued (nothing granted)" in rows[0] and "repository:private/x:push" in rows[0]
    _, everything = _cli(logged, "list", "--user", "alice")
    assert len(everything.splitlines()[1:]) == 2


def test_export_writes_every_event_as_json_lines_oldest_first(logged: Instance) -> None:
    result = run(["--config", str(logged.dir / "regauth.toml"), "audit", "export"])
    assert result.exit_code == 0
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 5
    assert [d["at"] for d in docs] == sorted(d["at"] for d in docs)
    assert docs[-1]["subject"] == "alice" and docs[-1]["granted"][0]["actions"] == ["pull"]
    assert "exported 5 event(s)" in result.stderr
    denied = run(["--config", str(logged.dir / "regauth.toml"), "audit", "export", "--denied"])
    assert len(denied.stdout.splitlines()) == 4


def test_prune_deletes_old_events_and_records_the_change(logged: Instance) -> None:
    # The events are at the frozen test time, in the past of the CLI's real clock.
    code, out = _cli(logged, "prune")
    assert code == 2 and "give --older-than" in out
    code, out = _cli(logged, "prune", "--older-than", "36500d")
    assert code == 0 and "pruned 0 event(s)" in out
    code, out = _cli(logged, "prune", "--older-than", "1s")
    assert code == 0 and "pruned 5 event(s)" in out
    assert _cli(logged, "list")[1] == ""
    assert _cli(logged, "prune", "--older-than", "soon")[0] == 2


def test_retention_prunes_in_the_background(logged: Instance, clock: FrozenClock) -> None:
    async def main() -> tuple[int, int, int]:
        db = Database(logged.settings.database_url)
        try:
            store = AuditStore(db)
            off = await AuditRetention(store, clock, days=0, interval=1).prune_once()
            keep = await AuditRetention(store, clock, days=1, interval=1).prune_once()
            # Events at 12:00 (four) and 12:01 (one); now the next day 12:00:30.
            clock.advance(days=1, seconds=-30)
            pruned = await AuditRetention(store, clock, days=1, interval=1).prune_once()
            return off, keep, pruned
        finally:
            await db.dispose()

    assert anyio.run(main) == (0, 0, 4)
    _, out = _cli(logged, "list")
    assert len(out.splitlines()) == 2


def test_retention_days_is_validated(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock, extra="[audit]\nretention_days = 30\n", rules=RULES)
    assert inst.settings.audit.retention_days == 30
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError, match=r"audit\.retention_days"):
        make_instance(tmp_path / "b", clock, extra="[audit]\nretention_days = -1\n", rules=RULES)


def test_an_expired_login_records_the_attempted_name(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock, rules=RULES)
    inst.add_user("carol", "carol-pw")

    async def expire(db: Database) -> None:
        from regauth.store import UserStore
        from tests.conftest import FAST_HASHER

        hashed = FAST_HASHER.hash("carol-pw")
        await UserStore(db, clock).set_password("carol", hashed, expires_at=clock.at)

    async def main() -> None:
        db = Database(inst.settings.database_url)
        try:
            await expire(db)
        finally:
            await db.dispose()

    anyio.run(main)
    with inst.client() as client:
        r = get_token(client, "repository:public/x:pull", auth=basic("carol", "carol-pw"))
        assert r.status_code == 401
    _, out = _cli(inst, "list", "--user", "carol", "--denied")
    (row,) = out.splitlines()[1:]
    assert "[carol]" in row and "auth.invalid_credential" in row
