"""The registry JWT claims (SPEC §1; Distribution's token specification).

``aud`` is a JSON string, times are integers, ``sub`` is ``""`` for the
anonymous caller. Resources with no granted action are left out of
``access``; a request with nothing granted gets an empty list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from regauth.domain.policy import Grant


@dataclass(frozen=True, slots=True)
class TokenRequestFacts:
    """Everything the claims need that is not a grant."""

    issuer: str
    subject: str
    audience: str
    issued_at: int
    ttl: int
    jti: str


def access_claim(grants: Iterable[Grant]) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for grant in grants:
        if not grant.actions:
            continue
        resource = grant.requested.resource
        entry: dict[str, object] = {"type": resource.type, "name": resource.name}
        if resource.cls:
            entry["class"] = resource.cls
        entry["actions"] = list(grant.actions)
        entries.append(entry)
    return entries


def token_claims(facts: TokenRequestFacts, grants: Iterable[Grant]) -> dict[str, object]:
    return {
        "iss": facts.issuer,
        "sub": facts.subject,
        "aud": facts.audience,
        "exp": facts.issued_at + facts.ttl,
        "nbf": facts.issued_at,
        "iat": facts.issued_at,
        "jti": facts.jti,
        "access": access_claim(grants),
    }
