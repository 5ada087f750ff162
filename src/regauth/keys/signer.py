"""Signing tokens with the current key of a :class:`~regauth.keys.keyring.Keyring`.

:meth:`TokenSigner.sign` is on the hot path of every ``/token`` request: the
key object, algorithm and header are fixed at construction, so a call is one
JSON encoding and one signature. The JWS header is exactly
``{"alg", "typ": "JWT", "kid", "x5c"}`` (SPEC §1); ES signatures are the raw
``r || s`` form of RFC 7518 §3.4. Claims are signed as given: building and
validating them is the caller's job. A new keyring means a new signer.
"""

from __future__ import annotations

from collections.abc import Mapping

import jwt

from regauth.keys.keyring import Keyring


class TokenSigner:
    """Signs claims with ``keyring.current``; verifies with any of ``keyring.verifying()``."""

    __slots__ = ("_alg", "_headers", "_key", "keyring")

    def __init__(self, keyring: Keyring) -> None:
        current = keyring.current
        self.keyring = keyring
        self._key = current.private_key
        self._alg = current.alg.value
        # PyJWT adds "alg" and "typ": "JWT" itself.
        self._headers: dict[str, object] = {"kid": current.kid, "x5c": list(current.x5c)}

    def sign(self, claims: Mapping[str, object]) -> str:
        """The compact JWS of ``claims``."""
        return jwt.encode(dict(claims), self._key, algorithm=self._alg, headers=self._headers)

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
