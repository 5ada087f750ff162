"""What every command shares: the configuration path and lazily built objects."""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import click

from regauth.config import Settings, find_config_path, load_settings
from regauth.errors import ConfigError
from regauth.keys import KeyStore
from regauth.ports import SystemClock
from regauth.runtime import Closer, build_decider, key_store
from regauth.service import Decider
from regauth.store import Database

if TYPE_CHECKING:
    from regauth.admin import Actor, UnitOfWork

T = TypeVar("T")


class CliContext:
    def __init__(self, config_path: str | None) -> None:
        self.explicit_path = config_path
        self.clock = SystemClock()
        self._settings: Settings | None = None

    @property
    def config_path(self) -> Path:
        return find_config_path(self.explicit_path, os.environ)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path, os.environ)
        return self._settings

    def decider(self, db: Database, *, webhooks: bool) -> tuple[Decider, Closer]:
        """The same authorization pipeline as the server, over ``db``."""
        return build_decider(self.settings, db, self.clock, webhooks=webhooks)

    def key_store(self) -> KeyStore:
        return key_store(self.settings, self.clock)

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
        db.migrate()

        async def main() -> T:
            try:
                return await fn(db)
            finally:
                await db.dispose()

        return anyio.run(main)

    def run_admin(self, fn: Callable[[UnitOfWork, Actor], Awaitable[T]]) -> T:
        """Run an admin use case in one unit of work, as the console actor."""
        from regauth.admin import UnitOfWork

        actor = self.actor

        async def run(db: Database) -> T:
            async with UnitOfWork(db, self.clock) as uow:
                return await fn(uow, actor)

        return self.run_db(run)


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
