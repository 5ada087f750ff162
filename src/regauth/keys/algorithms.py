"""JWS signing algorithms and the keys that fit them.

regauth signs with RS256/384/512 or ES256/384/512 only: the registry rejects
PS256 and EdDSA (SPEC §1, §2). An ES algorithm fixes the curve (RFC 7518
§3.4: ES256 ↔ P-256, ES384 ↔ P-384, ES512 ↔ P-521) and RSA keys need at least
2048 bits. :func:`check_key_matches` raises :class:`~regauth.errors.ConfigError`
for any other pairing, so a bad key stops start-up instead of minting tokens
the registry would reject.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from regauth.errors import ConfigError

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

MIN_RSA_BITS = 2048


class Algorithm(StrEnum):
    """A JWS ``alg`` value regauth can sign with."""

    ES256 = "ES256"
    ES384 = "ES384"
    ES512 = "ES512"
    RS256 = "RS256"
    RS384 = "RS384"
    RS512 = "RS512"

    @property
    def is_ec(self) -> bool:
        return self.value.startswith("ES")


_CURVES: dict[Algorithm, ec.EllipticCurve] = {
    Algorithm.ES256: ec.SECP256R1(),
    Algorithm.ES384: ec.SECP384R1(),
    Algorithm.ES512: ec.SECP521R1(),
}
_ALG_BY_CURVE: dict[str, Algorithm] = {curve.name: alg for alg, curve in _CURVES.items()}


def generate_private_key(alg: Algorithm, rsa_bits: int = MIN_RSA_BITS) -> PrivateKey:
    """A fresh private key for ``alg`` (the curve it names, or RSA of ``rsa_bits``)."""
    if alg.is_ec:
        return ec.generate_private_key(_CURVES[alg])
    _check_rsa_bits(rsa_bits)
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def check_key_matches(alg: Algorithm, key: PrivateKey | PublicKey) -> None:
    """Raise ConfigError unless ``key`` can sign (or verify) with ``alg``."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if _ALG_BY_CURVE.get(key.curve.name) != alg:
            wanted = f"curve {_CURVES[alg].name}" if alg.is_ec else "an RSA key"
            raise ConfigError(f"{alg} needs {wanted}, but the key is on curve {key.curve.name}")
        return
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if alg.is_ec:
            raise ConfigError(f"{alg} needs curve {_CURVES[alg].name}, but the key is RSA")
        _check_rsa_bits(key.key_size)
        return
    raise ConfigError("only EC (P-256/P-384/P-521) and RSA keys are supported")


def algorithm_for_key(key: PrivateKey | PublicKey) -> Algorithm:
    """The natural algorithm of ``key``: ES* by its curve, RS256 for RSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        alg = _ALG_BY_CURVE.get(key.curve.name)
        if alg is None:
            raise ConfigError(f"unsupported curve {key.curve.name}; use P-256, P-384 or P-521")
        return alg
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return Algorithm.RS256
    raise ConfigError("only EC (P-256/P-384/P-521) and RSA keys are supported")


def _check_rsa_bits(bits: int) -> None:
    if bits < MIN_RSA_BITS:
        raise ConfigError(f"RSA keys need at least {MIN_RSA_BITS} bits, got {bits}")
