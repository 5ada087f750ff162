"""What a CEL access rule sees: ``identity``, ``request`` and ``now`` (SPEC §4 stage 5).

The activation is split in two because the two parts change at different
rates: ``identity`` and ``now`` are the same for every resource and action of
one token request, so :func:`new_context` converts them into a CEL context
once; ``request`` differs per action and is added by :func:`request_vars`
just before each evaluation. Every value is reduced to JSON-like Python
(``None``, bool, int, float, str, bytes, list, str-keyed dict) first, so the
conversion into CEL can never fail on an odd claim value.

``now`` is a timestamp made from ``RequestContext.at``: the clock is never
read here. The library's timestamp accessors (``now.getHours()``) work in UTC;
:data:`TIMESTAMP_FUNCTIONS` adds the CEL-standard forms with a time zone
argument (``now.getHours("Europe/Paris")``), which the library lacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import cel

from regauth.domain.rules import RequestContext
from regauth.domain.scope import ResourceActions

_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")


def new_context(ctx: RequestContext) -> cel.Context:
    """A CEL context holding ``identity`` and ``now`` for this request, plus the time helpers."""
    variables: dict[str, object] = {"identity": identity_vars(ctx), "now": timestamp(ctx.at)}
    return cel.Context(variables=variables, functions=dict(TIMESTAMP_FUNCTIONS))


def identity_vars(ctx: RequestContext) -> dict[str, object]:
    """The ``identity`` map; see docs/cel.md for each field."""
    principal = ctx.principal
    anonymous = principal.anonymous
    claims = plain_map(principal.claims)
    return {
        "username": None if anonymous else principal.subject,
        "id": None if anonymous else (principal.token_id or principal.subject),
        "source": principal.source,
        "groups": sorted(principal.groups),
        "client_ip": ctx.client_ip or None,
        "certificate_cn": _names(claims.get("certificate_cn")),
        "certificate_o": _names(claims.get("certificate_o")),
        "claims": claims,
        "plan": ctx.plan,
        "anonymous": anonymous,
    }


def request_vars(service: str, requested: ResourceActions, action: str) -> dict[str, object]:
    """The ``request`` map for deciding ``action``, one of the actions of ``requested``."""
    resource = requested.resource
    namespace, _, repository = resource.name.rpartition("/")
    return {
        "service": service,
        "type": resource.type,
        "name": resource.name,
        "namespace": namespace,
        "repository": repository,
        "action": action,
        "actions": list(requested.actions),
    }


def timestamp(at: int) -> datetime:
    """The CEL timestamp for unix seconds ``at`` (UTC)."""
    return datetime.fromtimestamp(at, tz=UTC)


def plain_map(value: Mapping[Any, object]) -> dict[str, object]:
    return {str(k): plain(v) for k, v in value.items()}


def plain(value: object) -> object:
    """``value`` as JSON-like Python that the CEL library can always convert."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, Mapping):
        return plain_map(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=str)
    return str(value)


def _names(value: object) -> list[str]:
    """A certificate name claim as a list: absent → [], one string → [it]."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    """A CEL time zone: an IANA name (``Europe/Paris``, ``UTC``) or a ``±HH:MM`` offset."""
    offset = _OFFSET.fullmatch(name)
    if offset is None:
        return ZoneInfo(name)
    sign = -1 if offset.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))


def _accessor(part: Callable[[datetime], int]) -> Callable[[datetime, str], int]:
    def call(ts: datetime, zone: str) -> int:
        return part(ts.astimezone(_zone(zone)))

    return call


# Only the two-argument forms: the library's native one-argument accessors
# still answer ``now.getHours()`` (UTC). Numbering follows the CEL spec
# (months, days of month and of year from 0; getDate from 1; Sunday = 0).
TIMESTAMP_FUNCTIONS: Mapping[str, Callable[[datetime, str], int]] = {
    "getFullYear": _accessor(lambda d: d.year),
    "getMonth": _accessor(lambda d: d.month - 1),
    "getDayOfYear": _accessor(lambda d: d.timetuple().tm_yday - 1),
    "getDayOfMonth": _accessor(lambda d: d.day - 1),
    "getDate": _accessor(lambda d: d.day),
    "getDayOfWeek": _accessor(lambda d: d.isoweekday() % 7),
    "getHours": _accessor(lambda d: d.hour),
    "getMinutes": _accessor(lambda d: d.minute),
    "getSeconds": _accessor(lambda d: d.second),
    "getMilliseconds": _accessor(lambda d: d.microsecond // 1000),
}
