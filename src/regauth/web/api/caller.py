"""Who is calling ``/api/v1``: credentials → principal → :class:`~regauth.admin.Actor`.

The credential is read from ``Authorization`` (Basic or Bearer) or
``X-Api-Key`` only — never a cookie, never the TLS client certificate — and
identified by the same identity chain as ``/token``, through the same
failed-login throttle (a 429 here counts against the account and address as
it does there).

What the caller may do (documented in the README's "Admin API" chapter):

* a local account (password or personal access token; LDAP accounts too) is an
  administrator when it is a member of one of ``admin.groups``;
* an API key is one when its ``scopes`` include ``admin``;
* an OIDC bearer token is one when its scopes (after ``scope_map``) include one
  of ``admin.oidc_scopes``, or its groups one of ``admin.oidc_groups``.

Administrators hold :attr:`Permission.ADMIN` (every permission). Any other local
account holds none and may only use the self-service operations on itself;
every other caller gets 403 ``auth.scope_denied`` everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from regauth.admin import Actor, Permission
from regauth.config.admin import AdminSettings
from regauth.domain.credentials import CertificateCredential
from regauth.domain.principal import Principal
from regauth.errors import MissingCredential, ScopeDenied
from regauth.web.state import AppState
from regauth.web.token import request_credential

LOCAL_SOURCES = frozenset({"local", "pat", "robot", "ldap"})
ADMIN_SCOPE = "admin"
ALL = frozenset({Permission.ADMIN})


async def authenticate(request: Request, state: AppState) -> Actor:
    """The actor of this request; 401 without (valid) credentials, 403 for a kind we refuse."""
    credential = request_credential(request.headers.get("authorization"), request)
    if credential is None or isinstance(credential, CertificateCredential):
        raise MissingCredential("the admin API needs Authorization (Basic or Bearer) or X-Api-Key")
    facts = state.caller_facts(request, "")
    principal = await state.service().identify(credential, facts)
    return actor_of(principal, state.runtime.settings.admin, facts.client_ip or "")


def actor_of(principal: Principal, admin: AdminSettings, address: str) -> Actor:
    """Map an identified principal to an actor with its permissions (pure)."""
    if principal.source in LOCAL_SOURCES:
        admin_user = _meets(principal.groups, admin.groups)
        return Actor("user", principal.subject, address, ALL if admin_user else frozenset())
    if principal.source == "apikey":
        scopes = _strings(principal.claims.get("scopes"))
        held = ALL if ADMIN_SCOPE in scopes else frozenset()
        return Actor("apikey", principal.subject, address, held)
    if principal.source == "oidc":
        scopes = _strings(principal.claims.get("scopes"))
        is_admin = _meets(scopes, admin.oidc_scopes) or _meets(principal.groups, admin.oidc_groups)
        return Actor("oidc", principal.subject, address, ALL if is_admin else frozenset())
    raise ScopeDenied("this kind of credential cannot use the admin API")


def _meets(held: Iterable[str], wanted: Iterable[str]) -> bool:
    return not frozenset(held).isdisjoint(wanted)


def _strings(value: object) -> frozenset[str]:
    if isinstance(value, list | tuple):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()
