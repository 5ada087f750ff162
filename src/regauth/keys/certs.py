"""Certificates and key files: making a stable CA and leaf certificates, and
loading keys and certificates an operator hands us.

* :func:`make_ca` / :func:`make_leaf` build X.509 certificates for the token
  signing chain (SPEC §2): a CA (``path_length=0``) the registry trusts, and
  leaves that are either CA-signed or self-signed. ``notBefore`` is back-dated
  five minutes so a registry with a slightly slow clock accepts a fresh leaf.
* :func:`load_private_key`, :func:`load_certificates` and :func:`load_pkcs12`
  accept PEM or DER, PKCS#8 or traditional, encrypted or not. Every failure is
  a :class:`~regauth.errors.ConfigError` with a fixed message: it never
  contains the passphrase nor the library's exception text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from regauth.errors import ConfigError
from regauth.keys.algorithms import PrivateKey, PublicKey

CLOCK_SKEW = timedelta(minutes=5)

# The shared call signature of the PEM and DER private key loaders.
_KeyLoader = Callable[[bytes, bytes | None], object]

_PEM_KEY_BLOCK = re.compile(
    rb"-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----.*?-----END \1-----", re.DOTALL
)
_UNSUPPORTED_KEY = "only EC (P-256/P-384/P-521) and RSA private keys are supported"


def make_ca(key: PrivateKey, common_name: str, now: datetime, days: int) -> x509.Certificate:
    """A self-signed CA certificate that may only issue leaf certificates."""
    public = key.public_key()
    builder = (
        _base_builder(public, common_name, now, now + timedelta(days=days))
        .issuer_name(_name(common_name))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
    )
    return builder.sign(key, _signature_hash(key))


def make_leaf(
    key: PrivateKey,
    common_name: str,
    now: datetime,
    days: int,
    issuer_key: PrivateKey | None = None,
    issuer_cert: x509.Certificate | None = None,
) -> x509.Certificate:
    """A token-signing leaf certificate for ``key``.

    Signed by ``issuer_key``/``issuer_cert`` when both are given (its validity
    is clipped to the issuer's), else self-signed.
    """
    not_after = now + timedelta(days=days)
    if issuer_key is None or issuer_cert is None:
        builder = _leaf_builder(key, common_name, now, not_after)
        return builder.issuer_name(_name(common_name)).sign(key, _signature_hash(key))
    not_after = min(not_after, issuer_cert.not_valid_after_utc)
    builder = (
        _leaf_builder(key, common_name, now, not_after)
        .issuer_name(issuer_cert.subject)
        .add_extension(_authority_key_id(issuer_cert), critical=False)
    )
    return builder.sign(issuer_key, _signature_hash(issuer_key))


def certificate_public_key(cert: x509.Certificate) -> PublicKey:
    """The EC or RSA public key of ``cert``; ConfigError for any other type."""
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return public
    raise ConfigError("only EC and RSA certificates are supported")


def cert_matches_key(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether ``cert`` certifies the public half of ``key``."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def chain_for_key(key: PrivateKey, certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """``certs`` reordered leaf first: the one matching ``key``, then the others."""
    leaf = next((cert for cert in certs if cert_matches_key(cert, key)), None)
    if leaf is None:
        raise ConfigError("the certificate does not match the private key")
    rest = [cert for cert in certs if cert != leaf]
    return [leaf, *(cert for i, cert in enumerate(rest) if cert not in rest[:i])]


def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` directly signed ``cert`` (and is not ``cert`` itself)."""
    if cert == issuer or cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def common_name(cert: x509.Certificate) -> str | None:
    """The first subject common name of ``cert``, if any."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def dump_private_key(key: PrivateKey, passphrase: bytes | None) -> bytes:
    """``key`` as PKCS#8 PEM, encrypted with ``passphrase`` when one is given."""
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if passphrase is not None:
        encryption = serialization.BestAvailableEncryption(passphrase)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in ``data``: PEM with one or more certificates, or one DER."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise ConfigError("cannot parse the certificate: expected PEM or DER X.509") from None


def load_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """The EC or RSA private key in ``data`` (PEM or DER, PKCS#8 or traditional).

    A passphrase given for a key that is not encrypted is ignored.
    """
    if b"-----BEGIN" in data:
        block = _PEM_KEY_BLOCK.search(data)
        if block is None:
            raise ConfigError("no PEM private key block found")
        return _load_key(serialization.load_pem_private_key, block.group(0), passphrase)
    return _load_key(serialization.load_der_private_key, data, passphrase)


def load_pkcs12(
    data: bytes, passphrase: bytes | None = None
) -> tuple[PrivateKey, x509.Certificate | None, list[x509.Certificate]]:
    """The private key, its certificate and any further certificates of a PKCS#12/PFX bundle."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            "cannot open the PKCS#12 bundle: wrong or missing passphrase, or not PKCS#12 data"
        ) from None
    if key is None:
        raise ConfigError("the PKCS#12 bundle holds no private key")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError(_UNSUPPORTED_KEY)
    return key, cert, list(extra)


def _load_key(
    loader: _KeyLoader, data: bytes, passphrase: bytes | None
) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    try:
        key = loader(data, passphrase)
    except TypeError:
        # cryptography raises TypeError for "encrypted but no password" and for
        # "password given but not encrypted"; only the first is our caller's fault.
        if passphrase is None:
            raise ConfigError("the private key is encrypted; a passphrase is required") from None
        return _load_key(loader, data, None)
    except ValueError:
        detail = "wrong passphrase, or " if passphrase is not None else ""
        raise ConfigError(
            f"cannot decrypt or parse the private key ({detail}not a PEM/DER private key)"
        ) from None
    except UnsupportedAlgorithm:
        raise ConfigError("the private key uses an unsupported algorithm or cipher") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError(_UNSUPPORTED_KEY)
    return key


def _base_builder(
    public: PublicKey, common_name: str, now: datetime, not_after: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now.replace(microsecond=0) - CLOCK_SKEW)
        .not_valid_after(not_after.replace(microsecond=0))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _leaf_builder(
    key: PrivateKey, common_name: str, now: datetime, not_after: datetime
) -> x509.CertificateBuilder:
    return (
        _base_builder(key.public_key(), common_name, now, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(certificate_public_key(issuer))
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size > 384:
            return hashes.SHA512()
        if key.curve.key_size > 256:
            return hashes.SHA384()
    return hashes.SHA256()
