"""How Distribution 2.8 and 3.0 verify a token's signing key, pinned as a table.

The two functions below restate the registries' rules (``registry/auth/token``'s
``VerifySigningKey`` in 2.8.2 and v3.0.0, as observed against the real registry and
the real v3.0.0 token package fed live regauth tokens):

* 2.8: an ``x5c`` chain must chain to a certificate of ``rootcertbundle`` (the leaf
  itself, or a CA); without ``x5c``, the ``kid`` must be the libtrust ID of the key of
  a certificate in the bundle. 2.8 cannot use a ``jwks`` file.
* 3.0: an ``x5c`` chain must chain to the bundle, and when it does not (no bundle, or
  another CA) the token is rejected: there is no fallback to ``kid``. Without ``x5c``,
  the ``kid`` is looked up in the ``jwks`` file.

Every row signs a token with a real regauth key ring (stable CA or self-signed,
libtrust or RFC 7638 ``kid``, ``keys.x5c`` on or off) and checks the outcome, so a
change to the header regauth mints that would break a setup the README documents
fails here.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from regauth.keys import Algorithm, Keyring, KeyStore, TokenSigner
from regauth.keys.kid import jwk_thumbprint, libtrust_kid
from regauth.ports import SystemClock

AUDIENCE = "registry.test"
ISSUER = "regauth"


class Rejected(Exception):
    """The registry refuses the token (it answers 401 invalid_token)."""


def _claims() -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": "row",
        "access": [],
    }


def _chains_to(chain: list[x509.Certificate], roots: list[x509.Certificate]) -> bool:
    """Go's x509.Verify, reduced to what matters here: a path from the leaf to a root,
    through the other x5c certificates, every certificate within its validity."""
    now = datetime.now(UTC)
    if any(not (c.not_valid_before_utc <= now <= c.not_valid_after_utc) for c in chain):
        return False
    current = chain[0]
    intermediates = chain[1:]
    for _ in range(len(chain) + 1):
        if current in roots:
            return True
        for root in roots:
            try:
                current.verify_directly_issued_by(root)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
        for candidate in intermediates:
            try:
                current.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            current = candidate
            break
        else:
            return False
    return False


def _x5c(header: dict[str, object]) -> list[x509.Certificate] | None:
    raw = header.get("x5c")
    if raw is None:
        return None
    assert isinstance(raw, list)
    return [x509.load_der_x509_certificate(base64.b64decode(item)) for item in raw]


def _check_signature(token: str, key: object) -> None:
    header = jwt.get_unverified_header(token)
    try:
        jwt.decode(token, key, algorithms=[header["alg"]], audience=AUDIENCE, issuer=ISSUER)  # type: ignore[arg-type]
    except jwt.InvalidTokenError as exc:
        raise Rejected(f"signature: {exc}") from None


def verify_28(token: str, bundle: list[x509.Certificate]) -> None:
    """Distribution 2.8.2 with ``rootcertbundle`` (its only option)."""
    header = jwt.get_unverified_header(token)
    chain = _x5c(header)
    if chain is not None:
        if not _chains_to(chain, bundle):
            raise Rejected("x5c does not chain to the bundle")
        _check_signature(token, chain[0].public_key())
        return
    trusted = {libtrust_kid(c.public_key()): c.public_key() for c in bundle}  # type: ignore[arg-type]
    key = trusted.get(header.get("kid", ""))
    if key is None:
        raise Rejected("kid is not the libtrust ID of a bundle certificate's key")
    _check_signature(token, key)


def verify_30(
    token: str, bundle: list[x509.Certificate] | None, jwks: dict[str, list[dict[str, str]]] | None
) -> None:
    """Distribution 3.0.0 with ``rootcertbundle`` and/or ``jwks``."""
    header = jwt.get_unverified_header(token)
    chain = _x5c(header)
    if chain is not None:
        # No fallback: a chain that does not verify is final.
        if not _chains_to(chain, bundle or []):
            raise Rejected("x5c: certificate signed by unknown authority")
        _check_signature(token, chain[0].public_key())
        return
    keys = {k["kid"]: k for k in (jwks or {}).get("keys", [])}
    jwk = keys.get(header.get("kid", ""))
    if jwk is None:
        raise Rejected("kid is not in the jwks file")
    _check_signature(token, jwt.PyJWK(jwk).key)


# --------------------------------------------------------------------------- key rings


@dataclass(frozen=True)
class Setup:
    keyring: Keyring
    store: KeyStore

    def bundle(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.keyring.bundle_pem())

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        value: dict[str, list[dict[str, str]]] = self.keyring.jwks()  # type: ignore[assignment]
        return value

    def token(self, *, x5c: bool) -> str:
        return TokenSigner(self.keyring, x5c=x5c).sign(_claims())


def _setup(directory: Path, *, stable_ca: bool, kid: str) -> Setup:
    store = KeyStore(directory, SystemClock())
    if stable_ca:
        store.create_ca(Algorithm.ES256)
    store.generate(Algorithm.ES256)
    return Setup(store.load(kid), store)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def setups(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[bool, str], Setup]:
    """(stable_ca, kid mode) → a key ring; the keys are shared by both kid modes."""
    found: dict[tuple[bool, str], Setup] = {}
    for stable_ca in (True, False):
        directory = tmp_path_factory.mktemp("ca" if stable_ca else "self")
        for kid in ("libtrust", "rfc7638"):
            if (stable_ca, "libtrust") in found:
                store = found[(stable_ca, "libtrust")].store
                found[(stable_ca, kid)] = Setup(store.load(kid), store)
            else:
                found[(stable_ca, kid)] = _setup(directory, stable_ca=stable_ca, kid=kid)
    return found


# --------------------------------------------------------------------------- the table

# (registry, trusts, stable_ca, kid mode, keys.x5c) → accepted?
# trusts: "bundle", "jwks" or "both" (2.8 only has "bundle").
TABLE: list[tuple[str, str, bool, str, bool, bool]] = [
    # Distribution 2.8: the bundle decides.
    ("2.8", "bundle", True, "libtrust", True, True),  # [leaf, CA], CA in the bundle
    ("2.8", "bundle", False, "libtrust", True, True),  # self-signed leaf in the bundle
    ("2.8", "bundle", True, "rfc7638", True, True),  # kid unused when x5c chains
    ("2.8", "bundle", False, "libtrust", False, True),  # no x5c: libtrust kid, leaf in bundle
    ("2.8", "bundle", True, "libtrust", False, False),  # no x5c: the CA's key is not the signer
    ("2.8", "bundle", False, "rfc7638", False, False),  # 2.8 knows only libtrust kids
    # Distribution 3.0: x5c must chain to the bundle, else kid must be in the jwks.
    ("3.0", "bundle", True, "libtrust", True, True),
    ("3.0", "bundle", False, "libtrust", True, True),
    ("3.0", "both", True, "rfc7638", True, True),
    ("3.0", "jwks", True, "libtrust", True, False),  # x5c with no bundle: no kid fallback
    ("3.0", "jwks", True, "rfc7638", True, False),  # ... whatever the kid
    ("3.0", "jwks", False, "rfc7638", True, False),  # ... self-signed too
    ("3.0", "jwks", True, "rfc7638", False, True),  # keys.x5c = false + RFC 7638 kid: works
    ("3.0", "jwks", False, "rfc7638", False, True),
    ("3.0", "jwks", True, "libtrust", False, False),  # libtrust kid is not in the jwks
]


def _row_id(row: tuple[str, str, bool, str, bool, bool]) -> str:
    registry, trusts, stable_ca, kid, x5c, accepted = row
    mode = "ca" if stable_ca else "self"
    header = "x5c" if x5c else "no_x5c"
    return f"{registry}-{trusts}-{mode}-{kid}-{header}-{'ok' if accepted else 'rejected'}"


@pytest.mark.parametrize("row", TABLE, ids=[_row_id(r) for r in TABLE])
def test_verification_rules(
    row: tuple[str, str, bool, str, bool, bool], setups: dict[tuple[bool, str], Setup]
) -> None:
    registry, trusts, stable_ca, kid, x5c, accepted = row
    setup = setups[(stable_ca, kid)]
    token = setup.token(x5c=x5c)
    header = jwt.get_unverified_header(token)
    assert ("x5c" in header) is x5c
    expected_kid = (
        libtrust_kid(setup.keyring.current.public_key)
        if kid == "libtrust"
        else jwk_thumbprint(setup.keyring.current.public_key)
    )
    assert header["kid"] == expected_kid

    bundle = setup.bundle() if trusts in ("bundle", "both") else None
    jwks = setup.jwks() if trusts in ("jwks", "both") else None
    reason = ""
    try:
        if registry == "2.8":
            assert bundle is not None and jwks is None
            verify_28(token, bundle)
        else:
            verify_30(token, bundle, jwks)
    except Rejected as exc:
        reason = str(exc)
    assert (reason == "") is accepted, reason or "accepted, but this registry rejects it"


def test_x5c_false_kid_is_listed_in_the_jwks(setups: dict[tuple[bool, str], Setup]) -> None:
    """RFC 7638: the kid of an x5c-less token is the thumbprint the JWKS lists."""
    setup = setups[(True, "rfc7638")]
    header = jwt.get_unverified_header(setup.token(x5c=False))
    assert set(header) == {"alg", "typ", "kid"}
    assert header["kid"] in {k["kid"] for k in setup.jwks()["keys"]}


def test_jwks_must_be_rewritten_after_a_rotation(
    tmp_path: Path,
) -> None:
    """3.x jwks-only: tokens of a new key fail against the old file, pass against a new one;
    the stable CA bundle (2.8, or 3.x with x5c) needs no change."""
    store = KeyStore(tmp_path, SystemClock())
    store.create_ca(Algorithm.ES256)
    store.generate(Algorithm.ES256)
    before = store.load("rfc7638")
    old_jwks = before.jwks()
    old_bundle = x509.load_pem_x509_certificates(before.bundle_pem())
    from datetime import timedelta

    store.rotate(grace=timedelta(minutes=6))
    after = store.load("rfc7638")
    no_x5c = TokenSigner(after, x5c=False).sign(_claims())
    with_x5c = TokenSigner(after).sign(_claims())

    with pytest.raises(Rejected):
        verify_30(no_x5c, None, old_jwks)  # type: ignore[arg-type]
    verify_30(no_x5c, None, after.jwks())  # type: ignore[arg-type]
    verify_30(with_x5c, old_bundle, None)
    verify_28(with_x5c, old_bundle)
    pem = old_bundle[0].public_bytes(serialization.Encoding.PEM)
    assert pem in after.bundle_pem()
