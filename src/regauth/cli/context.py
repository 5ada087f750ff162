"""What every command shares: the configuration path and lazily built objects."""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from regauth.errors import ConfigError
from regauth.ports import SystemClock

if TYPE_CHECKING:
    # Imported where used: a command pays only for the layers it needs.
    from regauth.admin import Actor, UnitOfWork
    from regauth.config import Settings
    from regauth.keys import KeyStore
    from regauth.runtime import Closer
    from regauth.service import Decider
    from regauth.store import Database

T = TypeVar("T")


class CliContext:
    def __init__(self, config_path: str | None) -> None:
        self.explicit_path = config_path
        self.clock = SystemClock()
        self._settings: Settings | None = None

    @property
    def config_path(self) -> Path:
        # pydantic (the configuration model) only for commands that read it, not for --help
        from regauth.config import find_config_path

        return find_config_path(self.explicit_path, os.environ)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from regauth.config import load_settings

            self._settings = load_settings(self.config_path, os.environ)
        return self._settings

    def use_settings(self, settings: Settings) -> None:
        """Use ``settings`` instead of reading the configuration file."""
        self._settings = settings

    def decider(self, db: Database, *, webhooks: bool) -> tuple[Decider, Closer]:
        """The same authorization pipeline as the server, over ``db``."""
        from regauth.runtime import build_decider

        return build_decider(self.settings, db, self.clock, webhooks=webhooks)

    def key_store(self) -> KeyStore:
        """The configured key store, closed when the command ends (a database one is
        migrated first: its table may be new)."""
        from regauth.runtime import key_store
        from regauth.store import Database

        if self.settings.keys.store == "database":
            Database(self.settings.database_url).migrate()
        store = key_store(self.settings, self.clock)
        click.get_current_context().call_on_close(store.close)
        return store

    @property
    def actor(self) -> Actor:
        """Whoever runs the command: the console actor named after the OS user."""
        from regauth.admin import Actor

        return Actor.console(getpass.getuser())

    def run_db(
        self, fn: Callable[[Database], Awaitable[T]], *, scratch_if_missing: bool = False
    ) -> T:
        """Run ``fn`` against the migrated database, then dispose of the engine.

        Only ``regauth init`` creates a database: a missing SQLite file is an
        error here, not a new empty database. ``scratch_if_missing`` (for
        ``policy test``) runs ``fn`` on an empty throw-away database instead.
        """
        from regauth.store import Database

        db = Database(self.settings.database_url)
        if not db.exists():
            if not scratch_if_missing:
                raise ConfigError(
                    f"database {db.redacted_url()} does not exist: run `regauth init` "
                    f"or fix database.url in {self.config_path}"
                )
            with tempfile.TemporaryDirectory() as scratch:
                click.echo("note: no database yet; using the configuration's rules only", err=True)
                return self._run(Database(f"sqlite:///{scratch}/scratch.db"), fn)
        return self._run(db, fn)

    @staticmethod
    def _run(db: Database, fn: Callable[[Database], Awaitable[T]]) -> T:
        # asyncio itself, not anyio.run: importing anyio (its sockets, streams and TLS
        # layers) is a noticeable share of a one-shot command; code that uses anyio
        # still runs, anyio works on any running asyncio loop.
        import asyncio

        if not sqlite_schema_is_current(db.url):
            db.migrate()

        async def main() -> T:
            try:
                return await fn(db)
            finally:
                await db.dispose()

        return asyncio.run(main())

    def run_admin(self, fn: Callable[[UnitOfWork, Actor], Awaitable[T]]) -> T:
        """Run an admin use case in one unit of work, as the console actor."""
        from regauth.admin import UnitOfWork

        actor = self.actor

        async def run(db: Database) -> T:
            async with UnitOfWork(db, self.clock) as uow:
                return await fn(uow, actor)

        return self.run_db(run)


_REVISION = re.compile(r'^(down_)?revision\b[^=]*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def head_revisions(versions: Path) -> set[str]:
    """The revisions no migration builds on (Alembic's heads), read from the files.

    Reading a few small files is much cheaper than importing Alembic, which a CLI
    call otherwise pays even when the schema is already up to date.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        for match in _REVISION.finditer(path.read_text(encoding="utf-8")):
            if match.group(2) is None:
                continue
            (parents if match.group(1) else revisions).add(match.group(2))
    return revisions - parents


def sqlite_schema_is_current(url: str) -> bool:
    """True when ``url`` is an SQLite file whose schema is at the newest revision.

    False whenever in doubt (not SQLite, no file, no version table, unreadable):
    the caller then runs the migrations, which are a no-op when current.
    """
    if not url.startswith("sqlite:///"):
        return False
    path = Path(url.removeprefix("sqlite:///"))
    if not path.is_file():
        return False
    from regauth.store.database import MIGRATIONS

    heads = head_revisions(MIGRATIONS / "versions")
    try:
        with contextlib.closing(
            sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        ) as conn:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return False
    return bool(heads) and {row[0] for row in rows} == heads


def read_secret(prompt: str, from_stdin: bool) -> str:
    """A password from stdin (first line) or an interactive prompt; never echoed."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    else:
        raise click.UsageError("no terminal: pass --password-stdin and pipe the password")
    if not value:
        raise click.UsageError("the password is empty")
    return value


pass_cli = click.make_pass_decorator(CliContext)
