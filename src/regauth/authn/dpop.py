"""Sender-constrained access tokens: DPoP proofs (RFC 9449) and certificate binding (RFC 8705).

Seed 004: an authority token whose ``cnf`` names a key is only worth
something together with proof of possession of that key.

* ``cnf.jkt`` — the request must carry a DPoP proof (the ``DPoP`` header)
  signed by the key with that RFC 7638 thumbprint, checked as RFC 9449 §4.3
  says: one compact JWS, ``typ: dpop+jwt``, an asymmetric ``alg``, a public
  ``jwk`` header, a valid signature, ``htm``/``htu`` naming this request,
  a fresh ``iat``, ``ath`` = hash of the access token, and a ``jti`` never
  seen before (:class:`ReplayCache`).
* ``cnf["x5t#S256"]`` — the TLS client certificate must have that SHA-256
  thumbprint.

Every failure is an :class:`~regauth.errors.AuthenticationError` whose detail
says what failed; proofs and tokens themselves are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from jwt import PyJWS
from jwt.exceptions import PyJWTError

from regauth.authn.jwks import public_key
from regauth.errors import (
    AuthenticationError,
    DpopInvalid,
    InvalidCredential,
    SenderConstraintRequired,
)
from regauth.ports import Clock

log = logging.getLogger("regauth.authn.oidc")

DPOP_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_PROOF_CHARS = 8192
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_JWS = PyJWS()


class ReplayCache(Protocol):
    """Remembers proof ids until they expire. Shared by every worker that verifies proofs."""

    async def seen(self, jti: str, expires_at: float) -> bool:
        """True if ``jti`` was recorded before and has not expired; else record it.

        ``jti`` is an opaque key of at most 64 characters; ``expires_at`` is a
        Unix time after which the entry may be forgotten.
        """
        ...


class MemoryReplayCache:
    """A :class:`ReplayCache` for one process: bounded, entries dropped when they expire.

    When full, the entries closest to expiry are evicted first (and a warning
    is logged): a replay then becomes possible for those, so size it above
    the proofs expected within one ``dpop_max_age`` window.
    """

    def __init__(self, *, clock: Clock, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    async def seen(self, jti: str, expires_at: float) -> bool:
        self._purge(self._clock.now().timestamp())
        if jti in self._expiry:
            return True
        if len(self._expiry) >= self._max:
            log.warning("DPoP replay cache full (%d entries): evicting the oldest", self._max)
            self._purge(float("inf"), keep=self._max - 1)
        self._expiry[jti] = expires_at
        heapq.heappush(self._heap, (expires_at, jti))
        return False

    def _purge(self, now: float, keep: int = -1) -> None:
        while self._heap and (self._heap[0][0] <= now and len(self._expiry) > keep):
            expires_at, jti = heapq.heappop(self._heap)
            if self._expiry.get(jti) == expires_at:
                del self._expiry[jti]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK. Raises ValueError for unsupported keys."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise ValueError("the JWK lacks the members its thumbprint needs")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def certificate_thumbprint(der: bytes) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: base64url SHA-256 of the certificate's DER."""
    return b64url(hashlib.sha256(der).digest())


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def normalize_htu(url: str) -> str:
    """Scheme and host lower-cased, default port dropped, no query or fragment (RFC 9449 §4.3)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        return ""
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        authority += f":{port}"
    return f"{scheme}://{authority}{parts.path or '/'}"


@dataclass(frozen=True, slots=True)
class ProofFacts:
    """What the request claims about itself, and the verifier's time window."""

    access_token: str
    method: str
    url: str
    now: float
    max_age: float
    leeway: float


@dataclass(frozen=True, slots=True)
class ProofId:
    """A checked proof's replay-cache key (thumbprint-scoped jti, hashed) and its expiry."""

    key: str
    expires_at: float


def check_proof(proof: str | None, jkt: str, facts: ProofFacts) -> ProofId:
    """Check a DPoP proof for a token bound to ``jkt`` (all but replay). Raises DpopInvalid."""
    if not proof:
        raise DpopInvalid("this token is DPoP-bound: a DPoP proof is required")
    if len(proof) > _MAX_PROOF_CHARS or not _COMPACT_JWS.fullmatch(proof):
        raise DpopInvalid("the DPoP header must hold exactly one compact JWS")
    try:
        header = _JWS.get_unverified_header(proof)
    except PyJWTError:
        raise DpopInvalid("the DPoP proof header is unreadable") from None
    alg, jwk = _check_header(header)
    if not hmac.compare_digest(jwk_thumbprint(jwk), jkt):
        raise DpopInvalid("the DPoP proof key does not match the token's cnf.jkt")
    claims = _verified_claims(proof, jwk, alg)
    iat = _check_claims(claims, facts)
    scoped = hashlib.sha256(f"{jkt}:{claims['jti']}".encode()).digest()
    return ProofId(key=b64url(scoped), expires_at=iat + facts.max_age + facts.leeway)


def _check_header(header: Mapping[str, object]) -> tuple[str, Mapping[str, object]]:
    if str(header.get("typ", "")).lower() != "dpop+jwt":
        raise DpopInvalid("the DPoP proof's typ must be dpop+jwt")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in DPOP_ALGORITHMS:
        raise DpopInvalid("the DPoP proof's alg must be an allowed asymmetric algorithm")
    if "crit" in header:
        raise DpopInvalid("the DPoP proof has critical header parameters we do not support")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DpopInvalid("the DPoP proof has no jwk header")
    try:
        key = public_key(jwk)
        jwk_thumbprint(jwk)
    except ValueError as exc:
        raise DpopInvalid(f"the DPoP proof's jwk is not a usable public key ({exc})") from None
    if not key.accepts(alg):
        raise DpopInvalid("the DPoP proof's alg does not fit its jwk")
    return alg, jwk


def _verified_claims(proof: str, jwk: Mapping[str, object], alg: str) -> dict[str, object]:
    try:
        decoded = _JWS.decode_complete(proof, key=public_key(jwk).key, algorithms=[alg])
        claims = json.loads(decoded["payload"])
    except (PyJWTError, ValueError):
        raise DpopInvalid("the DPoP proof signature does not verify") from None
    if not isinstance(claims, dict):
        raise DpopInvalid("the DPoP proof payload is not a JSON object")
    return claims


def _check_claims(claims: Mapping[str, object], facts: ProofFacts) -> float:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 512:
        raise DpopInvalid("the DPoP proof has no jti")
    if claims.get("htm") != facts.method:
        raise DpopInvalid(f"the DPoP proof's htm does not match the request method {facts.method}")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalize_htu(htu) != normalize_htu(facts.url):
        raise DpopInvalid("the DPoP proof's htu does not match the request URL")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise DpopInvalid("the DPoP proof has no numeric iat")
    if facts.now - iat > facts.max_age:
        raise DpopInvalid("the DPoP proof is too old (iat)")
    if iat - facts.now > facts.leeway:
        raise DpopInvalid("the DPoP proof's iat is in the future")
    ath = claims.get("ath")
    if not isinstance(ath, str) or not hmac.compare_digest(
        ath, access_token_hash(facts.access_token)
    ):
        raise DpopInvalid("the DPoP proof's ath does not match the access token")
    return float(iat)


async def check_binding(
    cnf: object,
    proof: str | None,
    client_cert: bytes | None,
    facts: ProofFacts,
    replay: ReplayCache,
) -> AuthenticationError | None:
    """Check a token's ``cnf`` confirmation (None = no claim); return the failure, if any.

    A ``cnf`` with no method we understand fails closed.
    """
    if cnf is None:
        return None
    if not isinstance(cnf, dict) or not ({"jkt", "x5t#S256"} & cnf.keys()):
        return InvalidCredential("the token's cnf claim uses no supported confirmation method")
    jkt, x5t = cnf.get("jkt"), cnf.get("x5t#S256")
    if jkt is not None:
        if not isinstance(jkt, str):
            return InvalidCredential("the token's cnf.jkt is not a string")
        try:
            proof_id = check_proof(proof, jkt, facts)
        except DpopInvalid as exc:
            return exc
        if await replay.seen(proof_id.key, proof_id.expires_at):
            return DpopInvalid("the DPoP proof was already used (jti replayed)")
    if x5t is not None:
        return check_certificate(x5t, client_cert)
    return None


def check_certificate(expected: object, client_cert: bytes | None) -> AuthenticationError | None:
    """RFC 8705 §3: the presented client certificate must be the one the token is bound to."""
    if client_cert is None:
        return SenderConstraintRequired(
            "this token is bound to a client certificate; present it over mutual TLS"
        )
    if not isinstance(expected, str) or not hmac.compare_digest(
        certificate_thumbprint(client_cert), expected
    ):
        return InvalidCredential("the client certificate does not match the token's cnf.x5t#S256")
    return None
