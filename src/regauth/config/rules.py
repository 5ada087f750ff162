"""``[[rules]]`` entries (also used by API keys and token rules)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from regauth.domain.patterns import Pattern, PatternError
from regauth.domain.scope import parse_scope
from regauth.errors import MalformedScope


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RuleSettings(_Model):
    """One ``[[rules]]`` entry. At most one of account / group / anonymous; none = everyone."""

    account: str | None = None
    group: str | None = None
    anonymous: bool | None = None
    type: str = "repository"
    name: str
    actions: tuple[str, ...]
    service: tuple[str, ...] = ()
    client_cidr: tuple[str, ...] = ()
    comment: str = ""

    @field_validator("service", "client_cidr", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("name", "account", "group")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Pattern.compile(value)
            except PatternError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("actions")
    @classmethod
    def _actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for action in value:
            try:
                parse_scope(f"x:y:{action}")
            except MalformedScope:
                raise ValueError(f"invalid action {action!r}") from None
        return value

    @field_validator("client_cidr")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> RuleSettings:
        chosen = [k for k in ("account", "group", "anonymous") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"set at most one of account, group, anonymous (got {chosen})")
        return self
