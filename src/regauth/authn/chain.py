"""The identity chain: ask each source in order; the first that decides wins (SPEC §3).

No credential → the anonymous principal (policy decides what it may do).
A credential no source recognises → ``auth.invalid_credential``.
"""

from __future__ import annotations

from collections.abc import Sequence

from regauth.domain.credentials import Credential
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.errors import InvalidCredential
from regauth.ports import Authenticated, Authenticator, CallerFacts, Rejected


class IdentityChain:
    def __init__(self, sources: Sequence[Authenticator]) -> None:
        self._sources = tuple(sources)

    async def identify(self, credential: Credential | None, facts: CallerFacts) -> Principal:
        """Return the principal or raise the rejecting source's AuthenticationError."""
        if credential is None:
            return ANONYMOUS
        for source in self._sources:
            outcome = await source.authenticate(credential, facts)
            if isinstance(outcome, Authenticated):
                return outcome.principal
            if isinstance(outcome, Rejected):
                raise outcome.error
        raise InvalidCredential()
