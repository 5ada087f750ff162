"""Stage 5: CEL access policies, global and per repository (SPEC §4 stage 5, seed 000).

A policy is ``default_allow`` plus CEL rules. With ``default_allow = false``
the rules *allow*: an action passes when at least one rule is true. With
``default_allow = true`` the rules *deny*: an action passes unless a rule is
true. Each requested action is decided on its own (``request.action``).

An action must pass the global policy (when there is one) **and** the
repository policy that applies (when one does), so a repository policy can
never override a global deny. Repository keys apply to a repository named
like the key or below it (``team`` covers ``team`` and ``team/app``); a key
containing ``*`` is a :class:`~regauth.domain.patterns.Pattern` glob; the
longest matching key wins. Only ``repository`` resources have repository
policies; the global policy applies to every resource type.

Every expression is compiled once by :meth:`CelPolicies.build`; a syntax error
is a :class:`~regauth.errors.ConfigError` naming the rule's dotted path. A
rule that fails while evaluating (missing key, type error, non-bool result)
is skipped — it neither allows nor denies — and logged with its path only,
never with variable values. The variables are described in ``docs/cel.md``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import cel

from regauth.authz.cel_env import new_context, request_vars
from regauth.domain.patterns import Pattern, PatternError
from regauth.domain.policy import Grant
from regauth.domain.rules import RequestContext
from regauth.domain.scope import Resource
from regauth.errors import ConfigError

log = logging.getLogger("regauth.authz.cel")

GLOBAL_PATH = "global.access_policy"
NO_POLICY = "no access policy applies"


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """One ``access_policy`` table as configured: rules allow, or (default_allow) deny."""

    default_allow: bool
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Rule:
    """One compiled expression and its dotted config path (used in traces and logs)."""

    path: str
    program: cel.Program

    def holds(self, context: cel.Context) -> bool:
        """True only for a ``true`` result; an error or a non-bool is logged and is no match."""
        try:
            result = self.program.execute(context)
        except Exception as exc:  # KeyError, TypeError, ValueError, RuntimeError… by failure
            # The exception text may quote values (a map key taken from a claim): type only.
            _skipped(self.path, f"evaluation failed ({type(exc).__name__})")
            return False
        if not isinstance(result, bool):
            _skipped(self.path, f"result is {type(result).__name__}, not bool")
            return False
        return result


@dataclass(frozen=True, slots=True)
class _Policy:
    path: str
    default_allow: bool
    rules: tuple[_Rule, ...]

    @classmethod
    def compile(cls, path: str, policy: AccessPolicy) -> _Policy:
        rules = tuple(_compile(f"{path}.rules[{i}]", src) for i, src in enumerate(policy.rules))
        return cls(path, policy.default_allow, rules)

    def decide(self, context: cel.Context) -> tuple[bool, str]:
        """Whether the action in ``context`` passes, and the reason (the first true rule)."""
        verb = "denied" if self.default_allow else "allowed"
        for rule in self.rules:
            if rule.holds(context):
                return not self.default_allow, f"{rule.path} {verb}"
        if self.default_allow:
            return True, f"{self.path}: no rule denied (default allow)"
        return False, f"{self.path}: no rule allowed (default deny)"


@dataclass(frozen=True, slots=True)
class _RepositoryPolicy:
    key: str
    glob: Pattern | None
    policy: _Policy

    def covers(self, name: str) -> bool:
        if self.glob is not None:
            return self.glob.matches(name)
        return name == self.key or name.startswith(self.key + "/")


class CelPolicies:
    """The CEL stage; build it with :meth:`build`. Satisfies ``regauth.domain.policy.Stage``.

    ``apply`` is pure in its result. It memoizes the converted ``identity``
    for the last ``RequestContext`` it saw, so the grants of one request share
    one conversion (contexts are frozen, so a hit is always up to date). The
    pipeline decides one request's grants in sequence; two threads must not
    apply the *same* context at once (different contexts are fine).
    """

    __slots__ = ("_global", "_last", "_repositories")

    def __init__(self, global_policy: _Policy | None, repositories: tuple[_RepositoryPolicy, ...]):
        self._global = global_policy
        self._repositories = repositories  # longest key first
        self._last: tuple[RequestContext, cel.Context] | None = None

    @property
    def name(self) -> str:
        return "cel"

    @classmethod
    def build(
        cls, global_policy: AccessPolicy | None, repositories: Mapping[str, AccessPolicy]
    ) -> CelPolicies | None:
        """Compile every rule once; None when nothing is configured; ConfigError on a bad rule."""
        if global_policy is None and not repositories:
            return None
        compiled = None if global_policy is None else _Policy.compile(GLOBAL_PATH, global_policy)
        repos = [_repository(key, policy) for key, policy in repositories.items()]
        repos.sort(key=lambda r: len(r.key), reverse=True)  # stable: ties keep config order
        return cls(compiled, tuple(repos))

    def apply(self, grant: Grant, ctx: RequestContext) -> Grant:
        policies = self._policies_for(grant.requested.resource)
        if not policies:
            return grant.narrow(self.name, grant.actions, NO_POLICY)
        context = self._activation(ctx)
        allowed: list[str] = []
        reasons: dict[str, str] = {}
        for action in grant.actions:
            context.add_variable("request", request_vars(ctx.service, grant.requested, action))
            ok, reasons[action] = _decide(policies, context)
            if ok:
                allowed.append(action)
        return grant.narrow(self.name, allowed, _join(reasons))

    def _policies_for(self, resource: Resource) -> tuple[_Policy, ...]:
        found = [] if self._global is None else [self._global]
        if resource.type == "repository":
            repo = next((r for r in self._repositories if r.covers(resource.name)), None)
            if repo is not None:
                found.append(repo.policy)
        return tuple(found)

    def _activation(self, ctx: RequestContext) -> cel.Context:
        last = self._last
        if last is not None and last[0] is ctx:
            return last[1]
        context = new_context(ctx)
        self._last = (ctx, context)
        return context


def _decide(policies: tuple[_Policy, ...], context: cel.Context) -> tuple[bool, str]:
    """Global first, then repository; the first deny stops (nothing overrides it)."""
    reasons = []
    for policy in policies:
        ok, reason = policy.decide(context)
        reasons.append(reason)
        if not ok:
            return False, ", ".join(reasons)
    return True, ", ".join(reasons)


def _skipped(path: str, why: str) -> None:
    log.warning("CEL rule %s skipped: %s", path, why)


def _join(reasons: dict[str, str]) -> str:
    """One reason when every action was decided alike, else ``action: reason`` joined by "; "."""
    distinct = set(reasons.values())
    if len(distinct) == 1:
        return distinct.pop()
    return "; ".join(f"{action}: {reason}" for action, reason in reasons.items())


def _repository(key: str, policy: AccessPolicy) -> _RepositoryPolicy:
    path = f"repository.{json.dumps(key)}"
    name = key.strip("/")  # "team/" means the same as "team"
    if not name:
        raise ConfigError("repository key is empty", path=path)
    glob = _glob(name, path) if "*" in name else None
    return _RepositoryPolicy(name, glob, _Policy.compile(f"{path}.access_policy", policy))


def _glob(key: str, path: str) -> Pattern:
    try:
        glob = Pattern.compile(key)
    except PatternError as exc:
        raise ConfigError(str(exc), path=path) from None
    if glob.placeholders:
        raise ConfigError("placeholders are not allowed in repository keys", path=path)
    return glob


def _compile(path: str, source: str) -> _Rule:
    try:
        return _Rule(path, cel.compile(source))
    except Exception as exc:  # the library reports syntax errors as ValueError
        raise ConfigError(str(exc), path=path) from None
