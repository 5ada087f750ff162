"""Signing tokens with the current key of a :class:`~regauth.keys.keyring.Keyring`.

:meth:`TokenSigner.sign` is on the hot path of every ``/token`` request: the
key object, algorithm and the encoded header segment (which carries the
whole ``x5c`` chain) are fixed at construction, so a call is one JSON
encoding, one signature and two base64url encodings (the claims and the
signature), with the hash and padding objects made once. ES keys sign through
``cryptography`` directly: the DER signature becomes ``r || s`` with
``decode_dss_signature`` and two ``int.to_bytes``; RSA keys sign with
PKCS #1 v1.5 and the hash chosen at construction. The JWS header is exactly
``{"alg", "typ": "JWT", "kid", "x5c"}``, or without ``x5c`` when ``x5c=False``
(``keys.x5c = false``: Distribution 3.0 treats an ``x5c`` chain it cannot verify as
a hard failure, so a registry that trusts only a JWKS file needs tokens that carry
just the ``kid``); ES signatures are the raw
``r || s`` form of RFC 7518 §3.4. Claims are signed as given: building and
validating them is the caller's job. A new keyring means a new signer.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping

import jwt
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from regauth.keys.keyring import Keyring

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


class TokenSigner:
    """Signs claims with ``keyring.current``; verifies with any of ``keyring.verifying()``."""

    __slots__ = ("_header", "_signature", "keyring")

    def __init__(self, keyring: Keyring, *, x5c: bool = True) -> None:
        current = keyring.current
        self.keyring = keyring
        self._signature = _signature_function(current.private_key, current.alg.value)
        header: dict[str, object] = {"alg": current.alg.value, "typ": "JWT", "kid": current.kid}
        if x5c:
            header["x5c"] = current.x5c
        self._header = _b64(orjson.dumps(header)) + b"."

    def sign(self, claims: Mapping[str, object]) -> str:
        """The compact JWS of ``claims``."""
        signing_input = self._header + _b64(orjson.dumps(claims))
        return (signing_input + b"." + _b64(self._signature(signing_input))).decode("ascii")

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


def _signature_function(key: object, alg: str) -> Callable[[bytes], bytes]:
    """``message → signature`` for ``key`` under the JWS algorithm ``alg`` (RS* or ES*)."""
    hash_type = _HASHES[alg[2:]]
    if alg.startswith("ES") and isinstance(key, ec.EllipticCurvePrivateKey):
        ecdsa = ec.ECDSA(hash_type())
        size = (key.curve.key_size + 7) // 8  # RFC 7518 §3.4: each of r, s in this many bytes
        sign_ec = key.sign

        def sign_es(message: bytes) -> bytes:
            r, s = decode_dss_signature(sign_ec(message, ecdsa))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_es
    if alg.startswith("RS") and isinstance(key, rsa.RSAPrivateKey):
        pkcs1, hash_object = padding.PKCS1v15(), hash_type()
        sign_rsa = key.sign
        return lambda message: sign_rsa(message, pkcs1, hash_object)
    raise ValueError(f"cannot sign {alg} with a {type(key).__name__}")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """Unpadded base64url (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")
