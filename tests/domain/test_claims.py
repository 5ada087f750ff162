from __future__ import annotations

from regauth.domain.claims import TokenRequestFacts, token_claims
from regauth.domain.policy import Grant
from regauth.domain.scope import parse_scope


def test_claims_shape() -> None:
    granted = Grant.start(parse_scope("repository:team/app:pull,push")).narrow(
        "account", ["pull"], "r1"
    )
    nothing = Grant.start(parse_scope("repository:other/app:push")).narrow("account", [], "r2")
    plugin = Grant.start(parse_scope("repository(plugin):p/q:pull"))
    facts = TokenRequestFacts("iss", "", "registry.local", 1_700_000_000, 300, "jti-1")
    claims = token_claims(facts, [granted, nothing, plugin])
    assert claims == {
        "iss": "iss",
        "sub": "",
        "aud": "registry.local",
        "exp": 1_700_000_300,
        "nbf": 1_700_000_000,
        "iat": 1_700_000_000,
        "jti": "jti-1",
        "access": [
            {"type": "repository", "name": "team/app", "actions": ["pull"]},
            {"type": "repository", "name": "p/q", "class": "plugin", "actions": ["pull"]},
        ],
    }
    assert all(isinstance(claims[k], int) for k in ("exp", "nbf", "iat"))


def test_nothing_granted_gives_empty_access() -> None:
    facts = TokenRequestFacts("iss", "alice", "svc", 0, 300, "j")
    denied = Grant.start(parse_scope("repository:x/y:push")).narrow("account", [], "none")
    assert token_claims(facts, [denied])["access"] == []
