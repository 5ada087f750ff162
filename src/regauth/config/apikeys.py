"""Settings of the API keys, ``[[auth.api_keys]]`` (SPEC §3, seed 002).

Only the shape is checked here. The fingerprints live in environment
variables named by ``hash_env`` and are read when the identity source is built
(:meth:`regauth.authn.apikeys.ApiKeys.build`), so that a malformed or missing
fingerprint stops start-up naming the variable, never its value.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from regauth.config.rules import RuleSettings

KEY_ID = re.compile(r"[A-Za-z0-9._-]+")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Variables with this prefix are configuration overrides (config/loader.py).
RESERVED_ENV_PREFIX = "REGAUTH_"


class ApiKeySettings(BaseModel):
    """One API key: a stable ``id``, the variable holding its fingerprint, its scopes.

    ``rules``, when given, narrow what the key may do like a personal access
    token's rules (intersected with the account rules that match ``id``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    hash_env: str = Field(min_length=1, max_length=255)
    scopes: tuple[str, ...] = ()
    rules: tuple[RuleSettings, ...] = ()

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not KEY_ID.fullmatch(value):
            raise ValueError("use only letters, digits, '.', '_' and '-'")
        return value

    @field_validator("hash_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME.fullmatch(value):
            raise ValueError("must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        if value.upper().startswith(RESERVED_ENV_PREFIX):
            raise ValueError(
                f"must not start with {RESERVED_ENV_PREFIX} (reserved for configuration overrides)"
            )
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for scope in value:
            if not scope or any(c.isspace() for c in scope):
                raise ValueError(f"invalid scope {scope!r}: non-empty, no whitespace")
        return value
