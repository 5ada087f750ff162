"""What every command shares: the configuration path and lazily built objects."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import click

from regauth.config import Settings, find_config_path, load_settings
from regauth.keys import KeyStore
from regauth.ports import SystemClock
from regauth.runtime import Closer, build_decider, key_store
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
        """The configured key store, closed when the command ends (a database one is
        migrated first: its table may be new)."""
        if self.settings.keys.store == "database":
            Database(self.settings.database_url).migrate()
        store = key_store(self.settings, self.clock)
        click.get_current_context().call_on_close(store.close)
        return store

    def run_db(self, fn: Callable[[Database], Awaitable[T]]) -> T:
        """Run ``fn`` against a migrated database, then dispose of the engine."""
        db = Database(self.settings.database_url)
        db.migrate()

        async def main() -> T:
            try:
                return await fn(db)
            finally:
                await db.dispose()

        return anyio.run(main)


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
