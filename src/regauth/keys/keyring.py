"""The loaded signing keys: one current key that signs, retired ones that still verify.

A :class:`Keyring` is an immutable snapshot built by
:class:`~regauth.keys.store.KeyStore.load`; hot reload builds a new one and
swaps it in. It answers the three things the rest of regauth publishes:

* :meth:`Keyring.jwks` — ``/.well-known/jwks.json`` (SPEC §2): the current and
  still-valid previous keys, each with its RFC 7638 thumbprint as ``kid``;
* :meth:`Keyring.bundle_pem` — the registry's ``rootcertbundle``;
* :class:`SigningKey` ``kid``/``x5c`` — the JWT header values (SPEC §1).

``repr`` of a :class:`SigningKey` never shows private key material.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from regauth.keys.algorithms import Algorithm, PrivateKey, PublicKey
from regauth.keys.kid import KidMode, jwk_thumbprint, kid_for, public_jwk

Jwk = dict[str, str | list[str]]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One signing key with its certificate chain and derived header values."""

    key_id: str  # the store's id, e.g. "20261123T114800Z-3f2a"
    alg: Algorithm
    private_key: PrivateKey = field(repr=False, compare=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # leaf first, then intermediates / the CA
    kid: str
    x5c: tuple[str, ...]  # standard base64 of each DER certificate in ``chain``
    created_at: datetime
    valid_until: datetime | None  # None for the current key; else when its last token expires

    @classmethod
    def build(
        cls,
        key_id: str,
        alg: Algorithm,
        private_key: PrivateKey,
        chain: Sequence[x509.Certificate],
        *,
        kid_mode: KidMode,
        created_at: datetime,
        valid_until: datetime | None = None,
    ) -> SigningKey:
        """A SigningKey whose ``kid`` and ``x5c`` are derived from the key and ``chain``."""
        der = serialization.Encoding.DER
        return cls(
            key_id=key_id,
            alg=alg,
            private_key=private_key,
            certificate=chain[0],
            chain=tuple(chain),
            kid=kid_for(private_key.public_key(), kid_mode),
            x5c=tuple(base64.b64encode(cert.public_bytes(der)).decode("ascii") for cert in chain),
            created_at=created_at,
            valid_until=valid_until,
        )

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> Jwk:
        """The public JWK of this key, with its RFC 7638 ``kid``, ``alg``, ``use`` and ``x5c``."""
        public = self.public_key
        return {
            **public_jwk(public),
            "kid": jwk_thumbprint(public),
            "alg": self.alg.value,
            "use": "sig",
            "x5c": list(self.x5c),
        }


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current signing key, the retired keys still verifying, and the CA if any."""

    current: SigningKey
    previous: tuple[SigningKey, ...]
    ca: x509.Certificate | None
    version: str  # changes whenever the store's keyring.json (or its CA) changes

    def verifying(self) -> tuple[SigningKey, ...]:
        """Every key whose tokens are still accepted: current first."""
        return (self.current, *self.previous)

    def jwks(self) -> dict[str, list[Jwk]]:
        """The JWK Set of the verifying keys (RFC 7517 §5)."""
        return {"keys": [key.jwk() for key in self.verifying()]}

    def bundle_pem(self) -> bytes:
        """The registry's ``rootcertbundle``.

        In stable-CA mode just the CA; otherwise the current and previous leaf
        certificates. A key not issued by the CA (made before the CA existed)
        is added as well, so its tokens keep verifying.
        """
        leaves = [key.certificate for key in self.verifying() if self.ca not in key.chain]
        certs = leaves if self.ca is None else [self.ca, *leaves]
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)
