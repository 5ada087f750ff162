"""Who is looking at a page: the browser session and the admin layer's actor for it.

The actor comes from the same mapping as the admin API's callers
(:func:`regauth.web.api.caller.actor_of`), so "who is an administrator" is
decided in one place. A local account is read again on every request (the
user cache holds it for ``database.cache_seconds``): a removed or disabled
account loses its sessions at once, and a group change takes effect on the
next page.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from regauth.admin import Actor, Permission, UnitOfWork
from regauth.authn.browser import BrowserSession
from regauth.domain.principal import Principal
from regauth.web.api.caller import actor_of
from regauth.web.state import AppState
from regauth.web.ui import session as sessions


@dataclass(frozen=True, slots=True)
class Visit:
    session: BrowserSession
    actor: Actor

    @property
    def admin(self) -> bool:
        return self.actor.holds(Permission.ADMIN)

    @property
    def user(self) -> str:
        return self.session.subject

    @property
    def local(self) -> bool:
        """A local account: it has a password here and may own tokens."""
        return self.session.principal.source == "local"


async def visit_of(request: Request, session: BrowserSession) -> Visit | None:
    """The visit, or None when the account behind the session is gone or disabled."""
    state: AppState = request.app.state.regauth
    principal = session.principal
    if principal.source == "local":
        user = await state.runtime.users.get(principal.subject)
        if user is None or user.disabled:
            return None
        principal = Principal(user.name, "local", frozenset(user.groups))
    elif principal.source != "ldap":
        # Signed in at the IdP: its groups count against admin.oidc_groups, like a bearer token.
        principal = Principal(principal.subject, "oidc", principal.groups, {"scopes": []})
    address = state.client_ip(request) or ""
    return Visit(session, actor_of(principal, state.runtime.settings.admin, address))


def unit_of_work(request: Request) -> UnitOfWork:
    state: AppState = request.app.state.regauth
    return UnitOfWork(state.runtime.db, sessions.services(request).clock)
