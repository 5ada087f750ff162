"""The blobs of a key store, each read and written whole.

Layout (SPEC §2), names relative to the store (a directory or the database)::

    keyring.json              commit record (see ``_state``)
    signing/<key_id>.key      leaf private key, 0600 (encrypted with a passphrase)
    signing/<key_id>.crt      leaf certificate, then any intermediates
    ca.key, ca.crt            the optional stable CA
    .lock                     (directory only) flock serialising writers across processes

Directories are 0700, private keys 0600; every write is atomic. Private keys
are encrypted with the store passphrase when there is one. This module knows
where things are, not when to write them: ordering is :mod:`store`'s job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from regauth.errors import ConfigError
from regauth.keys._blobs import Blobs
from regauth.keys._state import StoreState
from regauth.keys.algorithms import PrivateKey
from regauth.keys.certs import dump_private_key, load_certificates, load_private_key

_PEM = serialization.Encoding.PEM
STATE = "keyring.json"
CA_KEY = "ca.key"
CA_CRT = "ca.crt"


def key_name(key_id: str) -> str:
    return f"signing/{key_id}.key"


def crt_name(key_id: str) -> str:
    return f"signing/{key_id}.crt"


class Layout:
    """Names and whole-blob reads and writes inside one key store."""

    def __init__(self, blobs: Blobs, passphrase: bytes | None) -> None:
        self.blobs = blobs
        self._passphrase = passphrase

    def where(self, name: str) -> str:
        return self.blobs.where(name)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's writer lock."""
        with self.blobs.locked():
            yield

    def has_state(self) -> bool:
        return self.blobs.exists(STATE)

    def has_ca(self) -> bool:
        return self.blobs.exists(CA_KEY) and self.blobs.exists(CA_CRT)

    def has_key(self, key_id: str) -> bool:
        return self.blobs.exists(key_name(key_id))

    def read_state_bytes(self) -> bytes:
        """``keyring.json`` as stored; FileNotFoundError if there is none."""
        return self.blobs.read(STATE)

    def read_state(self) -> StoreState | None:
        try:
            return StoreState.from_json(self.blobs.read(STATE))
        except FileNotFoundError:
            return None

    def write_state(self, state: StoreState) -> None:
        self.blobs.write(STATE, state.to_json(), private=False)

    def read_private_key(self, name: str) -> PrivateKey:
        try:
            return load_private_key(self.blobs.read(name), self._passphrase)
        except ConfigError as exc:
            raise ConfigError(f"{self.where(name)}: {exc.message}") from None

    def read_chain(self, key_id: str) -> list[x509.Certificate]:
        return load_certificates(self.blobs.read(crt_name(key_id)))

    def read_ca_cert(self) -> x509.Certificate:
        return load_certificates(self.blobs.read(CA_CRT))[0]

    def write_signing_key(
        self, key_id: str, key: PrivateKey, chain: Sequence[x509.Certificate]
    ) -> None:
        self._write_key(key_name(key_id), key)
        self._write_certs(crt_name(key_id), chain)

    def remove_signing_key(self, key_id: str) -> None:
        self.blobs.remove(key_name(key_id), crt_name(key_id))

    def write_ca(self, key: PrivateKey, cert: x509.Certificate) -> None:
        self._write_key(CA_KEY, key)
        self._write_certs(CA_CRT, [cert])

    def _write_key(self, name: str, key: PrivateKey) -> None:
        self.blobs.write(name, dump_private_key(key, self._passphrase), private=True)

    def _write_certs(self, name: str, certs: Sequence[x509.Certificate]) -> None:
        data = b"".join(cert.public_bytes(_PEM) for cert in certs)
        self.blobs.write(name, data, private=False)
