"""In-process cost of each authorization stage and of signing, in µs per resource."""

from __future__ import annotations

import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from metric_costs import costs as metric_costs

from regauth.authz.cel import AccessPolicy, CelPolicies
from regauth.authz.config_rules import compile_rules
from regauth.config.rules import RuleSettings
from regauth.domain.claims import TokenRequestFacts, token_claims
from regauth.domain.patterns import Pattern
from regauth.domain.plans import PlanEntry, Plans
from regauth.domain.policy import AccountRules, Grant, TokenRules
from regauth.domain.principal import Principal
from regauth.domain.rules import RequestContext, Rule
from regauth.domain.scope import parse_scopes
from regauth.keys import Algorithm, KeyStore, TokenSigner


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _rules(*entries: dict[str, object]) -> tuple[Rule, ...]:
    return compile_rules([RuleSettings.model_validate(e) for e in entries])


def _time(fn: Callable[[], object], number: int = 20000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6


def stage_costs() -> list[tuple[str, float]]:
    config = _rules(
        {"account": "admin", "name": "**", "actions": ["*"]},
        {"anonymous": True, "name": "public/**", "actions": ["pull"]},
        {"account": "*", "name": "${account}/**", "actions": ["pull", "push"]},
    )
    user = _rules({"name": "team/secret/**", "actions": [], "deny": True})
    groups = (("dev", _rules({"name": "team/**", "actions": ["pull", "push"]})),)
    token = _rules({"name": "**", "actions": ["pull"]})
    principal = Principal("alice", "pat", frozenset({"dev"}), token_id="t1", token_rules=token)
    ctx = RequestContext(principal, "registry.local", "10.0.0.1", at=1_800_000_000, plan="team")
    (item,) = parse_scopes(["repository:team/app:pull,push"])
    grant = Grant.start(item)
    account = AccountRules(config, user, groups)
    plans = Plans({"team": (PlanEntry(Pattern.compile("team/*"), ("pull", "push")),)})
    cel = CelPolicies.build(
        AccessPolicy(False, ("identity.username != null && 'dev' in identity.groups",)), {}
    )
    assert cel is not None
    signer = _signer()
    facts = TokenRequestFacts("regauth", "alice", "registry.local", 1_800_000_000, 300, "j" * 24)
    claims = token_claims(facts, [grant])

    def cel_fresh() -> object:  # a new request context each time: the realistic cost
        fresh = RequestContext(principal, "registry.local", "10.0.0.1", at=1_800_000_000)
        return cel.apply(grant, fresh)

    return [
        ("scope parsing", _time(lambda: parse_scopes(["repository:team/app:pull,push"]))),
        ("1 account rules (user+group+global)", _time(lambda: account.apply(grant, ctx))),
        ("2 token rules", _time(lambda: TokenRules().apply(grant, ctx))),
        ("3 plan", _time(lambda: plans.apply(grant, ctx))),
        ("5 CEL policy (1 rule, 2 actions)", _time(cel_fresh, 2000)),
        ("claims", _time(lambda: token_claims(facts, [grant]))),
        ("ES256 signature (JWS)", _time(lambda: signer.sign(claims), 5000)),
        *metric_costs(),
    ]


def _signer() -> TokenSigner:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="regauth-bench-keys-"))
    store = KeyStore(directory, _Clock())
    store.create_ca(Algorithm.ES256)
    store.generate(Algorithm.ES256)
    return TokenSigner(store.load())


if __name__ == "__main__":
    for name, micros in stage_costs():
        print(f"{name:<36}{micros:>8.1f}")
