"""The README's admin API session runs as written against a live ``regauth serve``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, SERVICE, Launcher, RegauthServer

README = Path(__file__).parents[3] / "README.md"
MARKER = "<!-- admin-api-example -->"


def readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    after = text[text.index(MARKER) + len(MARKER) :]
    match = re.match(r"\s*```sh\n(.*?)\n```", after, re.DOTALL)
    assert match is not None, "the example block follows the marker"
    return match.group(1)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[RegauthServer]:
    launcher = Launcher(tmp_path / "servers")
    try:
        yield launcher.regauth()
    finally:
        launcher.close()


def test_readme_admin_session(live: RegauthServer, tmp_path: Path) -> None:
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make test` installs it", pytrace=False)
    env = {
        **os.environ,
        "REGAUTH": live.base_url,
        "SERVICE": SERVICE,
        "REGAUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_block()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    out = result.stdout.splitlines()
    assert '{"name":"dana","groups":[]}' in out
    assert '{"name":"deployers","members":["dana"]}' in out
    assert '{"name":"dana","groups":["deployers"]}' in out
    assert '{"resource":"repository:deploy/app","granted":["pull","push"]}' in out
    assert '{"name":"deploy/secret/**","position":1}' in out
    assert "admin.stale" in out
    assert any(line.startswith('{"id":') and '"revoked_at":"20' in line for line in out)
    assert '{"outcome":"issued","subject":"dana","source":"pat"}' in out
    exported = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert exported and all(line.startswith("{") for line in exported)
