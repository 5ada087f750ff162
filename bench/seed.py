"""Bench data at scale: many rules in the config and the database, many users.

Rows are written straight into the SQLite database that ``regauth init``
created (one transaction each), because adding 100,000 users or 1,000 rules
through the CLI would take longer than the whole benchmark.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

NOW = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def global_rules(count: int) -> str:
    """``count`` config rules, none of which matches the bench requests.

    Each names its own top-level namespace (``org-<i>/…``), as an organisation
    with thousands of repositories would, with the usual mix of who-matchers.
    """
    who = ('account = "user-{i}"', 'group = "team-{i}"', "anonymous = true", 'account = "*"')
    out = []
    for i in range(count):
        out.append(
            f'[[rules]]\n{who[i % len(who)].format(i=i)}\nname = "org-{i}/app-{i % 7}/**"\n'
            f'actions = ["pull"]\n'
        )
    return "".join(out)


def _db(workdir: Path) -> sqlite3.Connection:
    return sqlite3.connect(workdir / "regauth.db")


def _id(db: sqlite3.Connection, table: str, name: str) -> int:
    row = db.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()  # noqa: S608
    return int(row[0])


def account_rules(workdir: Path, user: str, groups: int, per_owner: int) -> None:
    """``per_owner`` non-matching rules on ``user`` and on each of ``groups`` groups it joins."""
    with _db(workdir) as db:
        user_id = _id(db, "users", user)
        owners: list[tuple[str, int]] = [("user_id", user_id)]
        for g in range(groups):
            name = f"bench-group-{g}"
            db.execute("INSERT INTO groups (name, created_at) VALUES (?, ?)", (name, NOW))
            group_id = _id(db, "groups", name)
            db.execute("INSERT INTO memberships VALUES (?, ?)", (user_id, group_id))
            owners.append(("group_id", group_id))
        for column, owner in owners:
            rows = [
                (owner, pos, f"proj-{owner}-{pos}/**", "pull", NOW)
                for pos in range(1, per_owner + 1)
            ]
            columns = f"{column}, position, type, name, actions, services, client_cidrs, comment"
            sql = f"INSERT INTO rules ({columns}, created_at) VALUES (?, ?, 'repository', ?, ?, '', '', '', ?)"  # noqa: S608, E501
            db.executemany(sql, rows)


def users(workdir: Path, count: int, password_hash: str) -> None:
    """``count`` more users (sharing one password hash: only the row count matters)."""
    with _db(workdir) as db:
        db.executemany(
            "INSERT INTO users (name, password_hash, disabled, kind, created_at)"
            " VALUES (?, ?, 0, 'user', ?)",
            ((f"user-{i:06d}", password_hash, NOW) for i in range(count)),
        )
