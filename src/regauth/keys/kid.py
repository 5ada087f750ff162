"""Key identifiers: the libtrust key ID, JWKs and RFC 7638 thumbprints.

* :func:`libtrust_kid` is what Distribution 2.x matches a token's ``kid``
  against (SPEC §1): SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes,
  base32 without padding (48 characters), 12 groups of 4 joined by ``:``.
* :func:`jwk_thumbprint` is the RFC 7638 thumbprint Distribution 3.x and JWKS
  consumers use (SHA-256 over the required members, base64url).
* :func:`kid_for` picks one of the two by :data:`KidMode`.

All functions are pure and work on public keys only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regauth.keys.algorithms import PublicKey

KidMode = Literal["libtrust", "rfc7638"]

_JWK_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
# RFC 7638 §3.2: the required members of each key type, already in lexicographic order.
_REQUIRED_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


def libtrust_kid(public_key: PublicKey) -> str:
    """The libtrust key ID of ``public_key`` (e.g. ``LTJF:F6YM:…:VLFS``)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # 30 bytes = 240 bits = exactly 48 base32 characters, so there is no padding.
    encoded = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode("ascii")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def public_jwk(public_key: PublicKey) -> dict[str, str]:
    """The public JWK members of ``public_key`` (RFC 7518 §6.2 / §6.3)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": _JWK_CURVES[public_key.curve.name],
            "x": _b64url(numbers.x.to_bytes(size, "big")),
            "y": _b64url(numbers.y.to_bytes(size, "big")),
        }
    rsa_numbers = public_key.public_numbers()
    return {"kty": "RSA", "n": _b64url_uint(rsa_numbers.n), "e": _b64url_uint(rsa_numbers.e)}


def jwk_thumbprint(public_key: PublicKey) -> str:
    """The RFC 7638 SHA-256 thumbprint of ``public_key``, base64url without padding."""
    jwk = public_jwk(public_key)
    required = {name: jwk[name] for name in _REQUIRED_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def kid_for(public_key: PublicKey, mode: KidMode) -> str:
    """The ``kid`` header value for ``public_key`` under ``mode``."""
    if mode == "libtrust":
        return libtrust_kid(public_key)
    return jwk_thumbprint(public_key)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))
