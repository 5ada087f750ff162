"""Use cases on the configuration: the effective settings (secrets redacted) and reload.

The configuration file stays the single source of truth: nothing here writes
it. ``reload_config`` validates the file first (an invalid file is
``admin.invalid`` naming the dotted path at fault, and the running
configuration stays), then asks the serving process to build and swap a new
runtime, exactly as SIGHUP does.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio

from regauth.admin.actor import Actor, Permission
from regauth.admin.uow import Change, UnitOfWork
from regauth.config import Settings, load_settings
from regauth.errors import AdminConflict, AdminInvalid, ConfigError

REDACTED = "**********"  # what pydantic writes for a SecretStr


@dataclass(frozen=True, slots=True)
class ReloadView:
    reloaded: bool
    path: str


def effective_config(actor: Actor, settings: Settings) -> dict[str, Any]:
    """The settings in force, as JSON values; secrets and database passwords redacted."""
    actor.require(Permission.CONFIG_READ)
    data = settings.model_dump(mode="json", by_alias=True)
    data["database"]["url"] = redact_url(settings.database.url)
    return data


async def reload_config(
    uow: UnitOfWork, actor: Actor, path: Path | None, reload: Callable[[], Awaitable[bool]]
) -> ReloadView:
    """Validate the file, then rebuild and swap the runtime; record who asked."""
    actor.require(Permission.ADMIN)
    if path is None:
        raise AdminConflict("this server was started without a configuration file to reload")
    try:
        await anyio.to_thread.run_sync(load_settings, path, os.environ)
    except ConfigError as exc:
        raise AdminInvalid({exc.path or "config": exc.message}) from None
    reloaded = await reload()
    if not reloaded:
        raise AdminConflict("the new configuration could not be started; the old one stays")
    uow.record(Change(actor, "config:reload", str(path), None, {"reloaded": True}))
    await uow.commit()
    return ReloadView(True, str(path))


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:{REDACTED}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
