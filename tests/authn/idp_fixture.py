"""A real identity provider for the OIDC tests: oidc-provider on node (``tests/authn/idp/``).

``npm install`` runs once if ``idp/node_modules`` is missing (network to the
npm registry needed then). The session-wide IdP is shared by every test
module that imports the ``idp`` fixture; :func:`start_idp` starts a private
one for tests that stop it. Processes are stopped by their PID.

Also here: a settable clock near real time (the IdP stamps tokens with real
time), DPoP proof keys and self-signed client certificates.
"""

from __future__ import annotations

import base64
import fcntl
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from regauth.authn.dpop import access_token_hash, jwk_thumbprint

IDP_DIR = Path(__file__).parent / "idp"
SCOPES = "registry.token.issue pull push"


@dataclass
class SettableClock:
    """Starts at the real time; tests move it forward."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)

    def timestamp(self) -> float:
        return self.at.timestamp()


class DpopKey:
    """A client's DPoP key pair (P-256) that signs proofs."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk: dict[str, object] = json.loads(
            jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key())
        )
        self.thumbprint = jwk_thumbprint(self.jwk)

    def proof(
        self,
        htm: str,
        htu: str,
        *,
        access_token: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        header: Mapping[str, object] | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        """A DPoP proof; ``header`` overrides header members, ``drop`` removes claims."""
        claims: dict[str, object] = {
            "jti": jti or uuid.uuid4().hex,
            "htm": htm,
            "htu": htu,
            "iat": int(iat if iat is not None else time.time()),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        for name in drop:
            claims.pop(name, None)
        headers = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return jwt.encode(claims, self.private, algorithm="ES256", headers=headers)


def make_certificate(common_name: str) -> bytes:
    """A self-signed client certificate (DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Idp:
    """One running ``server.mjs`` process."""

    port: int
    process: subprocess.Popen[bytes]
    admin_token: str
    log: Path

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    async def token(
        self,
        *,
        client: str = "ci-runner",
        scope: str = SCOPES,
        resource: str = "urn:regauth:registry",
        dpop: DpopKey | None = None,
        certificate: bytes | None = None,
    ) -> str:
        """An access token by client_credentials; DPoP-bound with ``dpop``, mTLS-bound with
        ``certificate`` (for ``mtls-runner``)."""
        headers: dict[str, str] = {}
        if dpop is not None:
            headers["dpop"] = dpop.proof("POST", f"{self.issuer}/token")
        if certificate is not None:
            headers["x-test-client-cert"] = base64.b64encode(certificate).decode()
        form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{self.issuer}/token",
                data=form,
                headers=headers,
                auth=(client, f"{client}-secret"),
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == ("DPoP" if dpop is not None else "Bearer")
        token: str = body["access_token"]
        return token

    async def kids(self) -> list[str]:
        async with httpx.AsyncClient() as http:
            response = await http.get(self.jwks_url)
        return [key["kid"] for key in response.json()["keys"]]

    async def rotate(self) -> str:
        """Make the IdP sign with a new key (the previous one stays published); its kid."""
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{self.issuer}/admin/rotate",
                headers={"authorization": f"Bearer {self.admin_token}"},
            )
        assert response.status_code == 200
        kid: str = response.json()["kid"]
        return kid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# Parallel test workers (and other checkouts' runs) install one at a time: the lock file
# lives outside the work tree.
INSTALL_LOCK = Path(tempfile.gettempdir()) / "regauth-tests-idp-npm.lock"


def _ensure_installed() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: the OIDC tests need it to run oidc-provider "
            "(`make test` installs nodejs and npm)",
            pytrace=False,
        )
    with INSTALL_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            npm = shutil.which("npm")
            assert npm is not None, "npm is needed to install tests/authn/idp"
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund"], cwd=IDP_DIR, check=True, timeout=300
            )
    return node


def start_idp(workdir: Path) -> Idp:
    """Start ``server.mjs`` on a free port; return once discovery answers."""
    node = _ensure_installed()
    port, log = free_port(), workdir / f"idp-{uuid.uuid4().hex[:8]}.log"
    admin_token = secrets.token_urlsafe(16)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node, "server.mjs", str(port)],
            cwd=IDP_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": str(Path(node).parent), "IDP_ADMIN_TOKEN": admin_token},
        )
    idp = Idp(port=port, process=process, admin_token=admin_token, log=log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(idp.discovery_url, timeout=1).status_code == 200:
                return idp
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    idp.stop()
    pytest.fail(f"the test IdP did not start:\n{log.read_text(errors='replace')[-2000:]}")


class _Shared:
    """One session IdP, however many test modules import the fixture."""

    idp: Idp | None = None
    users = 0


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    if _Shared.idp is None:
        _Shared.idp = start_idp(tmp_path_factory.mktemp("idp"))
    _Shared.users += 1
    try:
        yield _Shared.idp
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.idp.stop()
            _Shared.idp = None


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


def unverified_claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def unverified_kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])
