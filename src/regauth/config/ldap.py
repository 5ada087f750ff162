"""Settings of the LDAP identity source, ``[auth.ldap]`` (SPEC §3, docker_auth parity).

Only shapes are checked here; the CA file is read when the authenticator is
built (:meth:`regauth.authn.ldap.LdapAuthenticator.build`). The service
account's password is a :class:`~pydantic.SecretStr`, so ``repr`` shows
``**********``. docker_auth's ``ldap_auth`` keys map as: ``addr`` + ``tls`` →
``url`` / ``start_tls``; ``ca_certificate`` → ``ca_file``; ``base`` →
``base_dn``; ``filter`` (``${account}``) → ``user_filter`` (``{username}``);
a ``memberOf`` label with ``parse_cn`` → ``member_of_attribute``; ``bind_dn``
(and the older ``group_base_dn`` / ``group_filter``) keep their names.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# RFC 4512 ``descr`` or a numeric OID.
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+")


def _check_filter(value: str, *placeholders: str) -> str:
    if not any(p in value for p in placeholders):
        raise ValueError(f"must contain {' or '.join(placeholders)}")
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0 or not (value.startswith("(") and value.endswith(")")):
        raise ValueError("must be a parenthesised LDAP filter (RFC 4515) with balanced parentheses")
    return value


class LdapSettings(BaseModel):
    """Where the directory is, how to find a user in it, and where their groups come from.

    Groups come from a group search (``group_base_dn`` + ``group_filter``,
    naming each group by ``group_attribute``) or from the user entry's
    ``member_of_attribute`` (``memberOf``), not both; with neither the
    principal has no groups. ``timeout`` bounds the connect and each
    operation, in seconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    start_tls: bool = False
    ca_file: Path | None = None
    bind_dn: str = ""
    bind_password: SecretStr | None = None
    base_dn: str = Field(min_length=1)
    user_filter: str = "(uid={username})"
    group_base_dn: str | None = None
    group_filter: str = "(member={dn})"
    group_attribute: str = "cn"
    member_of_attribute: str | None = None
    timeout: float = Field(default=5.0, gt=0, le=120)
    pool_size: int = Field(default=4, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError("must be an ldap:// or ldaps:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials; use bind_dn and bind_password")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be scheme://host[:port] only; the base goes in base_dn")
        if parts.port == 0:  # (.port itself raises ValueError beyond 65535)
            raise ValueError("port must be 1-65535")
        return value

    @field_validator("user_filter")
    @classmethod
    def _user_filter(cls, value: str) -> str:
        return _check_filter(value, "{username}")

    @field_validator("group_filter")
    @classmethod
    def _group_filter(cls, value: str) -> str:
        return _check_filter(value, "{dn}", "{username}")

    @field_validator("group_attribute", "member_of_attribute")
    @classmethod
    def _attribute(cls, value: str | None) -> str | None:
        if value is not None and not _ATTRIBUTE.fullmatch(value):
            raise ValueError(f"{value!r} is not an attribute name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LdapSettings:
        ldaps = self.url.lower().startswith("ldaps:")
        if self.start_tls and ldaps:
            raise ValueError("start_tls is for ldap:// URLs; ldaps:// is TLS already")
        if self.ca_file is not None and not (ldaps or self.start_tls):
            raise ValueError("ca_file needs an ldaps:// URL or start_tls = true")
        password = self.bind_password.get_secret_value() if self.bind_password else ""
        if bool(self.bind_dn) != bool(password):
            # A DN with an empty password is an RFC 4513 "unauthenticated bind": anonymous.
            raise ValueError("bind_dn and bind_password go together (neither: anonymous search)")
        if self.group_base_dn is not None and self.member_of_attribute is not None:
            raise ValueError("set group_base_dn (group search) or member_of_attribute, not both")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.start_tls or self.url.lower().startswith("ldaps:")
