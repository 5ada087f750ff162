"""Settings of the admin HTTP API, ``[admin]``.

Who is an administrator of the API:

* a local account (password or personal access token) that is a member of one of
  ``groups`` (``regauth init`` puts its ``admin`` user in ``admins``);
* an API key whose ``scopes`` contain ``admin``;
* an OIDC bearer token whose scopes (after the issuer's ``scope_map``) contain one
  of ``oidc_scopes``, or whose groups claim names one of ``oidc_groups``.

Everyone else may only look after itself (profile, password, own tokens).
``listen = "host:port"`` serves the API on a listener of its own and removes it
from the public port.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AdminSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    listen: str = ""
    groups: tuple[str, ...] = ("admins",)
    oidc_scopes: tuple[str, ...] = ("regauth:admin",)
    oidc_groups: tuple[str, ...] = ()
    page_size: int = Field(default=100, ge=1, le=1000)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            listen_address(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        return listen_address(self.listen) if self.listen else None


def listen_address(value: str) -> tuple[str, int]:
    """``"127.0.0.1:5002"`` or ``"[::1]:5002"`` → (host, port); ValueError otherwise."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"listen must be 'host:port', not {value!r}")
    return host, int(port)
