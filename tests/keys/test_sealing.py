"""KeyEncryptionKey: AES-256-GCM sealing of named blobs, parsing of the KEK text."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.errors import ConfigError
from regauth.keys.sealing import KeyEncryptionKey

KEK_TEXT = base64.urlsafe_b64encode(bytes(range(32))).decode()


def test_seal_and_open_round_trip() -> None:
    kek = KeyEncryptionKey.parse(KEK_TEXT)
    sealed = kek.seal("ca.key", b"secret material")
    assert b"secret material" not in sealed
    assert kek.open("ca.key", sealed) == b"secret material"
    assert kek.seal("ca.key", b"secret material") != sealed  # a fresh nonce every time


def test_generated_keks_parse_and_differ() -> None:
    first, second = KeyEncryptionKey.generate_text(), KeyEncryptionKey.generate_text()
    assert first != second
    assert KeyEncryptionKey.parse(first + "\n").key_id != KeyEncryptionKey.parse(second).key_id


def test_unpadded_base64_is_accepted() -> None:
    assert (
        KeyEncryptionKey.parse(KEK_TEXT.rstrip("=")).key_id
        == KeyEncryptionKey.parse(KEK_TEXT).key_id
    )


def test_another_kek_is_reported_as_such() -> None:
    sealed = KeyEncryptionKey.parse(KEK_TEXT).seal("ca.key", b"x")
    other = KeyEncryptionKey.parse(KeyEncryptionKey.generate_text())
    with pytest.raises(ConfigError, match="another key-encryption key"):
        other.open("ca.key", sealed)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "corrupt"),
        (lambda b: b"PEM" + b[3:], "not sealed"),
        (lambda b: b[:10], "not sealed"),
    ],
)
def test_tampered_blobs_do_not_open(mutate: object, message: str) -> None:
    kek = KeyEncryptionKey.parse(KEK_TEXT)
    sealed = kek.seal("ca.key", b"x")
    assert callable(mutate)
    with pytest.raises(ConfigError, match=message):
        kek.open("ca.key", mutate(sealed))


def test_a_blob_moved_to_another_name_does_not_open() -> None:
    kek = KeyEncryptionKey.parse(KEK_TEXT)
    with pytest.raises(ConfigError, match="corrupt"):
        kek.open("signing/other.key", kek.seal("ca.key", b"x"))


def test_repr_hides_the_key() -> None:
    kek = KeyEncryptionKey.parse(KEK_TEXT)
    assert repr(kek) == "KeyEncryptionKey(***)"
    assert KEK_TEXT not in repr(kek)


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_bad_kek_text_is_a_config_error_without_the_text(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        KeyEncryptionKey.parse(text)
    assert (text not in str(caught.value)) or not text


@given(st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_parse_accepts_32_bytes_or_raises_config_error(text: str | bytes) -> None:
    try:
        kek = KeyEncryptionKey.parse(text)
    except ConfigError as exc:
        message = str(exc)
    else:
        message = "key-encryption key"
        assert len(kek.key_id) == 8
    assert "key-encryption key" in message
