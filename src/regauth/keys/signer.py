"""Signing tokens with the current key of a :class:`~regauth.keys.keyring.Keyring`.

:meth:`TokenSigner.sign` is on the hot path of every ``/token`` request: the
key object, algorithm and the encoded header segment (which carries the
whole ``x5c`` chain) are fixed at construction, so a call is one JSON
encoding, one base64 and one signature; PyJWT's algorithm object does the
signing (including the DER → ``r || s`` conversion). The JWS header is exactly
``{"alg", "typ": "JWT", "kid", "x5c"}``, or without ``x5c`` when ``x5c=False``
(``keys.x5c = false``: Distribution 3.0 treats an ``x5c`` chain it cannot verify as
a hard failure, so a registry that trusts only a JWKS file needs tokens that carry
just the ``kid``); ES signatures are the raw
``r || s`` form of RFC 7518 §3.4. Claims are signed as given: building and
validating them is the caller's job. A new keyring means a new signer.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import jwt
import orjson
from jwt.algorithms import get_default_algorithms

from regauth.keys.keyring import Keyring


class TokenSigner:
    """Signs claims with ``keyring.current``; verifies with any of ``keyring.verifying()``."""

    __slots__ = ("_algorithm", "_header", "_key", "keyring")

    def __init__(self, keyring: Keyring, *, x5c: bool = True) -> None:
        current = keyring.current
        self.keyring = keyring
        self._key = current.private_key
        self._algorithm = get_default_algorithms()[current.alg.value]
        header: dict[str, object] = {"alg": current.alg.value, "typ": "JWT", "kid": current.kid}
        if x5c:
            header["x5c"] = current.x5c
        self._header = _b64(orjson.dumps(header)) + b"."

    def sign(self, claims: Mapping[str, object]) -> str:
        """The compact JWS of ``claims``."""
        signing_input = self._header + _b64(orjson.dumps(claims))
        signature = self._algorithm.sign(signing_input, self._key)
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def verify(self, token: str, audience: str, issuer: str) -> dict[str, object]:
        """The claims of ``token`` if a verifying key (selected by ``kid``) accepts it.

        Raises :class:`jwt.InvalidTokenError` otherwise (unknown ``kid``, bad
        signature, expired, wrong audience or issuer). Meant for tests and tools.
        """
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self.keyring.verifying():
            if key.kid == kid:
                claims: dict[str, object] = jwt.decode(
                    token,
                    key.public_key,
                    algorithms=[key.alg.value],
                    audience=audience,
                    issuer=issuer,
                )
                return claims
        raise jwt.InvalidTokenError(f"no verifying key has kid {kid!r}")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")
