"""Who makes an administrative change, and what they may do.

Every use case takes an :class:`Actor` (never optional): the CLI passes
``Actor.console(os_user)``, the admin API the authenticated caller with the
permissions its token carries. ``Permission.ADMIN`` holds every permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from regauth.errors import AdminForbidden


class Permission(StrEnum):
    """What an actor may do; the values are the admin API's scope names."""

    ADMIN = "admin"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    GROUPS_READ = "groups:read"
    GROUPS_WRITE = "groups:write"
    RULES_READ = "rules:read"
    RULES_WRITE = "rules:write"
    TOKENS_READ = "tokens:read"
    TOKENS_WRITE = "tokens:write"
    KEYS_READ = "keys:read"
    KEYS_WRITE = "keys:write"
    AUDIT_READ = "audit:read"
    AUDIT_WRITE = "audit:write"
    CONFIG_READ = "config:read"
    CHECK = "check:run"
    ACCESS_READ = "access:read"
    ACCESS_WRITE = "access:write"


ACTOR_KINDS = frozenset({"console", "user", "apikey", "oidc"})


@dataclass(frozen=True, slots=True)
class Actor:
    """``kind`` is console | user | apikey | oidc; ``address`` the client IP ("" on the console)."""

    kind: str
    name: str
    address: str = ""
    permissions: frozenset[Permission] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"actor kind must be one of {sorted(ACTOR_KINDS)}, not {self.kind!r}")
        if not self.name:
            raise ValueError("an actor has a name")

    @classmethod
    def console(cls, os_user: str) -> Actor:
        """Whoever runs the ``regauth`` command on the server: they hold every permission."""
        return cls("console", os_user or "unknown", "", frozenset({Permission.ADMIN}))

    def holds(self, permission: Permission) -> bool:
        return Permission.ADMIN in self.permissions or permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Step one of every use case; raises ``admin.forbidden`` naming the permission."""
        if not self.holds(permission):
            raise AdminForbidden(f"this needs the {permission.value} permission")

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"
