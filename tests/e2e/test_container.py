"""The container image: built from the Dockerfile on a base made here, run, asked for a token.

The base image is Debian bookworm with python3, made by debootstrap and
``docker import`` (tests/e2e/container_base.py), passed as the ``BASE`` build
argument; the build runs with ``--network none`` (dependencies come as
wheels). The container gets its configuration from a mounted directory (a
``regauth init`` result) and its listen port from ``REGAUTH_*`` variables, runs
as a non-root user, reports healthy through its HEALTHCHECK, and answers
``/token``. The private dockerd has no bridge, so the container uses the host
network and listens on a free loopback port.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, HOST, SERVICE, basic_auth, free_port, run_regauth
from tests.e2e.container_base import base_tarball, dependency_wheels
from tests.e2e.dockerd import Dockerd, docker_cli

# BuildKit: only the two COPY/RUN layers are snapshots (the legacy builder commits a
# container per instruction, each a full copy on dockerd's vfs driver).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE_UID = 10001
BUILD_TIMEOUT = 900.0
# The virtual environment regauth adds on top of the base (Python packages only).
MAX_ADDED_MIB = 200


def build_context(directory: Path) -> Path:
    """The files the Dockerfile copies, plus wheels/, in a temporary build context."""
    directory.mkdir()
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):  # as in the repo
        shutil.copy2(ROOT / name, directory / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", directory / "src", ignore=ignore)
    wheels = dependency_wheels(ROOT / "pyproject.toml", Path(sys.executable).parent / "pip")
    shutil.copytree(wheels, directory / "wheels")
    return directory


def checked(daemon: Dockerd, *args: str, timeout: float = 300.0) -> str:
    if args[0] == "build":
        result = subprocess.run(
            [str(docker_cli()), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**daemon.env(), "DOCKER_BUILDKIT": "1"},
            check=False,
        )
    else:
        result = daemon.docker(*args, timeout=timeout)
    assert result.returncode == 0, f"docker {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


def image_size(daemon: Dockerd, image: str) -> int:
    return int(checked(daemon, "image", "inspect", "--format", "{{.Size}}", image))


def test_image_builds_runs_as_non_root_and_issues_tokens(dockerd: Dockerd, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    base, image = f"regauth-test-base:{tag}", f"regauth-test:{tag}"
    checked(dockerd, "import", str(base_tarball()), base)
    context = build_context(tmp_path / "context")
    checked(
        dockerd,
        "build",
        "--network",
        "none",
        "--build-arg",
        f"BASE={base}",
        "--tag",
        image,
        str(context),
        timeout=BUILD_TIMEOUT,
    )
    added = (image_size(dockerd, image) - image_size(dockerd, base)) / 2**20
    assert added < MAX_ADDED_MIB, f"the image adds {added:.0f} MiB to its base"

    port = free_port()
    config = tmp_path / "config"
    init = ["init", "--dir", str(config), "--service", SERVICE, "--port", str(port)]
    run_regauth(*init, REGAUTH_ADMIN_PASSWORD=ADMIN_PASSWORD)
    shutil.chown(config, IMAGE_UID, IMAGE_UID)
    for path in config.rglob("*"):
        shutil.chown(path, IMAGE_UID, IMAGE_UID)
    name = f"regauth-{tag}"
    checked(
        dockerd,
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--health-interval",
        "1s",
        "--health-start-period",
        "1s",
        "--volume",
        f"{config}:/etc/regauth",
        "--env",
        f"REGAUTH_SERVER__HOST={HOST}",
        "--env",
        f"REGAUTH_SERVER__PORT={port}",
        image,
    )
    try:
        wait_healthy(dockerd, name)
        assert checked(dockerd, "exec", name, "id", "-u") == str(IMAGE_UID)
        response = httpx.get(
            f"http://{HOST}:{port}/token",
            params={"service": SERVICE, "scope": "repository:admin/app:pull"},
            headers={"Authorization": basic_auth("admin", ADMIN_PASSWORD)},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
        assert claims["aud"] == SERVICE
        refused = httpx.get(
            f"http://{HOST}:{port}/token",
            params={"service": SERVICE},
            headers={"Authorization": basic_auth("admin", "wrong")},
            timeout=10,
        )
        assert refused.status_code == 401
    finally:
        logs = dockerd.docker("logs", name)
        dockerd.docker("rm", "--force", name)
        dockerd.docker("image", "rm", "--force", image, base)
    assert "Traceback" not in logs.stdout + logs.stderr


def wait_healthy(daemon: Dockerd, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = checked(daemon, "inspect", "--format", "{{.State.Health.Status}}", name)
        if status == "healthy":
            return
        running = checked(daemon, "inspect", "--format", "{{.State.Running}}", name)
        if running != "true":
            break
        time.sleep(0.5)
    logs = daemon.docker("logs", name)
    pytest.fail(f"container {name} is {status!r}, not healthy:\n{logs.stdout}\n{logs.stderr}")
