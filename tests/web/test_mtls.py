"""mTLS identity (SPEC §3): the certificate source, regauth's own TLS listener, a proxy's header.

Certificates come from trustme: a server CA (the server certificate for
127.0.0.1), a client CA (the ``server.client_ca`` file) and an unrelated CA.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import jwt
import pytest
import trustme
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from regauth.authn.certificate import ClientCertificates
from regauth.cli import cli
from regauth.config import parse_settings
from regauth.domain.credentials import BasicCredential, CertificateCredential
from regauth.errors import ConfigError, InvalidCredential
from regauth.ports import Authenticated, CallerFacts, NoOpinion, Outcome, Rejected
from regauth.web.app import create_app
from regauth.web.tls import forwarded_certificate, peer_certificate, server_context
from tests.conftest import FrozenClock, Instance, make_instance
from tests.web.test_token_get import basic, decode, get_token

HOST = "127.0.0.1"
HEADER = "X-SSL-Client-Cert"
PROXY = ("10.1.2.3", 40000)
STRANGER = ("192.0.2.7", 40000)


@dataclass
class Pki:
    server_ca: Any  # trustme.CA (untyped)
    server: Any  # trustme.LeafCert for 127.0.0.1
    client_ca: Any
    carol: Any  # CN=carol, O=dev
    stranger: Any  # CN=mallory from an unrelated CA

    def client_context(self, leaf: Any | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=None)
        self.server_ca.configure_trust(context)
        if leaf is not None:
            leaf.configure_cert(context)
        return context


@pytest.fixture(scope="module")
def pki() -> Pki:
    server_ca, client_ca = trustme.CA(), trustme.CA(organization_name="Client CA")
    return Pki(
        server_ca,
        server_ca.issue_cert(HOST),
        client_ca,
        client_ca.issue_cert("carol@example.test", common_name="carol", organization_name="dev"),
        trustme.CA().issue_cert("mallory@example.test", common_name="mallory"),
    )


def der_of(leaf: Any) -> bytes:
    pem: bytes = leaf.cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def pem_of(leaf: Any) -> str:
    pem: bytes = leaf.cert_chain_pems[0].bytes()
    return pem.decode()


# --------------------------------------------------------------------------- the source

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def certificate(
    *attributes: tuple[x509.ObjectIdentifier, str], not_after: datetime = NOW + timedelta(days=1)
) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


CN, ORG = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME


def authenticate(der: bytes | BasicCredential) -> Outcome:
    source = ClientCertificates(FrozenClock(NOW))
    credential = der if isinstance(der, BasicCredential) else CertificateCredential(der)
    return anyio.run(source.authenticate, credential, CallerFacts(client_ip=None, service="s"))


@pytest.mark.parametrize(
    ("attributes", "subject", "organizations"),
    [
        (((CN, "alice"),), "alice", []),
        (((CN, "alice"), (ORG, "dev")), "alice", ["dev"]),
        (((ORG, "dev"), (ORG, "ops"), (CN, "bob")), "bob", ["dev", "ops"]),
        (((CN, "svc-ci"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "not-a-group")), "svc-ci", []),
    ],
)
def test_subject_is_the_cn_and_groups_are_the_organizations(
    attributes: tuple[tuple[x509.ObjectIdentifier, str], ...],
    subject: str,
    organizations: list[str],
) -> None:
    der = certificate(*attributes)
    outcome = authenticate(der)
    assert isinstance(outcome, Authenticated)
    principal = outcome.principal
    assert (principal.subject, principal.source) == (subject, "certificate")
    assert principal.groups == frozenset(organizations)
    assert principal.claims == {
        "certificate_cn": [subject],
        "certificate_o": organizations,
        "certificate_sha256": hashlib.sha256(der).hexdigest(),
    }


@pytest.mark.parametrize(
    "der",
    [
        pytest.param(certificate((ORG, "dev")), id="no CN"),
        pytest.param(certificate((CN, " "), (ORG, "dev")), id="blank CN"),
        pytest.param(certificate((CN, "alice"), (CN, "admin")), id="two CNs"),
        pytest.param(
            certificate((CN, "alice"), not_after=NOW - timedelta(seconds=1)), id="expired"
        ),
        pytest.param(b"\x30\x03\x02\x01\x00", id="not a certificate"),
    ],
)
def test_unusable_certificates_are_rejected(der: bytes) -> None:
    outcome = authenticate(der)
    assert isinstance(outcome, Rejected)
    assert isinstance(outcome.error, InvalidCredential)


def test_other_credentials_are_not_its_business() -> None:
    assert isinstance(authenticate(BasicCredential("alice", "pw")), NoOpinion)


# --------------------------------------------------------------------------- edge helpers


def test_forwarded_header_is_url_escaped_pem(pki: Pki) -> None:
    escaped = quote(pem_of(pki.carol), safe="")  # what nginx's $ssl_client_escaped_cert sends
    assert forwarded_certificate(escaped) == der_of(pki.carol)
    assert forwarded_certificate(pem_of(pki.carol)) == der_of(pki.carol)


@pytest.mark.parametrize("value", ["", "(null)", "-----BEGIN CERTIFICATE-----%0Agarbage", "é"])
def test_unparsable_forwarded_header_is_none(value: str) -> None:
    assert forwarded_certificate(value) is None


def tls_scope(chain: list[str], error: str | None = None) -> dict[str, Any]:
    tls = {"client_cert_chain": chain, "client_cert_error": error}
    return {"type": "http", "extensions": {"tls": tls}}


def test_peer_certificate_from_the_asgi_tls_extension(pki: Pki) -> None:
    assert peer_certificate(tls_scope([pem_of(pki.carol)])) == der_of(pki.carol)
    assert peer_certificate(tls_scope([pem_of(pki.carol)], error="unknown ca")) is None
    assert peer_certificate(tls_scope([])) is None
    assert peer_certificate({"type": "http"}) is None


def test_server_context_asks_for_an_optional_client_certificate(pki: Pki, tmp_path: Path) -> None:
    cert, key, ca = tmp_path / "s.crt", tmp_path / "s.key", tmp_path / "ca.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in pki.server.cert_chain_pems))
    pki.server.private_key_pem.write_to_path(str(key))
    pki.client_ca.cert_pem.write_to_path(str(ca))
    assert server_context(cert, key, ca).verify_mode == ssl.CERT_OPTIONAL
    plain = server_context(cert, key, None)
    assert plain.verify_mode == ssl.CERT_NONE
    assert plain.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ('tls_cert = "s.pem"', "tls_cert and tls_key go together"),
        ('client_ca = "ca.pem"', "client_ca needs tls_cert"),
        ('client_cert_header = "X-SSL-Client-Cert"', "client_cert_header needs trusted_proxies"),
        ('client_cert_header = "X SSL"\ntrusted_proxies = ["10.0.0.0/8"]', "client_cert_header"),
    ],
)
def test_tls_settings_are_validated(tmp_path: Path, server: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(f"[server]\n{server}\n", base_dir=tmp_path, environ={})


def test_tls_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    text = '[server]\ntls_cert = "tls/s.pem"\ntls_key = "/etc/k.pem"\nclient_ca = "ca.pem"\n'
    server = (settings := parse_settings(text, base_dir=tmp_path, environ={})).server
    assert server.tls_cert is not None and server.tls_key is not None
    assert settings.path(server.tls_cert) == tmp_path / "tls" / "s.pem"
    assert settings.path(server.tls_key) == Path("/etc/k.pem")


def test_serve_names_unloadable_tls_files(tmp_path: Path, clock: FrozenClock) -> None:
    # a free port: the default one may be in use on this machine, and serve checks it first
    tls = f'[server]\nport = {free_port()}\ntls_cert = "missing.pem"\ntls_key = "missing.pem"\n'
    config = make_instance(tmp_path, clock, top=tls).dir / "regauth.toml"
    env = {"REGAUTH_CONFIG": str(config)}  # serve sets it; CliRunner restores it
    result = CliRunner().invoke(cli, ["--config", str(config), "serve"], env=env)
    assert result.exit_code == 2
    assert "server.tls_cert: cannot load the TLS files" in result.output
    assert "serving on" not in result.output


# --------------------------------------------------------------------------- in process

PROXY_SERVER = f'[server]\ntrusted_proxies = ["10.0.0.0/8"]\nclient_cert_header = "{HEADER}"\n'


@pytest.fixture
def proxied(tmp_path: Path, clock: FrozenClock) -> Instance:
    inst = make_instance(tmp_path, clock, top=PROXY_SERVER)
    inst.add_user("alice", "alice-pw")
    return inst


@contextlib.contextmanager
def app_client(
    inst: Instance, peer: tuple[str, int], app: ASGIApp | None = None
) -> Iterator[TestClient]:
    app = app or create_app(inst.settings, clock=inst.clock)
    with TestClient(app, base_url="http://testserver", client=peer) as client:
        yield client


def forwarded(leaf: Any) -> dict[str, str]:
    return {HEADER: quote(pem_of(leaf), safe="")}


def test_header_from_a_trusted_proxy_is_the_identity(proxied: Instance, pki: Pki) -> None:
    with app_client(proxied, PROXY) as client:
        r = get_token(
            client, "repository:carol/app:pull", "repository:team/x:pull", auth=forwarded(pki.carol)
        )
    assert r.status_code == 200, r.text
    _, claims = decode(r.json()["token"])
    assert claims["sub"] == "carol"
    assert claims["access"] == [
        {"type": "repository", "name": "carol/app", "actions": ["pull"]},
        {"type": "repository", "name": "team/x", "actions": ["pull"]},  # O=dev → group dev
    ]


def test_header_from_anyone_else_is_ignored(
    proxied: Instance, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="regauth.web")
    with app_client(proxied, STRANGER) as client:
        r = get_token(client, "repository:carol/app:pull", auth=forwarded(pki.carol))
    assert r.status_code == 200, r.text
    _, claims = decode(r.json()["token"])
    assert claims["sub"] == ""
    assert not any(entry["actions"] for entry in claims["access"])
    assert f"ignoring {HEADER} from {STRANGER[0]}: not a trusted proxy" in caplog.text


def test_unparsable_header_from_the_proxy_means_no_certificate(proxied: Instance) -> None:
    with app_client(proxied, PROXY) as client:
        r = get_token(client, "repository:carol/app:pull", auth={HEADER: "(null)"})
    assert r.status_code == 200, r.text
    assert decode(r.json()["token"])[1]["sub"] == ""


def test_authorization_wins_over_the_certificate(proxied: Instance, pki: Pki) -> None:
    with app_client(proxied, PROXY) as client:
        headers = {**forwarded(pki.carol), **basic("alice", "alice-pw")}
        r = get_token(client, "repository:alice/app:pull", auth=headers)
    assert r.status_code == 200, r.text
    assert decode(r.json()["token"])[1]["sub"] == "alice"


def with_tls_extension(app: ASGIApp, pem: str) -> ASGIApp:
    """What uvicorn with PeerCertificateProtocol hands the app on a TLS connection."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            tls = {"client_cert_chain": [pem], "client_cert_error": None}
            scope = {**scope, "extensions": {"tls": tls}}
        await app(scope, receive, send)

    return wrapped


@pytest.mark.parametrize(("client_ca", "subject"), [(True, "carol"), (False, "")])
def test_tls_peer_certificate_counts_only_with_a_client_ca(
    tmp_path: Path, clock: FrozenClock, pki: Pki, client_ca: bool, subject: str
) -> None:
    server = '[server]\ntls_cert = "s.pem"\ntls_key = "s.pem"\n'
    if client_ca:
        server += 'client_ca = "ca.pem"\n'
    inst = make_instance(tmp_path, clock, top=server)
    app = with_tls_extension(create_app(inst.settings, clock=clock), pem_of(pki.carol))
    with app_client(inst, STRANGER, app) as client:
        r = get_token(client, "repository:carol/app:pull")
    assert r.status_code == 200, r.text
    assert decode(r.json()["token"])[1]["sub"] == subject


# --------------------------------------------------------------------------- regauth serve

SERVICE = "reg.test"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class TlsServer:
    port: int
    pki: Pki
    log: Path

    def token(self, leaf: Any | None, scope: str) -> dict[str, Any]:
        params = {"service": SERVICE, "scope": scope}
        with httpx.Client(verify=self.pki.client_context(leaf), timeout=10) as client:
            r = client.get(f"https://{HOST}:{self.port}/token", params=params)
        assert r.status_code == 200, r.text
        claims: dict[str, Any] = jwt.decode(r.json()["token"], options={"verify_signature": False})
        return claims


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    return {**env, **extra}


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"regauth serve exited early:\n{log.read_text()[-4000:]}", pytrace=False)
        with contextlib.suppress(httpx.TransportError):
            if ready():
                return
        time.sleep(0.1)
    pytest.fail(f"regauth serve did not start:\n{log.read_text()[-4000:]}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsServer]:
    base, port = tmp_path_factory.mktemp("mtls"), free_port()
    regauth = str(Path(sys.executable).parent / "regauth")
    subprocess.run(
        [regauth, "init", "--dir", str(base), "--service", SERVICE, "--port", str(port)],
        env=_environment(REGAUTH_ADMIN_PASSWORD="admin-mtls-pw"),
        check=True,
        capture_output=True,
    )
    (base / "tls").mkdir()
    (base / "tls" / "server.crt").write_bytes(
        b"".join(b.bytes() for b in pki.server.cert_chain_pems)
    )
    pki.server.private_key_pem.write_to_path(str(base / "tls" / "server.key"))
    pki.client_ca.cert_pem.write_to_path(str(base / "tls" / "client-ca.pem"))
    env = _environment(
        REGAUTH_SERVER__TLS_CERT="tls/server.crt",  # relative to the config folder
        REGAUTH_SERVER__TLS_KEY="tls/server.key",
        REGAUTH_SERVER__CLIENT_CA="tls/client-ca.pem",
    )
    log = base / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [regauth, "--config", str(base / "regauth.toml"), "serve"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    server = TlsServer(port, pki, log)
    try:

        def ready() -> bool:
            with httpx.Client(verify=pki.client_context(), timeout=2) as client:
                return client.get(f"https://{HOST}:{port}/healthz").status_code == 200

        _wait_until(ready, process, log)
        yield server
    finally:
        _stop(process)


def test_serve_with_a_client_certificate_gets_a_token_for_its_cn(tls_server: TlsServer) -> None:
    claims = tls_server.token(tls_server.pki.carol, "repository:carol/app:pull")
    assert claims["sub"] == "carol"
    assert claims["access"] == [{"type": "repository", "name": "carol/app", "actions": ["pull"]}]


def test_serve_without_a_client_certificate_is_anonymous(tls_server: TlsServer) -> None:
    claims = tls_server.token(None, "repository:carol/app:pull")
    assert claims["sub"] == ""
    assert not any(entry["actions"] for entry in claims["access"])


def test_serve_refuses_the_handshake_for_a_certificate_from_another_ca(
    tls_server: TlsServer,
) -> None:
    # TLS 1.3: the client's handshake ends first; the server's alert arrives on the first read.
    with pytest.raises(httpx.TransportError):
        tls_server.token(tls_server.pki.stranger, "repository:mallory/app:pull")
    assert "serving on https://" in tls_server.log.read_text()
