"""End-to-end events: the real registry's notifications, signed deliveries that survive a
SIGKILL, and temporary access approved by a signed callback (real docker-registry 2.8.2,
skopeo, ``regauth serve`` processes, a webhook receiver on loopback)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from regauth.events.signature import sign
from tests.e2e.conftest import (
    HOST,
    ImageFactory,
    Launcher,
    RegauthServer,
    free_port,
    regauth_executable,
    skopeo_pull,
    skopeo_push,
    start_process,
    unique,
    wait_until,
)
from tests.events.receiver import Receiver

pytestmark = pytest.mark.e2e

NOTIFY_SECRET = "e2e-notify-secret"
APPROVAL_SECRET = "e2e-approval-secret"
HOOK_SECRET = "e2e-hook-secret"
ALICE = ("alice", "alice-pw")
MEDIA = "application/vnd.docker.distribution.events.v1+json"
RULES = """
[[rules]]
account = "alice"
name = "team/**"
actions = ["pull"]
comment = "alice reads the team namespace"

[[rules]]
account = "alice"
name = "alice/**"
actions = ["pull", "push"]
"""


def events_toml(hook_port: int, events: str, approval: bool = False) -> str:
    text = f"""
[events.registry]
secret = "{NOTIFY_SECRET}"

[events.webhook.sink]
url = "http://{HOST}:{hook_port}/hook"
secret = "{HOOK_SECRET}"
events = [{events}]
timeout_ms = 2000

[events.delivery]
retry_schedule = [0.2, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
lease_seconds = 5
poll_interval = 0.1
"""
    if approval:
        text += f"""
[events.approval]
enabled = true
secret = "{APPROVAL_SECRET}"
service = "e2e-change-board"
"""
    return text + "\n" + RULES


def audit_documents(server: RegauthServer) -> list[dict[str, Any]]:
    result = server.run_cli("audit", "list", "--json", "--limit", "500")
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]


def registry_events(server: RegauthServer) -> list[dict[str, Any]]:
    """The stored notifications, read from the database (cheaper than a CLI run per poll)."""
    with contextlib.closing(sqlite3.connect(server.dir / "regauth.db", timeout=10)) as conn:
        rows = conn.execute("SELECT document FROM registry_events").fetchall()
    return [orjson.loads(document) for (document,) in rows]


def test_skopeo_push_and_pull_produce_stored_registry_events(
    launcher: Launcher, oci_image: ImageFactory, tmp_path: Path
) -> None:
    server = launcher.regauth(
        rules_toml=events_toml(free_port(), '"registry.*"'), users=[(*ALICE, [])]
    )
    block = server.run_cli("registry-config", "--only-notifications").stdout
    assert f'Authorization: ["Bearer {NOTIFY_SECRET}"]' in block
    assert f"{server.base_url}/events/registry" in block
    registry = launcher.registry(server, notifications=block)
    repository = unique("alice/app")
    pushed = skopeo_push(oci_image(), registry, repository, ":".join(ALICE))
    assert pushed.returncode == 0, pushed.stderr
    pulled = skopeo_pull(registry, repository, tmp_path / "out", ":".join(ALICE))
    assert pulled.returncode == 0, pulled.stderr

    def stored() -> bool:
        ours = [e for e in registry_events(server) if e["repository"] == repository]
        kinds = {(e["action"], e["tag"]) for e in ours}
        return ("push", "1") in kinds and any(a == "pull" for a, _ in kinds)

    assert server.process is not None
    wait_until(server.process, stored, "the registry's push and pull notifications", 20)
    documents = audit_documents(server)
    mine = [d["registry"] for d in documents if d.get("kind") == "registry"]
    manifest = next(
        e for e in mine if isinstance(e, dict) and e["action"] == "push" and e["tag"] == "1"
    )
    assert manifest["actor"] == "alice"
    assert str(manifest["digest"]).startswith("sha256:")
    assert str(manifest["source_addr"]).startswith("127.0.0.1:")
    assert manifest["request_id"]
    assert str(manifest["user_agent"]).startswith("skopeo/")
    # ... next to the token decisions that allowed them.
    assert any(
        d["outcome"] == "issued" and f"repository:{repository}:pull,push" in d["requested"]
        for d in documents
    )
    text = server.run_cli("audit", "list").stdout
    pushes = [
        line.split()
        for line in text.splitlines()
        if "registry.push" in line and line.endswith(f"{repository}:1")
    ]
    assert pushes, text
    assert pushes[0][3:5] == ["alice", "registry"]  # who, source
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    assert 'regauth_registry_events_total{action="push"}' in metrics
    assert 'regauth_registry_events_total{action="pull"}' in metrics


def test_an_approved_request_allows_a_push_until_it_expires(
    launcher: Launcher, oci_image: ImageFactory
) -> None:
    port = free_port()
    approver = Receiver(HOOK_SECRET.encode(), port).start()
    try:
        _approval_flow(launcher, oci_image, approver, port)
    finally:
        approver.stop()


WINDOW = 20  # seconds of approved access: room for a push and a CLI call on a busy machine


def _approval_flow(
    launcher: Launcher, oci_image: ImageFactory, approver: Receiver, port: int
) -> None:
    toml = events_toml(port, '"access.*"', approval=True)
    server = launcher.regauth(rules_toml=toml, users=[(*ALICE, [])])
    registry = launcher.registry(server)
    repository = unique("team/secret")
    denied = skopeo_push(oci_image(), registry, repository, ":".join(ALICE))
    assert denied.returncode != 0 and "denied" in denied.stderr

    line = server.run_cli(
        "access",
        "request",
        "--user",
        "alice",
        "--repo",
        repository,
        "--actions",
        "push",
        "--for",
        f"{WINDOW}s",
        "--reason",
        "hotfix for the incident",
    ).stdout
    request_id = int(line.split()[0].lstrip("#"))
    # The approval service receives access.requested (signed), then calls back, signed.
    assert approver.wait_for_type("access.requested", 15), approver.types
    requested = approver.by_type("access.requested")[0]["data"]
    assert (
        requested["request_id"] == request_id and requested["reason"] == "hotfix for the incident"
    )
    body = orjson.dumps({"request_id": request_id, "decision": "approve", "approver": "carol"})
    signature = sign(APPROVAL_SECRET.encode(), int(time.time()), body)
    answer = httpx.post(
        f"{server.base_url}/api/v1/webhooks/approval-response",
        content=body,
        headers={"X-Regauth-Signature": signature, "Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    approved_at = time.monotonic()
    time.sleep(1.2)  # database.cache_seconds: every worker sees the grant within it

    pushed = skopeo_push(oci_image(), registry, repository, ":".join(ALICE))
    assert pushed.returncode == 0, pushed.stderr
    listing = server.run_cli("access", "list").stdout
    assert time.monotonic() - approved_at < WINDOW, "the window ended: test too slow"
    assert f"#{request_id}" in listing and "approved" in listing and "by carol" in listing

    time.sleep(max(0.0, WINDOW - (time.monotonic() - approved_at)) + 1.2)
    refused = skopeo_push(oci_image(tag="2"), registry, repository, ":".join(ALICE), tag="2")
    assert refused.returncode != 0 and "denied" in refused.stderr
    assert approver.wait_for_type("access.expired", 15), approver.types
    assert approver.bad_signatures == 0


# --------------------------------------------------------------------------- crash


class Load:
    """Threads acting as the registry: POST envelopes of 5 new events, note what got a 200."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.acknowledged: set[str] = set()
        self.attempted: set[str] = set()
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {NOTIFY_SECRET}", "Content-Type": MEDIA}
        with httpx.Client(timeout=3) as client:
            while not self._stop.is_set():
                ids = [str(uuid.uuid4()) for _ in range(5)]
                with self._lock:
                    self.attempted.update(ids)
                try:
                    response = client.post(self.url, content=envelope(ids), headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    if ok:
                        self.acknowledged.update(ids)
                    else:
                        self.failures += 1
                if not ok:
                    time.sleep(0.05)


def envelope(ids: list[str]) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000001Z", time.gmtime())
    return orjson.dumps(
        {
            "events": [
                {
                    "id": event_id,
                    "timestamp": now,
                    "action": "push",
                    "target": {"repository": "load/app", "digest": "sha256:" + "0" * 64},
                    "request": {"id": str(uuid.uuid4()), "addr": "127.0.0.1:40000"},
                    "actor": {"name": "loader"},
                }
                for event_id in ids
            ]
        }
    )


def restart(server: RegauthServer, env: dict[str, str]) -> None:
    server.process = start_process(
        "regauth serve (restarted)",
        [
            regauth_executable(),
            "--config",
            server.config,
            "serve",
            "--host",
            HOST,
            "--port",
            str(server.port),
        ],
        server.dir / "serve-restarted.log",
        **env,
    )
    wait_until(
        server.process,
        lambda: httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200,
        "200 from /healthz after the restart",
    )


def test_sigkill_under_load_loses_no_acknowledged_event(launcher: Launcher) -> None:
    port = free_port()
    env = {"REGAUTH_SERVER__WORKERS": "2"}
    server = launcher.regauth(rules_toml=events_toml(port, '"registry.*"'), env=env)
    receiver = Receiver(HOOK_SECRET.encode(), port).start()
    load = Load(f"{server.base_url}/events/registry").start()
    try:
        time.sleep(2.0)  # deliveries in flight when the kill comes
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)  # the serve process and its workers
        server.process.popen.wait(timeout=10)
        server.process.stop()
        acknowledged_at_kill = len(load.acknowledged)
        delivered_at_kill = len(receiver.counts)
        time.sleep(0.5)
        restart(server, env)
        time.sleep(1.0)
        receiver.stop()  # the receiver is down for a while, the load goes on
        time.sleep(2.0)
        load.stop()
        receiver.start()
        assert receiver.wait_for_registry_ids(load.acknowledged, 60), "events were lost"
        time.sleep(1.0)  # let stragglers (duplicates) arrive
    finally:
        load.stop()
        receiver.stop()
    by_registry_id: dict[str, set[str]] = {}
    for event_id, document in receiver.documents.items():
        data = document["data"]
        assert isinstance(data, dict)
        by_registry_id.setdefault(str(data["id"]), set()).add(event_id)
    duplicates = sum(n - 1 for n in receiver.counts.values())
    stored_not_acknowledged = set(by_registry_id) - load.acknowledged
    print(
        f"\nSIGKILL test: acknowledged {len(load.acknowledged)} "
        f"({acknowledged_at_kill} before the kill, {delivered_at_kill} delivered by then), "
        f"attempted {len(load.attempted)}, "
        f"failed POSTs {load.failures}; received {len(receiver.counts)} distinct events, "
        f"{sum(receiver.counts.values())} deliveries ({duplicates} duplicates, same id), "
        f"{len(stored_not_acknowledged)} stored but unacknowledged (answer lost in the kill), "
        f"0 lost, {receiver.bad_signatures} bad signatures"
    )
    assert load.acknowledged <= set(by_registry_id)
    assert set(by_registry_id) <= load.attempted
    assert all(len(ids) == 1 for ids in by_registry_id.values()), "one event id per notification"
    assert receiver.bad_signatures == 0 and receiver.mismatched_ids == 0
    assert acknowledged_at_kill > 0
    assert Counter(receiver.types.values()) == Counter({"registry.push": len(receiver.types)})
