"""The files of a key directory, each read and written whole.

Layout (SPEC §2)::

    <dir>/keyring.json              commit record (see ``_state``)
    <dir>/signing/<key_id>.key      leaf private key, 0600 (encrypted with a passphrase)
    <dir>/signing/<key_id>.crt      leaf certificate, then any intermediates
    <dir>/ca.key, <dir>/ca.crt      the optional stable CA
    <dir>/.lock                     flock serialising writers across processes

Directories are 0700, private keys 0600; every write is atomic. Private keys
are encrypted with the store passphrase when there is one. This module knows
where things are, not when to write them: ordering is :mod:`store`'s job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from regauth.errors import ConfigError
from regauth.keys import _files
from regauth.keys._state import StoreState
from regauth.keys.algorithms import PrivateKey
from regauth.keys.certs import dump_private_key, load_certificates, load_private_key

_PEM = serialization.Encoding.PEM


class Layout:
    """Paths and whole-file reads and writes inside one key directory."""

    def __init__(self, directory: Path, passphrase: bytes | None) -> None:
        self.directory = directory
        self.state_path = directory / "keyring.json"
        self.signing_dir = directory / "signing"
        self.ca_key_path = directory / "ca.key"
        self.ca_crt_path = directory / "ca.crt"
        self._passphrase = passphrase

    def key_path(self, key_id: str) -> Path:
        return self.signing_dir / f"{key_id}.key"

    def crt_path(self, key_id: str) -> Path:
        return self.signing_dir / f"{key_id}.crt"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's writer lock (creating the directory if needed)."""
        _files.ensure_private_dir(self.directory)
        with _files.exclusive_lock(self.directory / ".lock"):
            yield

    def read_state(self) -> StoreState | None:
        try:
            return StoreState.from_json(self.state_path.read_bytes())
        except FileNotFoundError:
            return None

    def write_state(self, state: StoreState) -> None:
        _files.write_atomic(self.state_path, state.to_json(), _files.PUBLIC_FILE_MODE)

    def read_private_key(self, path: Path) -> PrivateKey:
        try:
            return load_private_key(path.read_bytes(), self._passphrase)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None

    def read_chain(self, key_id: str) -> list[x509.Certificate]:
        return load_certificates(self.crt_path(key_id).read_bytes())

    def read_ca_cert(self) -> x509.Certificate:
        return load_certificates(self.ca_crt_path.read_bytes())[0]

    def write_signing_key(
        self, key_id: str, key: PrivateKey, chain: Sequence[x509.Certificate]
    ) -> None:
        _files.ensure_private_dir(self.signing_dir)
        self._write_key(self.key_path(key_id), key)
        self._write_certs(self.crt_path(key_id), chain)

    def remove_signing_key(self, key_id: str) -> None:
        _files.remove_quietly(self.key_path(key_id), self.crt_path(key_id))

    def write_ca(self, key: PrivateKey, cert: x509.Certificate) -> None:
        self._write_key(self.ca_key_path, key)
        self._write_certs(self.ca_crt_path, [cert])

    def _write_key(self, path: Path, key: PrivateKey) -> None:
        data = dump_private_key(key, self._passphrase)
        _files.write_atomic(path, data, _files.PRIVATE_FILE_MODE)

    def _write_certs(self, path: Path, certs: Sequence[x509.Certificate]) -> None:
        data = b"".join(cert.public_bytes(_PEM) for cert in certs)
        _files.write_atomic(path, data, _files.PUBLIC_FILE_MODE)
