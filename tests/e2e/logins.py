"""What the e2e tests of the container tools share: ``login`` through the tool's own CLI
(docker, podman, buildah) and ``ok``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from tests.e2e.conftest import describe

Run = Callable[..., subprocess.CompletedProcess[str]]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, describe(result)
    return result


def login(
    run: Run, host: str, user: str, secret: str, *options: str
) -> subprocess.CompletedProcess[str]:
    """``TOOL login OPTIONS… --username USER --password-stdin HOST`` through ``run``, the
    secret on standard input (never on the command line)."""
    return run("login", *options, "--username", user, "--password-stdin", host, input=secret + "\n")
