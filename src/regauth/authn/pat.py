"""Personal access tokens and robot tokens (SPEC §3; seed 001).

Shown once at creation, stored as SHA-256 (the secret is 256-bit random),
recognisable by the ``regauth_pat_`` prefix so secret scanners can find
leaks. Accepted as the Basic password (``docker login -u alice -p <token>``,
the username must be the token's owner) or as a Bearer credential. The
token's own rules narrow the account's (intersection). Last use (time and
address) is remembered in memory and written in batches
(:meth:`~regauth.store.TokenStore.record_use`): the hot path never waits
for a write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

from pydantic import TypeAdapter, ValidationError

from regauth.authn.local import Principals
from regauth.authn.refresh import secret_hash
from regauth.authz.config_rules import compile_rules
from regauth.config.rules import SUBJECTS, RuleSettings
from regauth.domain.credentials import BasicCredential, BearerCredential, Credential
from regauth.domain.principal import Principal
from regauth.domain.rules import Rule
from regauth.errors import AuthenticationError, InvalidCredential, TokenExpired
from regauth.ports import Authenticated, CallerFacts, Clock, NoOpinion, Outcome, Random, Rejected
from regauth.store import TokenRecord, TokenStore, UserRecord, UserStore

PREFIX = "regauth_pat_"
KIND = "pat"
TOUCH_INTERVAL = timedelta(seconds=60)
_RULES = TypeAdapter(tuple[RuleSettings, ...])


def parse_token_rules(rules_json: str, *, stored: bool = False) -> tuple[RuleSettings, ...]:
    """Validate given (or, ``stored=True``, stored) token rules; raises ValueError."""
    context = {"stored": stored}
    try:
        rules = _RULES.validate_python(json.loads(rules_json), context=context)
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ValueError(f"invalid token rules: {exc}") from None
    for rule in rules:
        if any(getattr(rule, key) is not None for key in SUBJECTS):
            raise ValueError("token rules cannot name an account, group, anonymous or anyone")
    return rules


@lru_cache(maxsize=2048)
def _compiled(token_id: str, rules_json: str) -> tuple[Rule, ...] | None:
    rules = parse_token_rules(rules_json, stored=True)
    return compile_rules(rules, prefix=f"token:{token_id}") if rules else None


class PersonalTokens:
    name = "pat"

    def __init__(self, tokens: TokenStore, users: UserStore, clock: Clock) -> None:
        self._tokens = tokens
        self._users = users
        self._clock = clock
        self._principals = Principals()

    async def authenticate(self, credential: Credential, facts: CallerFacts) -> Outcome:
        secret, username = _secret(credential)
        if secret is None:
            return NoOpinion()
        record = await self._tokens.find_by_hash(secret_hash(secret))
        now = self._clock.now()
        problem = self._problem(record, username, now)
        if problem is not None or record is None:
            return Rejected(problem or InvalidCredential())
        user = await self._users.get(record.user_name)
        if user is None:
            return Rejected(InvalidCredential("token is not valid"))
        if record.last_used_at is None or record.last_used_at + TOUCH_INTERVAL <= now:
            self._tokens.record_use(record.id, addr=facts.client_ip)
        return Authenticated(self._principals.get(record.id, (record, user), _maker(record, user)))

    def _problem(
        self, record: TokenRecord | None, username: str | None, now: datetime
    ) -> AuthenticationError | None:
        if record is None or record.kind != KIND:
            return InvalidCredential("token is not valid")
        if record.revoked_at is not None:
            return InvalidCredential("token has been revoked")
        if record.user_disabled:
            return InvalidCredential("account disabled")
        if username is not None and username != record.user_name:
            return InvalidCredential("token does not belong to this user")
        if record.expires_at is not None and record.expires_at <= now:
            return TokenExpired("token has expired")
        return None


def _maker(record: TokenRecord, user: UserRecord) -> Callable[[], Principal]:
    def make() -> Principal:
        source = "robot" if user.kind == "robot" else KIND
        rules = _compiled(record.id, record.rules_json)
        groups, claims = frozenset(user.groups), dict(user.attributes)
        return Principal(user.name, source, groups, claims, record.id, rules)

    return make


def _secret(credential: Credential) -> tuple[str | None, str | None]:
    if isinstance(credential, BasicCredential) and credential.password.startswith(PREFIX):
        return credential.password, credential.username
    if isinstance(credential, BearerCredential) and credential.token.startswith(PREFIX):
        return credential.token, None
    return None, None


async def create_token(
    tokens: TokenStore,
    random: Random,
    clock: Clock,
    *,
    user: str,
    name: str,
    expires_in: timedelta | None,
    rules_json: str = "[]",
) -> tuple[TokenRecord, str]:
    """Create a PAT; return its record and the raw secret (shown once, never stored)."""
    parse_token_rules(rules_json)
    secret = PREFIX + random.token_urlsafe(32)
    record = await tokens.create(
        token_id=random.token_hex(6),
        user_name=user,
        kind=KIND,
        secret_hash=secret_hash(secret),
        expires_at=clock.now() + expires_in if expires_in else None,
        name=name,
        rules_json=rules_json,
    )
    return record, secret
