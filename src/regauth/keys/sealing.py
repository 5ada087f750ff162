"""Encryption at rest for key material kept in the database (AES-256-GCM).

The key-encryption key (KEK) is 32 random bytes, written as URL-safe base64
(``regauth keys new-kek`` prints one). It comes from a file
(``keys.kek_file``) or the ``REGAUTH_KEK`` environment variable — never from
the database it protects, so a copy of the database alone reveals no signing
key.

A sealed blob is ``b"RK1" | kek id (8 bytes) | nonce (12 bytes) | ciphertext+tag``.
The blob's name is the associated data: a row copied under another name does
not open. The KEK id (the first 8 bytes of SHA-256 of the KEK) lets a wrong
KEK be reported as such instead of as corrupt data. Errors are
:class:`~regauth.errors.ConfigError` and never contain key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from regauth.errors import ConfigError

_MAGIC = b"RK1"
_ID_SIZE = 8
_NONCE_SIZE = 12
KEK_SIZE = 32


class KeyEncryptionKey:
    """An AES-256-GCM key that seals and opens named blobs."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEK_SIZE:
            raise ConfigError(f"the key-encryption key must be {KEK_SIZE} bytes")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).digest()[:_ID_SIZE]

    def __repr__(self) -> str:
        return "KeyEncryptionKey(***)"

    @classmethod
    def parse(cls, text: str | bytes) -> KeyEncryptionKey:
        """A KEK from its base64 text (surrounding whitespace ignored)."""
        raw = text.strip() if isinstance(text, bytes) else text.strip().encode("ascii", "replace")
        try:
            key = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            raise ConfigError("the key-encryption key is not base64") from None
        if len(key) != KEK_SIZE:
            raise ConfigError(
                f"the key-encryption key must be {KEK_SIZE} bytes of base64 "
                "(make one with `regauth keys new-kek`)"
            )
        return cls(key)

    @staticmethod
    def generate_text() -> str:
        """A new random KEK as base64 text."""
        return base64.urlsafe_b64encode(os.urandom(KEK_SIZE)).decode("ascii")

    def seal(self, name: str, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, data, name.encode("utf-8"))
        return _MAGIC + self.key_id + nonce + sealed

    def open(self, name: str, blob: bytes) -> bytes:
        head = len(_MAGIC)
        if not blob.startswith(_MAGIC) or len(blob) < head + _ID_SIZE + _NONCE_SIZE + 16:
            raise ConfigError(f"key material {name!r} in the database is not sealed data")
        if blob[head : head + _ID_SIZE] != self.key_id:
            raise ConfigError(
                f"key material {name!r} was sealed with another key-encryption key "
                "(check keys.kek_file or REGAUTH_KEK)"
            )
        nonce = blob[head + _ID_SIZE : head + _ID_SIZE + _NONCE_SIZE]
        try:
            return self._aead.decrypt(nonce, blob[head + _ID_SIZE + _NONCE_SIZE :], name.encode())
        except InvalidTag:
            raise ConfigError(f"key material {name!r} in the database is corrupt") from None
