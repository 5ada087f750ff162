"""What a caller presented, as parsed at the web edge. Secrets never appear in repr."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BasicCredential:
    """HTTP Basic, or the POST ``grant_type=password`` form fields."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RefreshCredential:
    """POST ``grant_type=refresh_token``; ``username`` when the client sent one."""

    token: str = field(repr=False)
    username: str = ""


@dataclass(frozen=True, slots=True)
class BearerCredential:
    """``Authorization: Bearer …`` on the token endpoint."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKeyCredential:
    """``X-Api-Key: …`` (only when no Authorization header was sent: Authorization wins)."""

    key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class CertificateCredential:
    """A verified client certificate and no other credential (SPEC §3, mTLS identity)."""

    der: bytes = field(repr=False)


Credential = (
    BasicCredential
    | RefreshCredential
    | BearerCredential
    | ApiKeyCredential
    | CertificateCredential
)
