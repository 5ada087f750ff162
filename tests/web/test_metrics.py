"""Metrics that add up: whole-server values, every answer timed, /metrics access control."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from regauth.metrics import Counter, Histogram, MetricRegistry
from tests.conftest import FrozenClock, make_instance
from tests.web.test_mtls import _environment, _stop, free_port
from tests.web.test_token_get import SERVICE, basic

HOST = "127.0.0.1"
RAW_KEY = "regauth_ak_metrics-0123456789abcdef"
READER_KEY = "regauth_ak_reader-0123456789abcdef"
KEYS = """
[[auth.api_keys]]
id = "ops"
hash_env = "OPS_KEY_HASH"
scopes = ["admin"]
[[auth.api_keys]]
id = "reader"
hash_env = "READER_KEY_HASH"
scopes = ["pull"]
"""


def fingerprint(raw: str) -> str:
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def value(text: str, sample: str) -> float:
    """One sample's value in exposition text (0 when absent)."""
    m = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


# ---- the store: values of every process add up -------------------------------------


def test_processes_add_up_and_a_replaced_process_still_counts(tmp_path: Path) -> None:
    one, two = MetricRegistry(tmp_path, pid=101), MetricRegistry(tmp_path, pid=102)  # 2 workers
    for registry, n in ((one, 3), (two, 4)):
        issued = Counter(registry, "t_issued_total", "issued")
        for _ in range(n):
            issued.inc()
        Counter(registry, "t_rejected_total", "rejected", ["reason"]).labels('a"b\n').inc()
    del two  # the process is gone; its file stays and keeps counting
    again = MetricRegistry(tmp_path, pid=102)  # a new process that got the same pid
    Counter(again, "t_issued_total", "issued").inc()
    reader = MetricRegistry(tmp_path, reader=True)
    assert reader.render() == b"\n"  # only declared families are rendered
    assert reader.sample("t_issued_total") == 8.0
    assert reader.sample("t_rejected_total", {"reason": 'a"b\n'}) == 2.0
    text = one.render().decode()
    assert value(text, "t_issued_total") == 8.0
    assert value(text, 't_rejected_total{reason="a\\"b\\n"}') == 2.0


def test_histogram_buckets_are_cumulative_with_count_and_sum() -> None:
    registry = MetricRegistry()
    latency = Histogram(registry, "t_seconds", "latency", buckets=(0.1, 1.0))
    for x in (0.05, 0.1, 0.5, 3.0):
        latency.observe(x)
    text = registry.render().decode()
    assert value(text, 't_seconds_bucket{le="0.1"}') == 2.0
    assert value(text, 't_seconds_bucket{le="1.0"}') == 3.0
    assert value(text, 't_seconds_bucket{le="+Inf"}') == 4.0
    assert value(text, "t_seconds_count") == 4.0
    assert value(text, "t_seconds_sum") == pytest.approx(3.65)
    assert registry.sample("t_seconds_count") == 4.0


def test_declaring_a_family_twice_differently_is_refused() -> None:
    registry = MetricRegistry()
    Counter(registry, "t_total", "help", ["a"])
    Counter(registry, "t_total", "help", ["a"])  # the same again is fine (a reload)
    with pytest.raises(ValueError, match="declared twice"):
        Counter(registry, "t_total", "other help", ["a"])
    with pytest.raises(ValueError, match="takes labels"):
        Counter(registry, "t_total", "help", ["a"]).labels("x", "y")


# ---- through the application --------------------------------------------------------


@pytest.fixture
def keyed(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("OPS_KEY_HASH", fingerprint(RAW_KEY))
    monkeypatch.setenv("READER_KEY_HASH", fingerprint(READER_KEY))
    inst = make_instance(tmp_path, clock, extra=KEYS + '[server]\nmetrics_auth = "admin"\n')
    inst.add_user("alice", "alice-pw")
    with inst.client() as client:
        yield client


def test_every_token_answer_is_timed_and_attempts_are_counted(keyed: TestClient) -> None:
    params = {"service": SERVICE, "scope": "repository:public/x:pull"}
    assert keyed.get("/token", params=params).status_code == 200
    assert keyed.get("/token", params=params, headers=basic("alice", "alice-pw")).status_code == 200
    assert keyed.get("/token", params=params, headers=basic("alice", "nope")).status_code == 401
    assert keyed.get("/token", params=params, headers=basic("carol", "x")).status_code == 401
    bad = {"service": SERVICE, "scope": "bad"}
    assert keyed.get("/token", params=bad).status_code == 400  # refused before any identity
    assert keyed.get("/token", headers={"Authorization": "Bearer"}).status_code == 401
    text = keyed.get("/metrics", headers={"X-Api-Key": RAW_KEY}).text
    assert value(text, "registry_token_issued_total") == 2.0
    assert value(text, "regauth_token_request_duration_seconds_count") == 6.0
    attempts = "regauth_authentication_attempts_total"
    assert value(text, f'{attempts}{{source="local",result="success"}}') == 1.0
    assert value(text, f'{attempts}{{source="local",result="failure"}}') == 1.0
    assert value(text, f'{attempts}{{source="none",result="unknown"}}') == 1.0  # carol
    assert value(text, f'{attempts}{{source="apikey",result="success"}}') == 0.0  # not a token
    assert value(text, 'registry_token_rejected_total{reason="request.malformed_scope"}') == 1.0


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "auth.missing_credential"),
        ({"X-Api-Key": "regauth_ak_wrong"}, 401, "auth.invalid_credential"),
        ({"Authorization": f"Bearer {READER_KEY}"}, 403, "auth.scope_denied"),
        ({"Authorization": "Basic !!"}, 401, "auth.malformed_credential"),
    ],
)
def test_metrics_with_admin_auth_refuses_other_callers(
    keyed: TestClient, headers: dict[str, str], status: int, code: str
) -> None:
    r = keyed.get("/metrics", headers=headers)
    assert r.status_code == status and r.json()["code"] == code
    assert RAW_KEY not in r.text and READER_KEY not in r.text
    ok = keyed.get("/metrics", headers={"Authorization": f"Bearer {RAW_KEY}"})
    assert ok.status_code == 200 and "registry_token_issued_total" in ok.text


# ---- `regauth serve` with 2 workers -----------------------------------------------------


def _serve(base: Path, port: int, *args: str, **env: str) -> subprocess.Popen[bytes]:
    regauth = str(Path(sys.executable).parent / "regauth")
    with (base / "serve.log").open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [regauth, "--config", str(base / "regauth.toml"), "serve", "--port", str(port), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_environment(**env),
            start_new_session=True,
        )


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"regauth serve exited:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"regauth serve did not start:\n{log.read_text()[-3000:]}", pytrace=False)


def _scrapes(url: str, times: int) -> list[float]:
    # a new connection each time: the scrapes land on either worker
    return [
        value(httpx.get(url, timeout=5).text, "registry_token_issued_total") for _ in range(times)
    ]


def test_two_workers_report_the_whole_server_and_survive_a_reload(tmp_path: Path) -> None:
    port, side = free_port(), free_port()
    regauth = str(Path(sys.executable).parent / "regauth")
    init = ["init", "--dir", str(tmp_path), "--service", SERVICE, "--port", str(port)]
    env = _environment(REGAUTH_ADMIN_PASSWORD="metrics-admin-pw")
    subprocess.run([regauth, *init], env=env, check=True, capture_output=True)
    base, scratch = f"http://{HOST}:{port}", tmp_path / "tmp"
    scratch.mkdir()
    process = _serve(tmp_path, port, "--workers", "2", TMPDIR=str(scratch))
    try:
        _wait(f"{base}/healthz", process, tmp_path / "serve.log")
        (metrics_dir,) = scratch.glob("regauth-metrics-*")  # one directory for the server
        params = {"service": SERVICE, "scope": "repository:public/app:pull"}
        n = 30
        for _ in range(n):  # a new connection each: both workers answer some
            assert httpx.get(f"{base}/token", params=params, timeout=10).status_code == 200
        assert _scrapes(f"{base}/metrics", 8) == [float(n)] * 8
        os.kill(process.pid, signal.SIGHUP)  # granian respawns both workers
        time.sleep(3)
        _wait(f"{base}/healthz", process, tmp_path / "serve.log")
        assert _scrapes(f"{base}/metrics", 6) == [float(n)] * 6
        for _ in range(5):
            assert httpx.get(f"{base}/token", params=params, timeout=10).status_code == 200
        assert _scrapes(f"{base}/metrics", 6) == [float(n + 5)] * 6
        assert len(list(metrics_dir.glob("*.values"))) >= 4  # 2 workers, then 2 respawned
    finally:
        _stop(process)
    # the metrics directory is removed when the server stopped (the port lock file stays)
    assert [p.name for p in scratch.iterdir() if not p.name.startswith("regauth-port-")] == []
    # off the public port: the serving process answers for the whole server
    process = _serve(
        tmp_path, port, "--workers", "2", REGAUTH_SERVER__METRICS_LISTEN=f"{HOST}:{side}"
    )
    try:
        _wait(f"{base}/healthz", process, tmp_path / "serve.log")
        for _ in range(7):
            assert httpx.get(f"{base}/token", params=params, timeout=10).status_code == 200
        assert _scrapes(f"http://{HOST}:{side}/metrics", 4) == [7.0] * 4  # a new server: from 0
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404
        assert httpx.get(f"http://{HOST}:{side}/other", timeout=5).status_code == 404
    finally:
        _stop(process)
