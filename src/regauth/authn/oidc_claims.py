"""Pure claim handling for OIDC bearer JWTs: reading, time/audience checks, scopes, principal.

Nothing here does I/O or verifies signatures: :mod:`regauth.authn.oidc` calls
:func:`split_unverified` only to route a token to its issuer, and the other
functions only on claims whose signature it has verified.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from types import MappingProxyType

from regauth.domain.principal import Principal
from regauth.errors import AuthenticationError, InvalidCredential, TokenExpired

SOURCE = "oidc"
MAX_TOKEN_CHARS = 16384
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

Claims = Mapping[str, object]


def looks_like_jwt(value: str) -> bool:
    """Three base64url segments (a compact JWS), of a sane size."""
    return len(value) <= MAX_TOKEN_CHARS and _JWT.fullmatch(value) is not None


def _segment(data: str) -> dict[str, object] | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def split_unverified(token: str) -> tuple[dict[str, object], dict[str, object]] | None:
    """Header and claims of a compact JWS, NOT verified; None when it is not a JWT."""
    if not looks_like_jwt(token):
        return None
    header_part, claims_part, _ = token.split(".")
    header, claims = _segment(header_part), _segment(claims_part)
    if header is None or claims is None:
        return None
    return header, claims


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_registered_claims(
    claims: Claims, *, audience: tuple[str, ...], now: float, leeway: float
) -> AuthenticationError | None:
    """``aud`` (any configured value), ``exp`` (required) and ``nbf``, with leeway."""
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(v, str) and v in audience for v in values):
        return InvalidCredential("the token's audience is not accepted here")
    exp = _number(claims.get("exp"))
    if exp is None:
        return InvalidCredential("the token has no numeric exp claim")
    if now > exp + leeway:
        return TokenExpired("the token has expired")
    nbf = _number(claims.get("nbf"))
    if nbf is None and claims.get("nbf") is not None:
        return InvalidCredential("the token's nbf claim is not a number")
    if nbf is not None and now + leeway < nbf:
        return InvalidCredential("the token is not valid yet (nbf)")
    return None


def scopes_of(value: object, scope_map: Mapping[str, str]) -> tuple[str, ...]:
    """Scopes from a space-separated string, a JSON array, or an object's keys (Zitadel).

    Each is renamed through ``scope_map`` (unmapped ones stay); order kept, duplicates dropped.
    """
    if isinstance(value, str):
        raw: list[str] = value.split()
    elif isinstance(value, list):
        raw = [item for item in value if isinstance(item, str)]
    elif isinstance(value, dict):
        raw = [str(key) for key in value]
    else:
        raw = []
    return tuple(dict.fromkeys(scope_map.get(scope, scope) for scope in raw if scope))


def groups_of(value: object) -> frozenset[str]:
    """Groups from a JSON array of strings or a space-separated string."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str) and item)
    return frozenset()


def subject_of(claims: Claims) -> str | None:
    """``sub``, else ``client_id``, else ``azp`` (seed 002)."""
    for name in ("sub", "client_id", "azp"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def build_principal(
    claims: Claims,
    *,
    issuer_name: str,
    scopes: tuple[str, ...],
    groups_claim: str,
) -> Principal | AuthenticationError:
    """The principal of verified claims; claims gain ``scopes`` and ``issuer_name``."""
    subject = subject_of(claims)
    if subject is None:
        return InvalidCredential("the token names no subject (sub, client_id or azp)")
    jti = claims.get("jti")
    enriched = {**claims, "scopes": list(scopes), "issuer_name": issuer_name}
    return Principal(
        subject=subject,
        source=SOURCE,
        groups=groups_of(claims.get(groups_claim)),
        claims=MappingProxyType(enriched),
        token_id=jti if isinstance(jti, str) and jti else None,
    )
