"""deploy/: the Kubernetes manifest against the API schemas, the compose file through
docker-compose, and the example configuration through regauth's own loader."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from regauth.config import parse_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
KUBERNETES_VERSION = "1.30.0"
DOCKER_COMPOSE = Path("/usr/bin/docker-compose")


def _documents() -> list[dict[str, object]]:
    text = (DEPLOY / "kubernetes" / "regauth.yaml").read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_kubernetes_manifest_matches_the_api_schemas() -> None:
    import kubernetes_validate

    documents = _documents()
    assert {d["kind"] for d in documents} == {"Secret", "ConfigMap", "Deployment", "Service"}
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kubernetes_deployment_runs_two_ready_checked_replicas() -> None:
    deployment = next(d for d in _documents() if d["kind"] == "Deployment")
    spec = deployment["spec"]
    assert isinstance(spec, dict)
    assert spec["replicas"] == 2
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert env["REGAUTH_KEK"]["valueFrom"]["secretKeyRef"]["name"] == "regauth"


def test_kubernetes_config_is_a_valid_regauth_configuration(tmp_path: Path) -> None:
    config_map = next(d for d in _documents() if d["kind"] == "ConfigMap")
    data = config_map["data"]
    assert isinstance(data, dict)
    settings = parse_settings(data["regauth.toml"], base_dir=tmp_path, environ={})
    assert settings.keys.store == "database"


def test_compose_configuration_is_valid_regauth_configuration(tmp_path: Path) -> None:
    text = (DEPLOY / "regauth.toml").read_text(encoding="utf-8")
    settings = parse_settings(text, base_dir=tmp_path, environ={})
    assert settings.keys.store == "database"


def test_compose_file_is_accepted_by_docker_compose(tmp_path: Path) -> None:
    if not DOCKER_COMPOSE.is_file():
        pytest.fail(
            f"{DOCKER_COMPOSE} is missing: `make test` installs it "
            "(apt-get install docker-compose)",
            pytrace=False,
        )
    project = tmp_path / "deploy"
    shutil.copytree(DEPLOY, project)
    (project / "kek").write_text("unused\n")
    (project / "postgres-password").write_text("unused\n")
    result = subprocess.run(
        [
            str(DOCKER_COMPOSE),
            "--project-directory",
            str(project),
            "-f",
            str(project / "compose.yaml"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
