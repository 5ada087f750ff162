"""``regauth registry-config`` prints a config.yml the real registry starts with and uses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    DOCKER_REGISTRY,
    HOST,
    ImageFactory,
    Launcher,
    Registry,
    describe,
    free_port,
    require_binary,
    skopeo_pull,
    skopeo_push,
    start_process,
    unique,
    wait_until,
)
from tests.e2e.oci import read_layer_file

pytestmark = pytest.mark.e2e

RULES = """
[[rules]]
account = "alice"
name = "team/**"
actions = ["pull", "push"]
"""


def test_the_printed_config_runs_a_registry_that_trusts_regauth(
    launcher: Launcher, oci_image: ImageFactory, tmp_path: Path
) -> None:
    notify = '\n[events.registry]\nsecret = "e2e-notify-secret"\n'
    server = launcher.regauth(rules_toml=RULES + notify, users=[("alice", "alice-pw", [])])
    port = free_port()
    printed = server.run_cli(
        "registry-config",
        "--notifications",
        "--addr",
        f"{HOST}:{port}",
        "--storage",
        str(tmp_path / "data"),
    ).stdout
    assert f'realm: "{server.realm}"' in printed
    assert f'rootcertbundle: "{server.bundle}"' in printed
    assert 'Authorization: ["Bearer e2e-notify-secret"]' in printed
    config = tmp_path / "config.yml"
    config.write_text(printed, encoding="utf-8")

    process = start_process(
        f"docker-registry :{port} (registry-config)",
        [require_binary(DOCKER_REGISTRY), "serve", config],
        tmp_path / "registry.log",
    )
    launcher.started.append(process.stop)
    registry = Registry(tmp_path, port, process)

    def challenges() -> bool:
        response = httpx.get(f"{registry.url}/v2/", timeout=2)
        assert response.status_code == 401
        assert f'realm="{server.realm}"' in response.headers["www-authenticate"]
        return True

    wait_until(process, challenges, "401 from GET /v2/")

    image = oci_image()
    repository = unique("team/cfg")
    pushed = skopeo_push(image, registry, repository, "alice:alice-pw")
    assert pushed.returncode == 0, describe(pushed)
    pulled = skopeo_pull(registry, repository, tmp_path / "pulled", "alice:alice-pw")
    assert pulled.returncode == 0, describe(pulled)
    assert read_layer_file(tmp_path / "pulled", "1", image.file_name) == image.file_content
