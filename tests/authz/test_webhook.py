"""Stage 6, authorization webhooks (SPEC §4.6, seed 000), against real HTTP(S) servers."""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from regauth.authz.webhook import Routes, WebhookMetrics, WebhookStage
from regauth.config.webhooks import WebhookSettings
from regauth.domain.policy import Grant
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.rules import RequestContext
from regauth.domain.scope import Resource, ResourceActions
from regauth.errors import ConfigError
from regauth.metrics import MetricRegistry
from regauth.ports import AsyncStage, CallerFacts
from tests.authz.webhook_server import Received, Responder, WebhookServer, always
from tests.conftest import FrozenClock

BEARER = "s3cr3t-bearer-token"
PASSWORD = "s3cr3t-basic-password"
ALICE = Principal(
    "alice",
    "local",
    claims={"certificate_cn": ["alice", "alice-laptop"], "certificate_o": ["Example Org"]},
    token_id="pat-42",
)
FACTS = CallerFacts(
    client_ip="10.0.0.7",
    service="registry.test",
    method="POST",
    url="https://auth.example.test:5001/token",
    headers={"x-request-id": "req-1", "x-tenant": "blue", "authorization": "Basic Y2xpZW50"},
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with WebhookServer() as srv:
        yield srv


@dataclass
class Harness:
    clock: FrozenClock
    registry: MetricRegistry
    metrics: WebhookMetrics
    base_dir: Path

    @asynccontextmanager
    async def stage(
        self,
        webhooks: Mapping[str, WebhookSettings],
        global_webhook: str = "hook",
        repositories: Mapping[str, str | None] | None = None,
    ) -> AsyncIterator[WebhookStage]:
        stage = WebhookStage.build(
            webhooks,
            global_webhook,
            repositories or {},
            clock=self.clock,
            metrics=self.metrics,
            base_dir=self.base_dir,
        )
        assert stage is not None
        try:
            yield stage
        finally:
            await stage.aclose()

    def hook(self, url: str, **options: object) -> dict[str, WebhookSettings]:
        return {"hook": WebhookSettings.model_validate({"url": url, **options})}

    def count(self, result: str, webhook: str = "hook") -> float:
        labels = {"webhook": webhook, "result": result}
        return self.registry.sample("webhook_authorization_requests_total", labels) or 0

    def calls(self, webhook: str = "hook") -> float:
        name = "webhook_authorization_duration_seconds_count"
        return self.registry.sample(name, {"webhook": webhook}) or 0


@pytest.fixture
def harness(clock: FrozenClock, tmp_path: Path) -> Harness:
    registry = MetricRegistry()
    return Harness(clock, registry, WebhookMetrics(registry), tmp_path)


def grant(name: str = "team/app", *actions: str, kind: str = "repository") -> Grant:
    return Grant.start(ResourceActions(Resource(kind, name), actions or ("pull",)))


def context(principal: Principal = ALICE) -> RequestContext:
    return RequestContext(principal, "registry.test", "10.0.0.7")


def by_action(**statuses: int) -> Responder:
    return lambda request: statuses[request.headers["x-registry-action"]]


def x_headers(request: Received) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.startswith("x-")}


# --- the protocol --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sends_exactly_the_seed_headers(server: WebhookServer, harness: Harness) -> None:
    async with harness.stage(harness.hook(server.url)) as stage:
        result = await stage.apply(grant("team/app", "push"), context(), FACTS)
    assert result.actions == ("push",)
    [request] = server.requests
    assert request.path == "/authorize"
    assert x_headers(request) == {
        "x-forwarded-method": "POST",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "auth.example.test:5001",
        "x-forwarded-uri": "/token",
        "x-forwarded-for": "10.0.0.7",
        "x-registry-action": "push",
        "x-registry-namespace": "team/app",
        "x-registry-username": "alice",
        "x-registry-identity-id": "pat-42",
        "x-registry-certificate-cn": "alice,alice-laptop",
        "x-registry-certificate-o": "Example Org",
    }
    assert "x-registry-reference" not in request.headers
    assert "x-registry-digest" not in request.headers
    assert "authorization" not in request.headers


@pytest.mark.anyio
async def test_anonymous_caller_sends_no_identity(server: WebhookServer, harness: Harness) -> None:
    async with harness.stage(harness.hook(server.url)) as stage:
        await stage.apply(grant("public/app"), context(ANONYMOUS), FACTS)
    registry_headers = {k for k in server.requests[0].headers if k.startswith("x-registry-")}
    assert registry_headers == {"x-registry-action", "x-registry-namespace"}


@pytest.mark.anyio
async def test_identity_id_falls_back_to_subject(server: WebhookServer, harness: Harness) -> None:
    async with harness.stage(harness.hook(server.url)) as stage:
        await stage.apply(grant(), context(Principal("bob", "ldap")), FACTS)
    headers = server.requests[0].headers
    assert headers["x-registry-username"] == headers["x-registry-identity-id"] == "bob"
    assert "x-registry-certificate-cn" not in headers
    assert "x-registry-certificate-o" not in headers


@pytest.mark.anyio
async def test_bearer_token_is_sent(server: WebhookServer, harness: Harness) -> None:
    async with harness.stage(harness.hook(server.url, bearer_token=BEARER)) as stage:
        await stage.apply(grant(), context(), FACTS)
    assert server.requests[0].headers["authorization"] == f"Bearer {BEARER}"


@pytest.mark.anyio
async def test_basic_credentials_are_sent(server: WebhookServer, harness: Harness) -> None:
    auth = {"username": "regauth", "password": PASSWORD}
    async with harness.stage(harness.hook(server.url, basic_auth=auth)) as stage:
        await stage.apply(grant(), context(), FACTS)
    encoded = base64.b64encode(f"regauth:{PASSWORD}".encode()).decode()
    assert server.requests[0].headers["authorization"] == f"Basic {encoded}"


@pytest.mark.anyio
async def test_forward_headers_are_copied(server: WebhookServer, harness: Harness) -> None:
    names = ["X-Request-ID", "X-Absent", "Authorization"]
    async with harness.stage(harness.hook(server.url, forward_headers=names)) as stage:
        await stage.apply(grant(), context(), FACTS)
    headers = server.requests[0].headers
    assert headers["x-request-id"] == "req-1"
    assert headers["authorization"] == "Basic Y2xpZW50"
    assert "x-absent" not in headers
    assert "x-tenant" not in headers


@pytest.mark.anyio
async def test_configured_credential_wins_over_forwarded_one(
    server: WebhookServer, harness: Harness
) -> None:
    settings = harness.hook(server.url, bearer_token=BEARER, forward_headers=["Authorization"])
    async with harness.stage(settings) as stage:
        await stage.apply(grant(), context(), FACTS)
    raw = [v for k, v in server.requests[0].raw_headers if k.lower() == "authorization"]
    assert raw == [f"Bearer {BEARER}"]


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (200, True),
        (204, True),
        (299, True),
        (302, False),
        (401, False),
        (403, False),
        (404, False),
        (500, False),
        (503, False),
    ],
)
@pytest.mark.anyio
async def test_2xx_allows_anything_else_denies(
    server: WebhookServer, harness: Harness, status: int, allowed: bool
) -> None:
    server.respond = always(status)
    async with harness.stage(harness.hook(server.url)) as stage:
        result = await stage.apply(grant("team/app", "pull"), context(), FACTS)
    assert result.actions == (("pull",) if allowed else ())
    verb = "allowed" if allowed else "denied"
    assert result.trace[-1].stage == "webhook"
    assert result.trace[-1].reason == f'webhook "hook": pull {verb} ({status})'
    assert harness.count("allow" if allowed else "deny") == 1


@pytest.mark.anyio
async def test_each_action_is_asked_separately(server: WebhookServer, harness: Harness) -> None:
    server.respond = by_action(pull=200, push=403, delete=200)
    async with harness.stage({"quotas": WebhookSettings(url=server.url)}, "quotas") as stage:
        result = await stage.apply(grant("team/app", "pull", "push"), context(), FACTS)
    assert result.actions == ("pull",)
    assert result.trace[-1].reason == 'webhook "quotas": pull allowed (200), push denied (403)'
    assert sorted(r.headers["x-registry-action"] for r in server.requests) == ["pull", "push"]


@pytest.mark.anyio
async def test_actions_are_asked_concurrently(server: WebhookServer, harness: Harness) -> None:
    server.delay = 0.4
    async with harness.stage(harness.hook(server.url)) as stage:
        started = time.monotonic()
        result = await stage.apply(grant("team/app", "pull", "push", "delete"), context(), FACTS)
        elapsed = time.monotonic() - started
    assert result.actions == ("pull", "push", "delete")
    assert elapsed < 1.0


# --- failing closed ------------------------------------------------------------------------


@pytest.fixture
def webhook_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # regauth.logs.configure() (run by other tests) stops propagation at "regauth":
    # then caplog's handler must sit on the module's logger itself.
    logger = logging.getLogger("regauth.authz.webhook_client")
    attach = not logging.getLogger("regauth").propagate
    if attach:
        logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="regauth")
    try:
        yield caplog
    finally:
        if attach:
            logger.removeHandler(caplog.handler)


@pytest.mark.anyio
async def test_timeout_denies_quickly(
    server: WebhookServer, harness: Harness, webhook_log: pytest.LogCaptureFixture
) -> None:
    server.delay = 3.0
    async with harness.stage(harness.hook(server.url, timeout_ms=200)) as stage:
        started = time.monotonic()
        result = await stage.apply(grant("team/app", "push"), context(), FACTS)
        elapsed = time.monotonic() - started
    assert result.actions == ()
    assert result.trace[-1].reason == 'webhook "hook": push denied (timeout)'
    assert elapsed < 1.5
    assert harness.count("timeout") == 1
    assert harness.calls() == 1
    [record] = webhook_log.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == 'authorization webhook "hook" failed (timeout); denying'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.anyio
async def test_connection_refused_denies(harness: Harness) -> None:
    url = f"http://127.0.0.1:{free_port()}/authorize"
    async with harness.stage(harness.hook(url)) as stage:
        result = await stage.apply(grant("team/app", "pull", "push"), context(), FACTS)
    assert result.actions == ()
    expected = 'webhook "hook": pull denied (connection error), push denied (connection error)'
    assert result.trace[-1].reason == expected
    assert harness.count("error") == 2


@pytest.mark.anyio
async def test_failures_are_not_cached(harness: Harness) -> None:
    url = f"http://127.0.0.1:{free_port()}/authorize"
    async with harness.stage(harness.hook(url)) as stage:
        for _ in range(2):
            await stage.apply(grant(), context(), FACTS)
    assert harness.count("error") == 2
    assert harness.count("cached_deny") == 0


@pytest.mark.anyio
async def test_secrets_never_logged_nor_shown(
    harness: Harness, webhook_log: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/authorize"
    bearer = harness.hook(url, bearer_token=BEARER)["hook"]
    basic = harness.hook(url, basic_auth={"username": "u", "password": PASSWORD})["hook"]
    async with harness.stage({"hook": bearer, "other": basic}, "hook", {"b": "other"}) as stage:
        await stage.apply(grant("team/app"), context(), FACTS)
        await stage.apply(grant("b/app"), context(), FACTS)
        shown = repr(stage) + repr(stage._clients)
    assert len(webhook_log.records) == 2
    for text in (
        *webhook_log.messages,
        webhook_log.text,
        repr(bearer),
        repr(basic),
        str(basic),
        shown,
        repr(bearer.model_dump()),
    ):
        assert BEARER not in text
        assert PASSWORD not in text


# --- caching -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_answers_are_cached_until_the_ttl(
    server: WebhookServer, harness: Harness, clock: FrozenClock
) -> None:
    async with harness.stage(harness.hook(server.url, cache_ttl=60)) as stage:
        first = await stage.apply(grant(), context(), FACTS)
        clock.advance(seconds=59)
        second = await stage.apply(grant(), context(), FACTS)
        assert server.calls == 1
        clock.advance(seconds=1)
        await stage.apply(grant(), context(), FACTS)
        assert server.calls == 2
    assert first.trace[-1].reason == 'webhook "hook": pull allowed (200)'
    assert second.actions == ("pull",)
    assert second.trace[-1].reason == 'webhook "hook": pull allowed (cached)'
    assert (harness.count("allow"), harness.count("cached_allow")) == (2, 1)
    assert harness.calls() == 2


@pytest.mark.anyio
async def test_denials_are_cached_too(server: WebhookServer, harness: Harness) -> None:
    server.respond = always(403)
    async with harness.stage(harness.hook(server.url)) as stage:
        await stage.apply(grant(), context(), FACTS)
        result = await stage.apply(grant(), context(), FACTS)
    assert result.actions == ()
    assert result.trace[-1].reason == 'webhook "hook": pull denied (cached)'
    assert (server.calls, harness.count("deny"), harness.count("cached_deny")) == (1, 1, 1)


@pytest.mark.anyio
async def test_cache_ttl_zero_calls_every_time(server: WebhookServer, harness: Harness) -> None:
    async with harness.stage(harness.hook(server.url, cache_ttl=0)) as stage:
        for _ in range(3):
            await stage.apply(grant(), context(), FACTS)
    assert server.calls == 3
    assert harness.count("cached_allow") == 0


@pytest.mark.anyio
async def test_cache_key_includes_forwarded_headers_identity_action_and_resource(
    server: WebhookServer, harness: Harness
) -> None:
    other_tenant = CallerFacts("10.0.0.7", "registry.test", headers={"x-tenant": "red"})
    other_ip = CallerFacts("10.9.9.9", "registry.test", headers={"x-tenant": "blue"})
    async with harness.stage(harness.hook(server.url, forward_headers=["X-Tenant"])) as stage:
        await stage.apply(grant(), context(), FACTS)
        await stage.apply(grant(), context(), other_ip)  # same tenant: cached
        assert server.calls == 1
        await stage.apply(grant(), context(), other_tenant)
        await stage.apply(grant(), context(Principal("bob", "local")), FACTS)
        await stage.apply(grant("team/app", "push"), context(), FACTS)
        await stage.apply(grant("team/other"), context(), FACTS)
    assert server.calls == 5
    assert [r.headers["x-tenant"] for r in server.requests] == [
        "blue",
        "red",
        "blue",
        "blue",
        "blue",
    ]


@pytest.mark.anyio
async def test_each_webhook_has_its_own_cache_entries(
    server: WebhookServer, harness: Harness
) -> None:
    hooks = {"a": WebhookSettings(url=server.url), "b": WebhookSettings(url=server.url)}
    async with harness.stage(hooks, "a", {"team": "b"}) as stage:
        await stage.apply(grant("lib/x"), context(), FACTS)
        await stage.apply(grant("team/x"), context(), FACTS)
    assert server.calls == 2
    assert harness.count("allow", "a") == harness.count("allow", "b") == 1


# --- assignment ----------------------------------------------------------------------------

ROUTES = Routes.compile(
    {
        "team": "a",
        "team/secret": "b",
        "team/plain": None,
        "public": "",
        "lib/*/x": "c",
        "lib/*/x/y": "",
    },
    "g",
)


@pytest.mark.parametrize(
    ("name", "webhook"),
    [
        ("team", "a"),
        ("team/app", "a"),
        ("team/secret", "b"),
        ("team/secret/deep/er", "b"),
        ("team/secretive", "a"),  # a key matches whole path segments only
        ("teams/app", "g"),
        ("team/plain/app", "g"),  # key without a webhook: the global one
        ("public", None),
        ("public/app", None),
        ("lib/q/x", "c"),
        ("lib/q/x/y", None),  # the longer key wins
        ("lib/q/r/x", "g"),  # * stays within one segment
        ("other", "g"),
    ],
)
def test_routes_longest_key_wins(name: str, webhook: str | None) -> None:
    assert ROUTES.webhook_for(name) == webhook


def test_routes_without_global() -> None:
    routes = Routes.compile({"team": "a", "public": ""}, "")
    assert [routes.webhook_for(n) for n in ("team/x", "public/x", "other")] == ["a", None, None]
    assert routes.used() == {"a"}


@pytest.mark.anyio
async def test_repository_assignment_and_disabling(server: WebhookServer, harness: Harness) -> None:
    server.respond = always(403)
    hooks = {"std": WebhookSettings(url=server.url), "strict": WebhookSettings(url=server.url)}
    repositories = {"public": "", "team/secret": "strict"}
    async with harness.stage(hooks, "std", repositories) as stage:
        public = await stage.apply(grant("public/app", "pull"), context(), FACTS)
        secret = await stage.apply(grant("team/secret/app", "pull"), context(), FACTS)
        team = await stage.apply(grant("team/app", "pull"), context(), FACTS)
        catalog = await stage.apply(grant("catalog", "*", kind="registry"), context(), FACTS)
    assert public == grant("public/app", "pull")  # untouched, no trace
    assert secret.trace[-1].reason == 'webhook "strict": pull denied (403)'
    assert team.trace[-1].reason == 'webhook "std": pull denied (403)'
    assert catalog.actions == ("*",)
    assert catalog.trace == ()
    assert [r.headers["x-registry-namespace"] for r in server.requests] == [
        "team/secret/app",
        "team/app",
    ]


@pytest.mark.anyio
async def test_grant_without_actions_is_not_asked(server: WebhookServer, harness: Harness) -> None:
    empty = grant().narrow("account", (), "no matching rule")
    async with harness.stage(harness.hook(server.url)) as stage:
        assert await stage.apply(empty, context(), FACTS) == empty
    assert server.calls == 0


def test_build_returns_none_when_nothing_is_assigned(harness: Harness) -> None:
    hooks = {"hook": WebhookSettings(url="http://127.0.0.1:1/")}
    stage = WebhookStage.build(
        hooks,
        "",
        {"public": "", "team": None},
        clock=harness.clock,
        metrics=harness.metrics,
        base_dir=harness.base_dir,
    )
    assert stage is None


@pytest.mark.parametrize(
    ("global_webhook", "repositories", "path"),
    [
        ("nope", {}, "global.authorization_webhook"),
        ("", {"team/app": "nope"}, 'repository."team/app".authorization_webhook'),
        ("hook", {"lib/${nope}/*": "hook"}, 'repository."lib/${nope}/*"'),
    ],
)
def test_unknown_webhook_is_a_config_error(
    harness: Harness, global_webhook: str, repositories: dict[str, str | None], path: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookStage.build(
            {"hook": WebhookSettings(url="http://127.0.0.1:1/")},
            global_webhook,
            repositories,
            clock=harness.clock,
            metrics=harness.metrics,
            base_dir=harness.base_dir,
        )
    assert caught.value.path == path


@pytest.mark.anyio
async def test_stage_satisfies_the_async_stage_port(harness: Harness) -> None:
    async with harness.stage(harness.hook("http://127.0.0.1:1/")) as stage:
        port: AsyncStage = stage
        assert port.name == "webhook"


# --- mutual TLS ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> TlsFiles:
    client = ca.issue_cert("regauth.client.test")
    files = TlsFiles(tmp_path / "ca.pem", tmp_path / "certs" / "client.pem", tmp_path / "key.pem")
    files.cert.parent.mkdir()
    ca.cert_pem.write_to_path(str(files.ca))
    client.cert_chain_pems[0].write_to_path(str(files.cert))
    client.private_key_pem.write_to_path(str(files.key))
    return files


@pytest.fixture
def mtls_server(ca: trustme.CA) -> Iterator[WebhookServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    with WebhookServer(tls=context) as srv:
        yield srv


@pytest.mark.anyio
async def test_mtls_with_client_certificate_is_allowed(
    mtls_server: WebhookServer, harness: Harness, tls_files: TlsFiles
) -> None:
    settings = harness.hook(
        mtls_server.url,
        client_certificate_bundle="certs/client.pem",  # relative: resolved against base_dir
        client_private_key=str(tls_files.key),
        server_ca_bundle="ca.pem",
        bearer_token=BEARER,
    )
    async with harness.stage(settings) as stage:
        result = await stage.apply(grant("team/app", "pull", "push"), context(), FACTS)
    assert result.actions == ("pull", "push")
    assert mtls_server.calls == 2
    assert mtls_server.requests[0].headers["authorization"] == f"Bearer {BEARER}"


@pytest.mark.anyio
async def test_mtls_without_client_certificate_is_denied(
    mtls_server: WebhookServer, harness: Harness, tls_files: TlsFiles
) -> None:
    settings = harness.hook(mtls_server.url, server_ca_bundle=str(tls_files.ca))
    async with harness.stage(settings) as stage:
        result = await stage.apply(grant("team/app", "pull"), context(), FACTS)
    assert result.actions == ()
    assert result.trace[-1].reason.startswith('webhook "hook": pull denied (')
    assert mtls_server.calls == 0
    assert harness.count("error") == 1


@pytest.mark.anyio
async def test_untrusted_server_certificate_is_denied(
    mtls_server: WebhookServer, harness: Harness, tls_files: TlsFiles
) -> None:
    settings = harness.hook(
        mtls_server.url, client_certificate_bundle=tls_files.cert, client_private_key=tls_files.key
    )
    async with harness.stage(settings) as stage:
        result = await stage.apply(grant("team/app", "pull"), context(), FACTS)
    assert result.trace[-1].reason == 'webhook "hook": pull denied (tls error)'
    assert mtls_server.calls == 0


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"server_ca_bundle": "missing.pem"}, "auth.webhook.hook.server_ca_bundle"),
        ({"server_ca_bundle": "key.pem"}, "auth.webhook.hook.server_ca_bundle"),
        (
            {"client_certificate_bundle": "missing.pem", "client_private_key": "key.pem"},
            "auth.webhook.hook.client_certificate_bundle",
        ),
        (
            {"client_certificate_bundle": "certs/client.pem", "client_private_key": "nope.pem"},
            "auth.webhook.hook.client_private_key",
        ),
        (
            {"client_certificate_bundle": "certs/client.pem", "client_private_key": "ca.pem"},
            "auth.webhook.hook.client_private_key",
        ),
    ],
)
def test_unusable_tls_files_are_config_errors(
    harness: Harness, tls_files: TlsFiles, options: dict[str, str], path: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookStage.build(
            harness.hook("https://127.0.0.1:1/", **options),
            "hook",
            {},
            clock=harness.clock,
            metrics=harness.metrics,
            base_dir=harness.base_dir,
        )
    assert caught.value.path == path
    assert "BEGIN" not in str(caught.value)


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"url": "ftp://example.test/"},
        {"url": "https:///no-host"},
        {"url": "https://user:pw@example.test/"},
        {"url": "https://example.test/", "timeout_ms": 0},
        {"url": "https://example.test/", "timeout_ms": 60001},
        {"url": "https://example.test/", "cache_ttl": -1},
        {
            "url": "https://example.test/",
            "bearer_token": BEARER,
            "basic_auth": {"username": "u", "password": PASSWORD},
        },
        {"url": "https://example.test/", "bearer_token": "two words"},
        {"url": "https://example.test/", "client_certificate_bundle": "c.pem"},
        {"url": "https://example.test/", "client_private_key": "k.pem"},
        {"url": "https://example.test/", "forward_headers": ["X-Registry-Username"]},
        {"url": "https://example.test/", "forward_headers": ["X-Forwarded-For"]},
        {"url": "https://example.test/", "forward_headers": ["Host"]},
        {"url": "https://example.test/", "forward_headers": ["Bad Header"]},
        {"url": "https://example.test/", "forward_headers": ["X-A", "x-a"]},
        {"url": "https://example.test/", "unknown": 1},
    ],
)
def test_invalid_settings_are_rejected(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WebhookSettings.model_validate(options)


def test_settings_defaults_and_secret_repr() -> None:
    settings = WebhookSettings.model_validate(
        {"url": "https://auth.example.test/authorize", "bearer_token": BEARER}
    )
    assert (settings.timeout_ms, settings.cache_ttl, settings.forward_headers) == (1000, 60, ())
    assert BEARER not in repr(settings)
    assert settings.bearer_token is not None
    assert settings.bearer_token.get_secret_value() == BEARER
