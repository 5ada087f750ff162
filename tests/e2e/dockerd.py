"""A private docker daemon for end-to-end tests, and image archives for ``docker load``.

``start_dockerd(base)`` runs Debian's ``dockerd`` as root with no iptables, no bridge, the
``vfs`` storage driver, and its own data root, exec root, pidfile and unix socket, all in
a fresh short directory (unix socket paths are limited to 108 bytes). dockerd starts a
containerd of its own; ``Dockerd.stop`` sends SIGTERM to dockerd by PID, waits, and then
makes sure that containerd (found through the PID file dockerd writes for it) is gone too.

Registries on 127.0.0.0/8 are treated as insecure (plain HTTP) by dockerd without any
daemon.json, so no daemon configuration is written. Every docker CLI call gets
``DOCKER_HOST`` pointing at the private socket and a private ``DOCKER_CONFIG`` (credentials
written by ``docker login`` never touch the user's ``~/.docker``).

``build_docker_archive`` writes a one-layer image in the ``docker save`` format (which
``docker load`` of daemon 20.10 reads; it does not read OCI layouts), without network.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.oci import go_arch

DOCKERD = Path("/usr/sbin/dockerd")
# Debian's docker.io CLI; a newer CLI elsewhere on PATH works as well.
DOCKER_CLI = Path("/usr/bin/docker")

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
COMMAND_TIMEOUT = 120.0


def _require(path: Path) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} is missing: `make test` installs it (apt-get install docker.io)",
            pytrace=False,
        )
    return path


def docker_cli() -> Path:
    if DOCKER_CLI.is_file():
        return DOCKER_CLI
    found = shutil.which("docker")
    return _require(Path(found) if found else DOCKER_CLI)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); /proc tells it apart.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return not _pid_alive(pid)


@dataclass
class Dockerd:
    """A running private dockerd; ``docker(...)`` runs the CLI against it."""

    dir: Path
    popen: subprocess.Popen[bytes]
    log: Path
    config_dir: Path
    _own_dir: bool = True
    containerd_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value (``unix://…/docker.sock``)."""
        return f"unix://{self.socket}"

    @property
    def containerd_pid_file(self) -> Path:
        return self.dir / "exec" / "containerd" / "containerd.pid"

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log file)"

    def env(self, config_dir: Path | None = None) -> dict[str, str]:
        """Environment for a docker CLI process: this daemon, a private client config."""
        environ = dict(os.environ)
        for key in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            environ.pop(key, None)
        environ["DOCKER_HOST"] = self.host
        environ["DOCKER_CONFIG"] = str(config_dir or self.config_dir)
        return environ

    def docker(
        self,
        *args: str,
        config_dir: Path | None = None,
        input: str | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGS…`` against this daemon (text output, never raises on exit code)."""
        return subprocess.run(
            [str(docker_cli()), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(config_dir),
            check=False,
        )

    def _read_containerd_pid(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.containerd_pid_file.read_text().strip())
            if pid not in self.containerd_pids:
                self.containerd_pids.append(pid)

    def stop(self) -> None:
        """SIGTERM dockerd by PID and wait; then make sure its containerd is gone too."""
        self._read_containerd_pid()
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=STOP_TIMEOUT)
        for pid in self.containerd_pids:
            if _wait_gone(pid, 5.0):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 5.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self._own_dir:
            # vfs layers are full copies owned by root; nothing else uses this directory.
            shutil.rmtree(self.dir, ignore_errors=True)


def start_dockerd(log_dir: Path) -> Dockerd:
    """Start a private dockerd; its log goes to ``log_dir/dockerd.log``.

    The daemon's own files live in a short directory under /tmp (removed by ``stop``),
    so the unix sockets dockerd and its containerd create stay under 108 bytes.
    """
    binary = _require(DOCKERD)
    docker_cli()
    if os.geteuid() != 0:
        pytest.fail("dockerd needs root: run the e2e suite as root", pytrace=False)
    directory = Path(tempfile.mkdtemp(prefix="regauth-dockerd-", dir="/tmp"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "dockerd.log"
    config_dir = directory / "client-config"
    config_dir.mkdir()
    argv = [
        str(binary),
        "--iptables=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "--data-root",
        str(directory / "data"),
        "--exec-root",
        str(directory / "exec"),
        "--pidfile",
        str(directory / "docker.pid"),
        "-H",
        f"unix://{directory / 'docker.sock'}",
    ]
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    daemon = Dockerd(directory, popen, log, config_dir)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not daemon.running():
            text = daemon.log_text()[-8000:]
            daemon.stop()
            pytest.fail(
                f"dockerd exited with {daemon.popen.returncode} at start-up:\n{text}",
                pytrace=False,
            )
        if daemon.socket.exists() and daemon.docker("version", timeout=10).returncode == 0:
            daemon._read_containerd_pid()
            return daemon
        time.sleep(0.1)
    text = daemon.log_text()[-8000:]
    daemon.stop()
    pytest.fail(f"dockerd: no answer to `docker version` after {STARTUP_TIMEOUT} s:\n{text}")


# --------------------------------------------------------------------------- archives


@dataclass(frozen=True)
class DockerArchive:
    """A ``docker save``-format tar; ``docker load -i path`` tags it ``repo_tag``."""

    path: Path
    repo_tag: str
    file_name: str
    file_content: bytes


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def build_docker_archive(
    path: Path, repo_tag: str = "regauth-e2e/sample:1", content: bytes | None = None
) -> DockerArchive:
    """Write a one-layer image (one small file, unique content) as a ``docker save`` tar."""
    if content is None:
        content = f"hello from regauth e2e {uuid.uuid4()}\n".encode()
    file_name = "hello.txt"
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w", format=tarfile.PAX_FORMAT) as layer_tar:
        _tar_member(layer_tar, file_name, content)
    layer = layer_buffer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": go_arch(),
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "regauth e2e"}],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_dir = hashlib.sha256(layer).hexdigest()
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [repo_tag], "Layers": [f"{layer_dir}/layer.tar"]}]
    ).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _tar_member(archive, config_name, config)
        _tar_member(archive, f"{layer_dir}/layer.tar", layer)
        _tar_member(archive, f"{layer_dir}/VERSION", b"1.0")
        _tar_member(archive, "manifest.json", manifest)
    return DockerArchive(path, repo_tag, file_name, content)
