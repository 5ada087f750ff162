"""Optional stacks are imported only when configured: a default worker stays lean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FrozenClock, make_instance

OPTIONAL = ("uvicorn", "click", "croniter", "cel", "ldap3", "httpx", "alembic", "prometheus_client")
PROBE = """
import json, sys
from pathlib import Path
import anyio
from regauth.config import load_settings
from regauth.ports import SystemClock, SystemRandom
from regauth.runtime import Runtime
import regauth.web.app

async def main():
    settings = load_settings(Path(sys.argv[1]), {})
    runtime = await Runtime.start(settings, SystemClock(), SystemRandom())
    await runtime.close()

anyio.run(main)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_a_default_worker_imports_no_optional_stack(tmp_path: Path, clock: FrozenClock) -> None:
    inst = make_instance(tmp_path, clock)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(inst.dir / "regauth.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout))
    assert loaded.isdisjoint(OPTIONAL), sorted(loaded.intersection(OPTIONAL))
    assert "sqlalchemy" in loaded  # the probe did build a runtime


# What a serving worker does: the factory granian calls, then the ASGI lifespan; after
# that, one request to the UI and one to the admin API import what they need.
WORKER = """
import asyncio, json, sys

def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m.startswith(LAYERS))

HEAVY = set(json.loads(sys.argv[1]))
LAYERS = tuple(json.loads(sys.argv[2]))
from regauth.web.app import app_from_environment

app = app_from_environment()

async def call(scope, messages):
    sent = []
    async def receive():
        return messages.pop(0) if messages else await asyncio.sleep(3600)
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent

async def main():
    queue = asyncio.Queue()
    started = asyncio.Event()
    async def receive():
        return await queue.get()
    async def send(message):
        if message["type"].startswith("lifespan.startup"):
            started.set()
    await queue.put({"type": "lifespan.startup"})
    life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await started.wait()
    report = {"after_start": loaded()}
    started_with = set(sys.modules)
    query = b"service=registry.test&scope=repository:public/x:pull"
    for path in ("/token", "/.well-known/jwks.json", "/ui/signin", "/api/v1/openapi.json"):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "root_path": "", "query_string": query if path == "/token" else b"",
                 "headers": [(b"host", b"t")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
        sent = await call(scope, [{"type": "http.request", "body": b"", "more_body": False}])
        report[path] = sent[0]["status"]
        if path == "/.well-known/jwks.json":
            report["imported_by_serving"] = sorted(set(sys.modules) - started_with)
    report["after_requests"] = loaded()
    await queue.put({"type": "lifespan.shutdown"})
    await life
    print(json.dumps(report))

asyncio.run(main())
"""
WORKER_HEAVY = (*OPTIONAL, "jinja2", "mako", "pygments", "markupsafe")
LAYERS = (
    "regauth.web.ui",
    "regauth.web.api",
    "regauth.admin.uow",
    "regauth.cli",
    "sqlalchemy.dialects.postgresql",  # on SQLite
)


def test_a_default_worker_imports_the_ui_and_the_admin_api_on_first_use(
    tmp_path: Path, clock: FrozenClock
) -> None:
    inst = make_instance(tmp_path, clock)
    assert inst.settings.ui.enabled and inst.settings.admin.enabled  # both served by default
    out = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(WORKER_HEAVY), json.dumps(LAYERS)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "REGAUTH_CONFIG": str(inst.dir / "regauth.toml")},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["after_start"] == [], report["after_start"]
    # a registry client's requests import nothing: every module they need is loaded at
    # start-up, none is imported (and paid for) by a first caller
    assert report["/token"] == 200 and report["/.well-known/jwks.json"] == 200
    assert report["imported_by_serving"] == [], report["imported_by_serving"]
    assert report["/ui/signin"] == 200 and report["/api/v1/openapi.json"] == 200
    after = set(report["after_requests"])
    assert {"jinja2", "regauth.web.ui", "regauth.web.api", "regauth.admin.uow"} <= after
