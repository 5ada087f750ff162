"""Keys and certificates for signing registry tokens (SPEC §2).

* :mod:`~regauth.keys.algorithms` — the six JWS algorithms and matching keys;
* :mod:`~regauth.keys.kid` — libtrust key IDs, JWKs, RFC 7638 thumbprints;
* :mod:`~regauth.keys.certs` — CA and leaf certificates, loading PEM/DER/PKCS#12;
* :mod:`~regauth.keys.keyring` — the loaded, immutable set of signing keys;
* :mod:`~regauth.keys.store` — the on-disk key directory with rotation;
* :mod:`~regauth.keys.signer` — signing JWTs with the current key.

Every "our key material is unusable" problem is a
:class:`~regauth.errors.ConfigError`.
"""

from __future__ import annotations

from regauth.keys.algorithms import (
    Algorithm,
    PrivateKey,
    PublicKey,
    algorithm_for_key,
    check_key_matches,
    generate_private_key,
)
from regauth.keys.certs import (
    load_certificates,
    load_pkcs12,
    load_private_key,
    make_ca,
    make_leaf,
)
from regauth.keys.keyring import Jwk, Keyring, SigningKey
from regauth.keys.kid import KidMode, jwk_thumbprint, kid_for, libtrust_kid, public_jwk
from regauth.keys.signer import TokenSigner
from regauth.keys.store import KeyStore

__all__ = [
    "Algorithm",
    "Jwk",
    "KeyStore",
    "Keyring",
    "KidMode",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "TokenSigner",
    "algorithm_for_key",
    "check_key_matches",
    "generate_private_key",
    "jwk_thumbprint",
    "kid_for",
    "libtrust_kid",
    "load_certificates",
    "load_pkcs12",
    "load_private_key",
    "make_ca",
    "make_leaf",
    "public_jwk",
]
