"""HMAC signatures in the three callback formats (seed 003) and the outbound header."""

from __future__ import annotations

import contextlib
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.errors import (
    SignatureInvalid,
    SignatureMalformed,
    SignatureMissing,
    SignatureRejected,
    SignatureStale,
)
from regauth.events.signature import sign, verify

SECRET = b"approval-secret"
BODY = b'{"request_id": 1, "decision": "approve"}'
NOW = 1_800_000_000


def mac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def test_github_known_answer() -> None:
    # The pair published in GitHub's "Validating webhook deliveries".
    secret, body = b"It's a Secret to Everybody", b"Hello, World!"
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify(header, body, [secret], NOW).format == "sha256"


def test_sign_is_t_v1_over_t_dot_body() -> None:
    header = sign(SECRET, NOW, BODY)
    assert header == f"t={NOW},v1={mac(SECRET, f'{NOW}.'.encode() + BODY)}"


@pytest.mark.parametrize(
    ("header", "fmt"),
    [
        (f"t={NOW},v1={mac(SECRET, f'{NOW}.'.encode() + BODY)}", "v1"),
        (f"sha256={mac(SECRET, BODY)}", "sha256"),
        (mac(SECRET, BODY), "hex"),
        (mac(SECRET, BODY).upper(), "hex"),
        (f"t={NOW},v1={'0' * 64},v1={mac(SECRET, f'{NOW}.'.encode() + BODY)}", "v1"),
        (f"t={NOW - 299},v1={mac(SECRET, f'{NOW - 299}.'.encode() + BODY)}", "v1"),
    ],
)
def test_each_format_is_accepted(header: str, fmt: str) -> None:
    assert verify(header, BODY, [SECRET], NOW).format == fmt


def test_any_of_several_secrets_matches_during_a_rotation() -> None:
    header = sign(b"new-secret", NOW, BODY)
    assert verify(header, BODY, [b"old-secret", b"new-secret"], NOW).timestamp == NOW


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, SignatureMissing),
        ("", SignatureMissing),
        ("   ", SignatureMissing),
        (sign(b"wrong-secret", NOW, BODY), SignatureInvalid),
        (f"sha256={mac(b'wrong', BODY)}", SignatureInvalid),
        (mac(b"wrong", BODY), SignatureInvalid),
        (sign(SECRET, NOW - 301, BODY), SignatureStale),
        (sign(SECRET, NOW + 301, BODY), SignatureStale),
        (f"t={NOW},v1={mac(SECRET, BODY)}", SignatureInvalid),  # v1 must cover "t.body"
        ("sha256=xyz", SignatureMalformed),
        ("t=abc,v1=" + "0" * 64, SignatureMalformed),
        (f"t={NOW}", SignatureMalformed),
        ("v1=" + "0" * 64, SignatureMalformed),
        ("md5=abcdef", SignatureMalformed),
        ("x" * 5000, SignatureMalformed),
    ],
)
def test_refusals_carry_a_code_and_no_secret(
    header: str | None, error: type[SignatureRejected]
) -> None:
    with pytest.raises(error) as info:
        verify(header, BODY, [SECRET], NOW)
    assert info.value.code.startswith("signature.")
    assert SECRET.decode() not in str(info.value)
    assert mac(SECRET, BODY) not in str(info.value)


def test_a_tampered_body_is_refused() -> None:
    header = sign(SECRET, NOW, BODY)
    with pytest.raises(SignatureInvalid):
        verify(header, BODY + b" ", [SECRET], NOW)


def test_replay_keys_differ_by_timestamp_and_digest() -> None:
    a = verify(sign(SECRET, NOW, BODY), BODY, [SECRET], NOW)
    b = verify(sign(SECRET, NOW + 1, BODY), BODY, [SECRET], NOW)
    c = verify(f"sha256={mac(SECRET, BODY)}", BODY, [SECRET], NOW)
    assert len({a.replay_key, b.replay_key, c.replay_key}) == 3


@given(st.text(max_size=200), st.binary(max_size=200))
def test_arbitrary_headers_never_crash(header: str, body: bytes) -> None:
    with contextlib.suppress(SignatureRejected):
        verify(header, body, [SECRET], NOW)


@given(st.binary(max_size=500), st.integers(min_value=0, max_value=10**11))
def test_what_sign_signs_verifies(body: bytes, t: int) -> None:
    assert verify(sign(SECRET, t, body), body, [SECRET], t).timestamp == t
