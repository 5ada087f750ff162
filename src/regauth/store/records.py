"""Values returned by the store's repositories.

Repositories never hand out ORM objects: callers get these frozen records,
detached from any session. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A local user or robot account with the names of its groups (sorted).

    ``password_hash`` is ``None`` when the account cannot log in with a
    password (robots); it is kept out of ``repr``.
    """

    id: int
    name: str
    password_hash: str | None = field(repr=False)
    disabled: bool
    kind: str
    password_expires_at: datetime | None
    groups: tuple[str, ...]
    created_at: datetime
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A refresh token or personal access token, joined with its owner.

    The secret hash is not part of the record: the only caller that needs it
    already holds it (``TokenStore.find_by_hash``). ``rules_json`` is opaque to
    the store. ``user_disabled`` lets the hot path reject a token of a disabled
    owner without a second query.
    """

    id: str
    user_id: int
    user_name: str
    kind: str
    name: str
    client_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_addr: str | None
    rules_json: str
    user_disabled: bool
