"""Client certificates as identity (SPEC §3, mTLS; seed 000).

The web edge hands over a :class:`CertificateCredential` only for a
certificate that was verified — by regauth's own TLS listener against
``server.client_ca``, or by a trusted proxy (``server.client_cert_header``) —
and only when the caller sent no other credential. This source reads it:

* subject: the subject's common name (CN), which must be present and unique;
* groups: every organization (O) of the subject;
* claims ``certificate_cn`` / ``certificate_o`` (lists, as the CEL policies
  and the authorization webhook's ``X-Registry-Certificate-CN|O`` read them)
  and ``certificate_sha256`` (hex SHA-256 of the DER).

Validity dates are checked again with the injected clock (defence in depth
for a proxy that forwards more than it verified). Any other credential:
no opinion.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.x509.oid import NameOID

from regauth.domain.credentials import CertificateCredential, Credential
from regauth.domain.principal import Principal
from regauth.errors import InvalidCredential
from regauth.ports import Authenticated, CallerFacts, Clock, NoOpinion, Outcome, Rejected

SOURCE = "certificate"


class ClientCertificates:
    """The ``certificate`` identity source."""

    name = SOURCE

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        if not isinstance(credential, CertificateCredential):
            return NoOpinion()
        try:
            return Authenticated(self.principal(credential.der))
        except InvalidCredential as exc:
            return Rejected(exc)

    def principal(self, der: bytes) -> Principal:
        """The principal a DER certificate stands for; raises InvalidCredential."""
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise InvalidCredential("the client certificate is not valid DER") from None
        self._check_dates(cert)
        names = _attribute(cert.subject, NameOID.COMMON_NAME)
        if len(names) != 1:
            raise InvalidCredential("the client certificate needs exactly one subject CN")
        organizations = _attribute(cert.subject, NameOID.ORGANIZATION_NAME)
        claims: dict[str, object] = {
            "certificate_cn": names,
            "certificate_o": organizations,
            "certificate_sha256": hashlib.sha256(der).hexdigest(),
        }
        return Principal(names[0], SOURCE, frozenset(organizations), claims)

    def _check_dates(self, cert: x509.Certificate) -> None:
        now = self._clock.now()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise InvalidCredential("the client certificate is expired or not yet valid")


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    """Non-empty string values of ``oid`` in subject order."""
    values = (attr.value for attr in name.get_attributes_for_oid(oid))
    return [v for v in values if isinstance(v, str) and v.strip()]
