"""``[[rules]]`` entries (also used by API keys and token rules)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from regauth.admin import validation
from regauth.domain.patterns import Pattern, PatternError
from regauth.domain.scope import parse_scope
from regauth.errors import MalformedScope


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


SUBJECTS = ("account", "group", "anonymous", "anyone")


class RuleSettings(_Model):
    """One ``[[rules]]`` entry (also a token or API-key rule).

    Who it applies to: at most one of ``account`` (a name pattern), ``group``
    (a name pattern), ``anonymous`` (true: only callers without credentials;
    false: only signed-in callers) and ``anyone = true`` (every caller,
    signed in or not, which is also what a rule with none of them means).
    The other matchers (``type``/``name``, ``service``, ``client_cidr``) all
    have to match too. ``actions = []`` is refused unless ``deny = true``.

    Input (the config file, the CLI, the admin API) is checked by
    :mod:`regauth.admin.validation`; rules read back from the database are
    validated with ``context={"stored": True}``, which keeps only the checks
    needed to compile them, so a stricter grammar never locks out a token
    that was accepted before.
    """

    account: str | None = None
    group: str | None = None
    anonymous: bool | None = None
    anyone: bool | None = None
    deny: bool = False
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
    def _one_subject(self, info: ValidationInfo) -> RuleSettings:
        chosen = [k for k in SUBJECTS if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"set at most one of account, group, anonymous, anyone (got {chosen})")
        if self.anyone is False:
            raise ValueError("anyone = false matches no caller: drop it or use anonymous = ...")
        if not (info.context or {}).get("stored"):
            self._check_input()
        return self

    def _check_input(self) -> None:
        problems = validation.rule_problems(
            name=self.name,
            actions=self.actions,
            rtype=self.type,
            deny=self.deny,
            client_cidrs=self.client_cidr,
        )
        for key in ("account", "group"):
            value = getattr(self, key)
            if value is not None and (problem := validation.name_pattern_problem(value)):
                problems[key] = problem
        if problems:
            raise ValueError("; ".join(f"{k}: {v}" for k, v in problems.items()))
