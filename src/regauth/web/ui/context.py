"""What the admin layer needs from the running configuration, for the UI's use cases."""

from __future__ import annotations

from starlette.requests import Request

from regauth.admin.rules import RulesContext
from regauth.authz.config_rules import compile_rules
from regauth.web.state import AppState


def rules_context(request: Request) -> RulesContext:
    """The global rules as the server evaluates them, and the served services."""
    state: AppState = request.app.state.regauth
    settings = state.runtime.settings
    return RulesContext(compile_rules(settings.rules), frozenset(settings.token.services))
