"""The LDAP identity source against a real OpenLDAP slapd (see ``slapd_fixture``)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from pydantic import ValidationError

from regauth.authn.ldap import (
    LdapAuthenticator,
    escape_filter_value,
    first_rdn_value,
    render_filter,
)
from regauth.config.ldap import LdapSettings
from regauth.domain.credentials import BasicCredential, BearerCredential
from regauth.errors import BackendUnavailable, ConfigError, InvalidCredential
from regauth.ports import Authenticated, CallerFacts, NoOpinion, Outcome, Rejected
from tests.authn.slapd_fixture import (
    GROUPS,
    PEOPLE,
    READER_DN,
    READER_PASSWORD,
    SUFFIX,
    Slapd,
    TlsFiles,
    available,
    free_port,
    running_slapd,
)

pytestmark = pytest.mark.skipif(not available(), reason="needs slapd and ldap-utils")

FACTS = CallerFacts(client_ip="127.0.0.1", service="registry")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Slapd]:
    directory = tmp_path_factory.mktemp("slapd")
    leaf = ca.issue_cert("127.0.0.1")
    tls = TlsFiles(directory / "cert.pem", directory / "key.pem", directory / "ca.pem")
    leaf.cert_chain_pems[0].write_to_path(str(tls.cert))
    leaf.private_key_pem.write_to_path(str(tls.key))
    ca.cert_pem.write_to_path(str(tls.ca))
    with running_slapd(directory / "server", tls=tls) as server:
        yield server


def settings_for(url: str, **overrides: Any) -> LdapSettings:
    values: dict[str, Any] = {
        "url": url,
        "bind_dn": READER_DN,
        "bind_password": READER_PASSWORD,
        "base_dn": PEOPLE,
        "group_base_dn": GROUPS,
        "timeout": 2.0,
    }
    values.update(overrides)
    return LdapSettings.model_validate(values)


@pytest.fixture
async def ldap(slapd: Slapd) -> AsyncIterator[LdapAuthenticator]:
    authenticator = LdapAuthenticator(settings_for(slapd.url))
    yield authenticator
    await authenticator.aclose()


@pytest.fixture
def ldap_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture ``regauth.authn.ldap`` even where ``regauth`` does not propagate to the root."""
    logger = logging.getLogger("regauth.authn.ldap")
    level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)


async def login(source: LdapAuthenticator, username: str, password: str) -> Outcome:
    return await source.authenticate(BasicCredential(username, password), FACTS)


def principal_of(outcome: Outcome) -> Authenticated:
    assert isinstance(outcome, Authenticated), outcome
    return outcome


def assert_invalid_credential(outcome: Outcome) -> None:
    assert isinstance(outcome, Rejected), outcome
    assert isinstance(outcome.error, InvalidCredential)
    assert (outcome.error.status, outcome.error.code) == (401, "auth.invalid_credential")


async def assert_unavailable(source: LdapAuthenticator, *, within: float) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await login(source, "alice", "alice-pw")
    assert time.monotonic() - started < within
    assert (caught.value.status, caught.value.code) == (503, "auth.backend_unavailable")
    assert "LDAP" in caught.value.detail
    assert "Errno" not in caught.value.detail and "socket" not in caught.value.detail


# -- authentication -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_user_in_groups_gets_them(ldap: LdapAuthenticator) -> None:
    principal = principal_of(await login(ldap, "alice", "alice-pw")).principal
    assert (principal.subject, principal.source) == ("alice", "ldap")
    assert principal.groups == frozenset({"devs", "ops"})
    assert principal.claims["dn"] == f"uid=alice,{PEOPLE}"


@pytest.mark.anyio
async def test_a_user_in_no_group_has_none(ldap: LdapAuthenticator) -> None:
    assert principal_of(await login(ldap, "bob", "bob-pw")).principal.groups == frozenset()


@pytest.mark.anyio
async def test_the_subject_is_the_entry_spelling_of_the_username(ldap: LdapAuthenticator) -> None:
    assert principal_of(await login(ldap, "ALICE", "alice-pw")).principal.subject == "alice"


@pytest.mark.anyio
async def test_member_of_mode_reads_groups_from_the_user_entry(slapd: Slapd) -> None:
    source = LdapAuthenticator(
        settings_for(slapd.url, group_base_dn=None, member_of_attribute="memberOf")
    )
    try:
        principal = principal_of(await login(source, "carol", "carol-pw")).principal
    finally:
        await source.aclose()
    assert principal.groups == frozenset({"devs"})


@pytest.mark.anyio
async def test_without_a_group_source_there_are_no_groups(slapd: Slapd) -> None:
    source = LdapAuthenticator(settings_for(slapd.url, group_base_dn=None))
    try:
        assert principal_of(await login(source, "alice", "alice-pw")).principal.groups == set()
    finally:
        await source.aclose()


@pytest.mark.anyio
async def test_a_wrong_password_is_rejected(ldap: LdapAuthenticator) -> None:
    assert_invalid_credential(await login(ldap, "alice", "bob-pw"))


@pytest.mark.anyio
async def test_an_unknown_user_is_no_opinion_after_the_same_work(
    ldap: LdapAuthenticator, slapd: Slapd
) -> None:
    before = len(slapd.binds())
    assert isinstance(await login(ldap, "mallory", "whatever"), NoOpinion)
    # One bind as with a wrong password (plus the service account's on a cold pool).
    assert f"cn=regauth-absent-user,{PEOPLE}" in slapd.binds()[before:]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "credential",
    [BearerCredential("alice-pw"), BasicCredential("", "alice-pw")],
    ids=["not-basic", "no-username"],
)
async def test_other_credentials_are_no_opinion(
    ldap: LdapAuthenticator, credential: BearerCredential | BasicCredential
) -> None:
    assert isinstance(await ldap.authenticate(credential, FACTS), NoOpinion)


@pytest.mark.anyio
async def test_an_empty_password_is_rejected_without_a_bind(
    ldap: LdapAuthenticator, slapd: Slapd
) -> None:
    before = len(slapd.binds())
    assert_invalid_credential(await login(ldap, "alice", ""))
    assert len(slapd.binds()) == before
    # And with no server at all: still a fast 401, never a 503.
    nowhere = LdapAuthenticator(settings_for(f"ldap://127.0.0.1:{free_port()}"))
    started = time.monotonic()
    assert_invalid_credential(await login(nowhere, "alice", ""))
    assert time.monotonic() - started < 0.1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "username", ["*", "*)(uid=*", "alice)(|(uid=*", "al*", "*)(|(objectClass=*)", "alice\\"]
)
async def test_filter_injection_does_not_authenticate(
    ldap: LdapAuthenticator, slapd: Slapd, username: str
) -> None:
    assert isinstance(await login(ldap, username, "alice-pw"), NoOpinion)
    expected = f'filter="(uid={escape_filter_value(username)})"'
    assert expected.lower() in slapd.log_text().lower()


@pytest.mark.anyio
async def test_an_anonymous_search_works_where_the_directory_allows_it(slapd: Slapd) -> None:
    source = LdapAuthenticator(settings_for(slapd.url, bind_dn="", bind_password=None))
    before = len(slapd.binds())
    try:
        principal = principal_of(await login(source, "alice", "alice-pw")).principal
    finally:
        await source.aclose()
    assert principal.groups == frozenset({"devs", "ops"})
    assert slapd.binds()[before:] == ["", f"uid=alice,{PEOPLE}"]


@pytest.mark.anyio
async def test_service_connections_are_pooled(slapd: Slapd) -> None:
    source = LdapAuthenticator(settings_for(slapd.url, pool_size=2))
    before = slapd.binds().count(READER_DN)
    try:
        async with anyio.create_task_group() as tasks:
            for _ in range(12):
                tasks.start_soon(login, source, "carol", "carol-pw")
        principal_of(await login(source, "carol", "carol-pw"))
    finally:
        await source.aclose()
    assert 1 <= slapd.binds().count(READER_DN) - before <= 2


# -- failures: 503, never 401 -------------------------------------------------------------


@pytest.mark.anyio
async def test_a_restarted_server_is_used_again_and_a_stopped_one_is_unavailable(
    tmp_path: Path, ldap_log: pytest.LogCaptureFixture
) -> None:
    with running_slapd(tmp_path / "own") as server:
        source = LdapAuthenticator(settings_for(server.url, timeout=1.0))
        try:
            principal_of(await login(source, "alice", "alice-pw"))  # the pool keeps a connection
            server.stop()
            server.start()  # that connection is stale now: retried once on a new one
            principal_of(await login(source, "alice", "alice-pw"))
            assert "retrying once" in ldap_log.text
            server.stop()
            await assert_unavailable(source, within=1.5)
        finally:
            await source.aclose()


@pytest.mark.anyio
async def test_a_silent_server_times_out_in_about_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        source = LdapAuthenticator(settings_for(url, timeout=0.5))
        started = time.monotonic()
        await assert_unavailable(source, within=1.5)
        assert time.monotonic() - started >= 0.45


@pytest.mark.anyio
async def test_a_refused_service_account_is_unavailable_and_no_secret_is_logged(
    slapd: Slapd, ldap_log: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(slapd.url, bind_password="wrong-reader-secret")
    source = LdapAuthenticator(settings)
    await assert_unavailable(source, within=1.0)
    assert "service account" in ldap_log.text
    assert "wrong-reader-secret" not in ldap_log.text
    assert "wrong-reader-secret" not in repr(settings) and "**" in repr(settings)


@pytest.mark.anyio
async def test_no_password_is_ever_logged(
    ldap: LdapAuthenticator, slapd: Slapd, ldap_log: pytest.LogCaptureFixture
) -> None:
    await login(ldap, "alice", "alice-pw")
    await login(ldap, "alice", "bad-pw")
    down = LdapAuthenticator(settings_for(f"ldap://127.0.0.1:{free_port()}"))
    with pytest.raises(BackendUnavailable):
        await login(down, "alice", "alice-pw")
    assert "unavailable" in ldap_log.text
    for secret in (READER_PASSWORD, "alice-pw", "bad-pw"):
        assert secret not in ldap_log.text


@pytest.mark.anyio
async def test_a_misconfigured_base_is_unavailable(slapd: Slapd) -> None:
    source = LdapAuthenticator(settings_for(slapd.url, base_dn=f"ou=nowhere,{SUFFIX}"))
    await assert_unavailable(source, within=1.0)
    await source.aclose()


# -- TLS ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_start_tls_with_the_directory_ca(slapd: Slapd, ca: trustme.CA) -> None:
    with ca.cert_pem.tempfile() as ca_file:
        settings = settings_for(slapd.url, start_tls=True, ca_file=ca_file)
        source = LdapAuthenticator.build(settings)
    principal_of(await login(source, "alice", "alice-pw"))
    await source.aclose()
    assert "EXT oid=1.3.6.1.4.1.1466.20037" in slapd.log_text()


@pytest.mark.anyio
@pytest.mark.parametrize("tls", ["untrusted-ca", "ldaps-to-plain-port"])
async def test_tls_failures_are_unavailable(slapd: Slapd, tls: str) -> None:
    with trustme.CA().cert_pem.tempfile() as other_ca:
        if tls == "untrusted-ca":
            settings = settings_for(slapd.url, start_tls=True, ca_file=other_ca)
        else:
            settings = settings_for(f"ldaps://127.0.0.1:{slapd.port}", ca_file=other_ca)
        source = LdapAuthenticator.build(settings)
    await assert_unavailable(source, within=1.0)


def test_build_refuses_a_missing_ca_file(slapd: Slapd, tmp_path: Path) -> None:
    settings = settings_for(slapd.url, start_tls=True, ca_file="absent.pem")
    with pytest.raises(ConfigError) as caught:
        LdapAuthenticator.build(settings, base_dir=tmp_path)
    assert caught.value.path == "auth.ldap.ca_file"


# -- settings and pure helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"url": "http://ldap.example.org"},
        {"url": "ldap://"},
        {"url": "ldap://user:pw@ldap.example.org"},
        {"url": "ldap://ldap.example.org/dc=example,dc=org"},
        {"url": "ldaps://ldap.example.org", "start_tls": True},
        {"url": "ldap://ldap.example.org", "ca_file": "ca.pem"},
        {"bind_password": None},
        {"bind_password": ""},
        {"bind_dn": ""},
        {"base_dn": ""},
        {"user_filter": "(uid=alice)"},
        {"user_filter": "(uid={username}"},
        {"user_filter": "uid={username}"},
        {"group_filter": "(objectClass=groupOfNames)"},
        {"member_of_attribute": "memberOf"},
        {"group_attribute": "c n"},
        {"timeout": 0},
        {"pool_size": 0},
        {"unknown": 1},
    ],
)
def test_settings_refuse(overrides: dict[str, Any]) -> None:
    values = {"url": "ldap://ldap.example.org", **overrides}
    with pytest.raises(ValidationError):
        settings_for(**values)


def test_settings_accept_an_anonymous_search_and_active_directory_filters() -> None:
    settings = settings_for(
        "ldaps://dc1.corp.example.com:636",
        bind_dn="",
        bind_password=None,
        user_filter="(&(objectClass=user)(sAMAccountName={username}))",
        group_filter="(member:1.2.840.113556.1.4.1941:={dn})",
    )
    assert settings.uses_tls


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("alice", "alice"),
        ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
        ("a\\b", "a\\5cb"),
        ("nul\x00", "nul\\00"),
        ("émile", "émile"),
    ],
)
def test_filter_values_are_escaped(value: str, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


def test_render_filter_leaves_other_braces_alone() -> None:
    rendered = render_filter("(&(cn={x})(member={dn}))", dn="uid=a*,dc=x")
    assert rendered == "(&(cn={x})(member=uid=a\\2a,dc=x))"


@pytest.mark.parametrize(
    ("dn", "name"),
    [
        ("cn=devs,ou=groups,dc=example,dc=org", "devs"),
        ("CN=Domain Admins,CN=Users,DC=corp,DC=example,DC=com", "Domain Admins"),
        ("cn=dev\\2c ops,ou=groups", "dev, ops"),
        ("cn=a\\,b,ou=groups", "a,b"),
        ("cn=caf\\c3\\a9+ou=x,dc=example", "café"),
    ],
)
def test_group_names_from_member_of_dns(dn: str, name: str) -> None:
    assert first_rdn_value(dn) == name
