"""The identity chain: ask each source in order; the first that decides wins (SPEC §3).

No credential → the anonymous principal (policy decides what it may do).
A credential no source recognises → ``auth.invalid_credential``.

Each attempt with a credential is counted in
``regauth_authentication_attempts_total{source,result}``: the deciding
source with ``success`` or ``failure``, or ``source="none", result="unknown"``
when no source recognised the credential. Anonymous requests are no attempt.
"""

from __future__ import annotations

from collections.abc import Sequence

from regauth.domain.credentials import Credential
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.errors import InvalidCredential
from regauth.metrics import Counter, MetricRegistry
from regauth.ports import Authenticated, Authenticator, CallerFacts, Rejected


def attempts_counter(registry: MetricRegistry) -> Counter:
    return Counter(
        registry,
        "regauth_authentication_attempts_total",
        "Authentication attempts by identity source and result",
        ["source", "result"],
    )


class IdentityChain:
    def __init__(self, sources: Sequence[Authenticator], attempts: Counter | None = None) -> None:
        self._sources = tuple(sources)
        self._attempts = attempts or attempts_counter(MetricRegistry())

    async def identify(self, credential: Credential | None, facts: CallerFacts) -> Principal:
        """Return the principal or raise the rejecting source's AuthenticationError."""
        if credential is None:
            return ANONYMOUS
        for source in self._sources:
            outcome = await source.authenticate(credential, facts)
            if isinstance(outcome, Authenticated):
                self._attempts.labels(source.name, "success").inc()
                return outcome.principal
            if isinstance(outcome, Rejected):
                self._attempts.labels(source.name, "failure").inc()
                raise outcome.error
        self._attempts.labels("none", "unknown").inc()
        raise InvalidCredential()
