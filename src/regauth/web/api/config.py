"""``/api/v1/config``: the effective configuration (secrets redacted) and reload."""

from __future__ import annotations

from typing import Any

from regauth.admin import Permission
from regauth.admin import config as uc
from regauth.web.api.dispatch import Call
from regauth.web.api.models import Out
from regauth.web.api.table import Operation
from regauth.web.reload import Supervisor


class ConfigOut(Out):
    settings: dict[str, Any]


class ReloadOut(Out):
    reloaded: bool
    path: str


async def show(call: Call) -> ConfigOut:
    return ConfigOut(settings=uc.effective_config(call.actor, call.state.runtime.settings))


async def reload(call: Call) -> ReloadOut:
    supervisor: Supervisor = call.request.app.state.supervisor
    async with call.uow() as uow:
        view = await uc.reload_config(uow, call.actor, supervisor.config_path, supervisor.reload)
    return ReloadOut.model_validate(view)


OPERATIONS = (
    Operation(
        "GET", "/config", "showConfig", "The effective configuration, secrets redacted", "config",
        show, Permission.CONFIG_READ, out=ConfigOut,
    ),
    Operation(
        "POST", "/config/reload", "reloadConfig", "Validate the configuration file and reload it",
        "config", reload, Permission.ADMIN, out=ReloadOut,
        description="Reloads the process that answers; other workers reload when the file "
        "changes (they watch it) or on SIGHUP.",
    ),
)  # fmt: skip
