"""An issuer's JSON Web Key Set: fetched, parsed once into key objects, cached (SPEC §3).

:class:`JwksCache` serves verification keys by ``kid``. It refetches the set
when it is older than the configured TTL, and when a token names a ``kid``
it does not know — at most once per ``min_refresh_interval`` (a flood of
tokens with made-up kids must not become a flood of requests to the IdP).
Concurrent refreshes are coalesced: one fetch is in flight, the others wait
for its result. A fetch that fails raises :class:`~regauth.errors.JwksUnavailable`
(503): without current keys no token of that issuer can be verified.

Time comes from the injected clock (STYLE rule 7).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from jwt.algorithms import AllowedPublicKeys, ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from regauth.errors import JwksUnavailable
from regauth.ports import Clock

log = logging.getLogger("regauth.authn.oidc")

MAX_DOCUMENT_BYTES = 1 << 20
# Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_PARSERS: Mapping[str, Callable[[Any], Any]] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}


class FetchFailed(Exception):
    """A discovery or JWKS document could not be fetched. The reason is for logs only."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key from a JWK, with what the JWK says about its use."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: AllowedPublicKeys

    def accepts(self, alg: str) -> bool:
        """Whether a JWS with header ``alg`` may be verified with this key."""
        if self.alg is not None and self.alg != alg:
            return False
        if alg in _CURVES:
            return self.kty == "EC" and self.crv == _CURVES[alg]
        if alg[:2] in ("RS", "PS"):
            return self.kty == "RSA"
        return alg == "EdDSA" and self.kty == "OKP" and self.crv in ("Ed25519", "Ed448")


def public_key(jwk: Mapping[str, object]) -> VerificationKey:
    """Parse a public JWK (RSA, EC or OKP). Raises ValueError when it is not one."""
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _PARSERS:
        raise ValueError(f"unsupported key type {kty!r}")
    if PRIVATE_MEMBERS & jwk.keys():
        raise ValueError("the JWK contains private key members")
    kid, crv, alg = jwk.get("kid"), jwk.get("crv"), jwk.get("alg")
    try:
        key = _PARSERS[kty](dict(jwk))
    except (PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid {kty} key: {type(exc).__name__}") from None
    return VerificationKey(
        kid=kid if isinstance(kid, str) else None,
        kty=kty,
        crv=crv if isinstance(crv, str) else None,
        alg=alg if isinstance(alg, str) else None,
        key=key,
    )


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[VerificationKey, ...]

    @classmethod
    def parse(cls, document: Mapping[str, object]) -> KeySet:
        """Keep the usable signature keys; skip encryption, symmetric and unknown ones."""
        raw = document.get("keys")
        if not isinstance(raw, list):
            raise FetchFailed("the JWKS has no 'keys' array")
        keys = []
        for item in raw:
            if not isinstance(item, dict) or item.get("use", "sig") != "sig":
                continue
            public = {k: v for k, v in item.items() if k not in PRIVATE_MEMBERS}
            try:
                keys.append(public_key(public))
            except ValueError:
                continue
        return cls(tuple(keys))

    def find(self, kid: str | None) -> VerificationKey | None:
        """The key named ``kid``; a token without kid matches a set of exactly one key."""
        if kid is None:
            return self.keys[0] if len(self.keys) == 1 else None
        return next((key for key in self.keys if key.kid == kid), None)


async def fetch_json(http: httpx.AsyncClient, url: str) -> dict[str, object]:
    """GET a JSON object (at most 1 MiB). Raises FetchFailed with a loggable reason."""
    body = bytearray()
    try:
        async with http.stream("GET", url, headers={"accept": "application/json"}) as response:
            if response.status_code != 200:
                raise FetchFailed(f"HTTP status {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchFailed(f"response larger than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise FetchFailed("response is not JSON") from None
    if not isinstance(document, dict):
        raise FetchFailed("response is not a JSON object")
    return document


class JwksCache:
    """The keys of one issuer. ``label`` (the issuer's config name) appears in logs."""

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient,
        clock: Clock,
        ttl: float,
        label: str,
        min_refresh_interval: float = 10.0,
    ) -> None:
        self.url = url
        self._http = http
        self._clock = clock
        self._ttl = ttl
        self._label = label
        self._min_interval = min_refresh_interval
        self._lock = anyio.Lock()
        self._keys = KeySet(())
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._attempts = 0
        self._failed = False

    @property
    def healthy(self) -> bool:
        """The last fetch succeeded (for readiness checks)."""
        return self._attempts > 0 and not self._failed

    async def load(self) -> None:
        """The first fetch, at start-up. Raises FetchFailed (the caller makes it a ConfigError)."""
        self._attempted_at = self._now()
        self._attempts += 1
        self._failed = True
        keys = KeySet.parse(await fetch_json(self._http, self.url))
        if not keys.keys:
            raise FetchFailed("the JWKS has no usable signature keys")
        self._keys, self._fetched_at, self._failed = keys, self._attempted_at, False

    async def find(self, kid: str | None) -> VerificationKey | None:
        """The key for ``kid``, refreshing when stale or unknown; None when still unknown.

        Raises JwksUnavailable when a needed refresh fails.
        """
        now = self._now()
        if now - self._fetched_at >= self._ttl:
            if self._failed and now - self._attempted_at < self._min_interval:
                raise JwksUnavailable("the identity provider's keys are unavailable")
            await self._refresh(self._attempts, "cache expired")
        key = self._keys.find(kid)
        if key is None and self._now() - self._attempted_at >= self._min_interval:
            await self._refresh(self._attempts, "unknown kid")
            key = self._keys.find(kid)
        return key

    async def _refresh(self, seen_attempts: int, reason: str) -> None:
        async with self._lock:
            if self._attempts != seen_attempts:  # another task fetched while we waited
                if self._failed:
                    raise JwksUnavailable("the identity provider's keys are unavailable")
                return
            self._attempts += 1
            self._attempted_at = self._now()
            try:
                keys = KeySet.parse(await fetch_json(self._http, self.url))
            except FetchFailed as exc:
                self._failed = True
                log.warning("oidc %s: JWKS refresh (%s) failed: %s", self._label, reason, exc)
                raise JwksUnavailable("the identity provider's keys are unavailable") from None
            self._failed = False
            self._keys, self._fetched_at = keys, self._attempted_at
            log.info("oidc %s: JWKS refreshed (%s), %d keys", self._label, reason, len(keys.keys))

    def _now(self) -> float:
        return self._clock.now().timestamp()
