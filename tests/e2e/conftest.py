"""End-to-end fixtures: real regauth servers, Distribution registries, skopeo and containerd.

Every process is started on a free loopback port, its output goes to a file, and it is
stopped by PID (SIGTERM, wait, SIGKILL) when its fixture ends. When a test fails, the
logs of every process still running are attached to the failure report.

The recipe (registry config, client commands, messages) follows how Debian's
docker-registry 2.8.2 and the clients behave on this kind of machine.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import jwt
import pytest

from tests.e2e.dockerd import Dockerd, start_dockerd
from tests.e2e.oci import OciImage, build_oci_image

SERVICE = "registry.e2e"
ISSUER = "regauth-e2e"
ADMIN_PASSWORD = "admin-e2e-pw"
HOST = "127.0.0.1"

DOCKER_REGISTRY = Path("/usr/bin/docker-registry")
SKOPEO = Path("/usr/bin/skopeo")
CTR = Path("/usr/bin/ctr")
CONTAINERD = Path("/usr/bin/containerd")

# Argon2 at its cheapest: the e2e suite exercises the protocol, not the hashing cost.
FAST_PASSWORDS = "[passwords]\ntime_cost = 1\nmemory_cost = 1024\nparallelism = 1\n\n"

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOG_TAIL = 12_000

User = tuple[str, str, Sequence[str]]


def require_binary(path: Path) -> Path:
    """The binary, or a test failure (never a skip: a skipped e2e suite hides regressions)."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} is missing: `make test` installs it "
            "(apt-get install docker-registry skopeo containerd)",
            pytrace=False,
        )
    return path


def regauth_executable() -> Path:
    candidate = Path(sys.executable).parent / "regauth"
    if candidate.is_file():
        return candidate
    found = shutil.which("regauth")
    if found is None:
        pytest.fail(
            "the regauth console script is not installed: run `make test` "
            "(or `.venv/bin/pip install -e '.[test]'`)",
            pytrace=False,
        )
    return Path(found)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def unique(prefix: str) -> str:
    """A repository name nobody used before (skopeo's blob-info cache survives runs)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return text[-LOG_TAIL:]


# --------------------------------------------------------------------------- processes


@dataclass
class Process:
    """One background process started by a fixture, with its output in ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """SIGTERM by PID, wait, then SIGKILL the process group this fixture created."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # start_new_session=True made the PID a process group leader: its
                # workers (granian) go with it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ValueError):
            LIVE.remove(self)


LIVE: list[Process] = []
# Daemons that outlive one test (dockerd): their log tails go into failure reports too.
DAEMON_LOGS: dict[str, Path] = {}


def start_process(name: str, argv: Sequence[str | Path], log: Path, **env: str) -> Process:
    log.parent.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    environ.update(env)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
            start_new_session=True,
        )
    process = Process(name, popen, log)
    LIVE.append(process)
    return process


def wait_until(
    process: Process, ready: Callable[[], bool], what: str, timeout: float = STARTUP_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            pytest.fail(
                f"{process.name} exited with {process.popen.returncode} before {what}:\n"
                f"{_tail(process.log)}",
                pytrace=False,
            )
        with contextlib.suppress(httpx.TransportError, subprocess.SubprocessError):
            if ready():
                return
        time.sleep(0.05)
    process.stop()
    pytest.fail(f"{process.name}: no {what} after {timeout} s:\n{_tail(process.log)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for process in LIVE:
            report.sections.append(
                (f"{process.name} (pid {process.pid}) log tail", _tail(process.log))
            )
        for name, log in DAEMON_LOGS.items():
            report.sections.append((f"{name} log tail", _tail(log)))
    return report


# --------------------------------------------------------------------------- regauth


@dataclass
class RegauthServer:
    dir: Path
    port: int
    alg: str
    stable_ca: bool
    process: Process | None = None
    service: str = SERVICE
    issuer: str = ISSUER

    @property
    def config(self) -> Path:
        return self.dir / "regauth.toml"

    @property
    def bundle(self) -> Path:
        return self.dir / "registry-bundle.pem"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.base_url}/token"

    def run_cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``regauth --config <config> ARGS…``; a failing command fails the test if ``check``."""
        return run_regauth("--config", str(self.config), *args, input=input, check=check)

    def log_text(self) -> str:
        return self.process.log_text() if self.process else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def token_response(
        self, user: str | None, password: str | None, *scopes: str
    ) -> httpx.Response:
        """A GET /token as docker sends it (Basic credentials when a user is given)."""
        params: list[tuple[str, str | int | float | bool | None]] = [("service", self.service)]
        params += [("scope", s) for s in scopes]
        headers = {}
        if user is not None and password is not None:
            params.append(("account", user))
            headers["Authorization"] = basic_auth(user, password)
        return httpx.get(self.realm, params=params, headers=headers, timeout=10)

    def token(self, user: str | None, password: str | None, *scopes: str) -> str:
        response = self.token_response(user, password, *scopes)
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def jwks_kids(self) -> set[str]:
        response = httpx.get(f"{self.base_url}/.well-known/jwks.json", timeout=10)
        response.raise_for_status()
        return {key["kid"] for key in response.json()["keys"]}


def run_regauth(
    *args: str, input: str | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}
    environ.update(env)
    result = subprocess.run(
        [str(regauth_executable()), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"regauth {' '.join(args)} exited with {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )
    return result


def write_rules(config: Path, rules_toml: str) -> None:
    """Drop everything from the first ``[[rules]]`` line on, then append the test's rules."""
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    kept: list[str] = []
    for line in lines:
        if line.startswith("[[rules]]"):
            break
        kept.append(line)
    text = "".join(kept).rstrip("\n") + "\n\n" + FAST_PASSWORDS + rules_toml.strip() + "\n"
    config.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- registry


@dataclass
class Registry:
    dir: Path
    port: int
    process: Process

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry part of an image reference."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repository: str, tag: str = "1") -> str:
        return f"{self.host}/{repository}:{tag}"

    def docker_ref(self, repository: str, tag: str = "1") -> str:
        return f"docker://{self.ref(repository, tag)}"

    def log_text(self) -> str:
        return self.process.log_text()

    def stop(self) -> None:
        self.process.stop()


def registry_config(
    data: Path, port: int, server: RegauthServer, realm: str | None = None, notifications: str = ""
) -> str:
    # Notifications only when a test asks (the block `regauth registry-config` prints).
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: info\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {data}\n"
        "  delete:\n"
        "    enabled: true\n"
        "http:\n"
        f"  addr: {HOST}:{port}\n"
        "  secret: regauth-e2e-fixed-http-secret\n"
        "auth:\n"
        "  token:\n"
        f"    realm: {realm or server.realm}\n"
        f"    service: {server.service}\n"
        f"    issuer: {server.issuer}\n"
        f"    rootcertbundle: {server.bundle}\n"
        f"{notifications}"
    )


# --------------------------------------------------------------------------- containerd


@dataclass
class Containerd:
    dir: Path
    process: Process

    @property
    def socket(self) -> Path:
        return self.dir / "containerd.sock"

    def ctr(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(CTR), "--address", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert result.returncode == 0, describe(result)
        return result

    def log_text(self) -> str:
        return self.process.log_text()

    def stop(self) -> None:
        self.process.stop()


def containerd_config(directory: Path) -> str:
    return (
        "version = 2\n"
        f'root = "{directory}/root"\n'
        f'state = "{directory}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        "[grpc]\n"
        f'  address = "{directory}/containerd.sock"\n'
        "[ttrpc]\n"
        f'  address = "{directory}/containerd.sock.ttrpc"\n'
        "[debug]\n"
        f'  address = "{directory}/debug.sock"\n'
        "[metrics]\n"
        '  address = ""\n'
        '[plugins."io.containerd.internal.v1.opt"]\n'
        f'  path = "{directory}/opt"\n'
    )


# --------------------------------------------------------------------------- launcher


@dataclass
class Launcher:
    """Starts processes under ``base`` and stops all of them in ``close``."""

    base: Path
    started: list[Callable[[], None]] = field(default_factory=list)

    def _mkdir(self, prefix: str) -> Path:
        path = self.base / f"{prefix}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def regauth(
        self,
        alg: str = "ES256",
        stable_ca: bool = True,
        rules_toml: str = "",
        users: Sequence[User] = (),
        env: dict[str, str] | None = None,
    ) -> RegauthServer:
        directory = self._mkdir(f"regauth-{alg}-{'ca' if stable_ca else 'self'}")
        port = free_port()
        init = [
            "init",
            "--dir",
            str(directory),
            "--service",
            SERVICE,
            "--issuer",
            ISSUER,
            "--port",
            str(port),
            "--alg",
            alg,
        ]
        if not stable_ca:
            init.append("--no-ca")
        run_regauth(*init, REGAUTH_ADMIN_PASSWORD=ADMIN_PASSWORD)
        server = RegauthServer(directory, port, alg, stable_ca)
        assert server.bundle.is_file(), f"regauth init wrote no {server.bundle}"
        write_rules(server.config, rules_toml)
        for name, password, groups in users:
            args = ["users", "add", name, "--password-stdin"]
            for group in groups:
                args += ["--group", group]
            server.run_cli(*args, input=password + "\n")
        server.process = start_process(
            f"regauth serve ({alg}, {'stable CA' if stable_ca else 'self-signed'})",
            [
                regauth_executable(),
                "--config",
                server.config,
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            directory / "serve.log",
            **(env or {}),
        )
        self.started.append(server.stop)

        def healthy() -> bool:
            return httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200

        wait_until(server.process, healthy, "200 from /healthz")
        return server

    def registry(
        self, server: RegauthServer, realm: str | None = None, notifications: str = ""
    ) -> Registry:
        """A registry trusting ``server``; ``realm`` (default: the server's) is what it
        sends clients to (a :class:`~tests.e2e.token_recorder.TokenRecorder`, say), and
        ``notifications`` a ``notifications:`` block it sends its events with."""
        binary = require_binary(DOCKER_REGISTRY)
        directory = self._mkdir("registry")
        port = free_port()
        config = directory / "config.yml"
        text = registry_config(directory / "data", port, server, realm, notifications)
        config.write_text(text, encoding="utf-8")
        process = start_process(
            f"docker-registry :{port}",
            [binary, "serve", config],
            directory / "registry.log",
        )
        registry = Registry(directory, port, process)
        self.started.append(registry.stop)

        def challenges() -> bool:
            response = httpx.get(f"{registry.url}/v2/", timeout=2)
            assert response.status_code == 401, f"GET /v2/ answered {response.status_code}"
            return True

        wait_until(process, challenges, "401 from GET /v2/")
        return registry

    def containerd(self) -> Containerd:
        binary = require_binary(CONTAINERD)
        require_binary(CTR)
        # A short path: unix socket paths are limited to 108 bytes.
        directory = Path(self._short_dir())
        config = directory / "config.toml"
        config.write_text(containerd_config(directory), encoding="utf-8")
        process = start_process(
            "containerd", [binary, "--config", config], directory / "containerd.log"
        )
        daemon = Containerd(directory, process)
        self.started.append(daemon.stop)
        wait_until(process, lambda: daemon.ctr("version").returncode == 0, "`ctr version`")
        return daemon

    def _short_dir(self) -> str:
        path = self._mkdir("ctrd")
        if len(str(path)) <= 60:
            return str(path)
        short = tempfile.mkdtemp(prefix="regauth-ctrd-", dir="/tmp")
        self.started.append(lambda: shutil.rmtree(short, ignore_errors=True))
        return short

    def close(self) -> None:
        while self.started:
            self.started.pop()()


# --------------------------------------------------------------------------- clients


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"$ {' '.join(map(str, result.args))}\n-> exit {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def run_skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require_binary(SKOPEO)), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def skopeo_push(
    image: OciImage, registry: Registry, repository: str, creds: str | None, tag: str = "1"
) -> subprocess.CompletedProcess[str]:
    auth = ["--dest-creds", creds] if creds else ["--dest-no-creds"]
    return run_skopeo(
        "copy",
        "--dest-tls-verify=false",
        *auth,
        image.ref,
        registry.docker_ref(repository, tag),
    )


def skopeo_pull(
    registry: Registry, repository: str, dest: Path, creds: str | None, tag: str = "1"
) -> subprocess.CompletedProcess[str]:
    auth = ["--src-creds", creds] if creds else ["--src-no-creds"]
    return run_skopeo(
        "copy",
        "--src-tls-verify=false",
        *auth,
        registry.docker_ref(repository, tag),
        f"oci:{dest}:{tag}",
    )


def skopeo_delete(
    registry: Registry, repository: str, creds: str | None, tag: str = "1"
) -> subprocess.CompletedProcess[str]:
    auth = ["--creds", creds] if creds else ["--no-creds"]
    return run_skopeo("delete", "--tls-verify=false", *auth, registry.docker_ref(repository, tag))


def token_header(token: str) -> dict[str, object]:
    header: dict[str, object] = jwt.get_unverified_header(token)
    return header


# --------------------------------------------------------------------------- fixtures


class RegauthFactory(Protocol):
    def __call__(
        self,
        alg: str = ...,
        stable_ca: bool = ...,
        rules_toml: str = ...,
        users: Sequence[User] = ...,
        env: dict[str, str] | None = ...,
    ) -> RegauthServer: ...


class ImageFactory(Protocol):
    def __call__(self, *, tag: str = ..., content: bytes | None = ...) -> OciImage: ...


SkopeoRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Processes that live for one test."""
    started = Launcher(tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def module_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """Processes shared by the tests of one module."""
    started = Launcher(tmp_path_factory.mktemp("e2e"))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def regauth_server(launcher: Launcher) -> RegauthFactory:
    """Factory: ``regauth_server(alg, stable_ca, rules_toml, users)`` → a running server."""
    return launcher.regauth


@pytest.fixture
def registry(launcher: Launcher) -> Callable[[RegauthServer], Registry]:
    """Factory: ``registry(server)`` → a docker-registry trusting that server's tokens."""
    return launcher.registry


@pytest.fixture
def oci_image(tmp_path_factory: pytest.TempPathFactory) -> ImageFactory:
    """Factory: a fresh OCI image layout with unique content (no network)."""

    def build(*, tag: str = "1", content: bytes | None = None) -> OciImage:
        return build_oci_image(tmp_path_factory.mktemp("oci"), tag=tag, content=content)

    return build


@pytest.fixture(scope="module")
def containerd(module_launcher: Launcher) -> Containerd:
    """A private containerd (CRI disabled, socket in a temp dir) for one module."""
    return module_launcher.containerd()


@pytest.fixture(scope="session")
def skopeo() -> SkopeoRunner:
    """``skopeo(*args)`` → CompletedProcess (text, 60 s timeout)."""
    return run_skopeo


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """One private dockerd (vfs, no iptables, no bridge) for the whole session.

    ``dockerd.docker(*args, config_dir=...)`` runs the docker CLI against it; give each
    test its own ``config_dir`` (``DOCKER_CONFIG``) so logins do not leak between tests.
    Stopped by PID at the end of the session, together with its containerd.
    """
    daemon = start_dockerd(tmp_path_factory.mktemp("dockerd"))
    name = f"dockerd (pid {daemon.pid})"
    DAEMON_LOGS[name] = daemon.log
    try:
        yield daemon
    finally:
        DAEMON_LOGS.pop(name, None)
        daemon.stop()
