"""kill -9 under load: every answered token request has its audit record afterwards.

The guarantee (README, "Audit records and crashes"): a record is fsynced to
the worker's local spool before its answer is sent, and moved into the
database afterwards; a worker that dies leaves its spool behind and the
next worker to start replays it. So the database ends up with at least one
record per acknowledged request — more when the process died between a
record's fsync and its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import httpx2 as httpx

from tests.web.live_server import SERVICE, LiveServer, make_server

KILL_AFTER = 600  # answered requests
CONNECTIONS = 32


def _issued_rows(server: LiveServer) -> int:
    with sqlite3.connect(server.dir / "regauth.db") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM audit_events WHERE outcome = 'issued' AND client_ip = '127.0.0.1'"
        ).fetchone()
    return int(count)


def test_kill_9_under_load_loses_no_acknowledged_audit_record(tmp_path: Path) -> None:
    server = make_server(tmp_path / "srv")
    server.start(workers=2)
    acknowledged = 0
    try:
        params = {"service": SERVICE, "scope": "repository:public/base:pull"}

        enough = asyncio.Event()

        async def connection(deadline: float) -> None:
            nonlocal acknowledged
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                while time.monotonic() < deadline:
                    try:
                        r = await client.get("/token", params=params)
                    except httpx.TransportError:
                        return  # the server is gone
                    if r.status_code == 200:
                        acknowledged += 1
                        if acknowledged >= KILL_AFTER:
                            enough.set()

        async def load_then_kill() -> None:
            deadline = time.monotonic() + 60
            tasks = [asyncio.create_task(connection(deadline)) for _ in range(CONNECTIONS)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enough.wait(), timeout=60)
            server.kill()  # SIGKILL to the server and both workers, mid-load
            await asyncio.gather(*tasks)

        for _ in range(10):  # both workers past their first request
            assert httpx.get(server.url + "/token", params=params).status_code == 200

        asyncio.run(load_then_kill())
    finally:
        server.stop()
    assert acknowledged >= KILL_AFTER, "too little load to mean anything"
    before_restart = _issued_rows(server)
    left_behind = list((server.dir / "audit-spool").glob("*.spool"))
    server.start(workers=2)  # the new workers replay the dead ones' spools
    try:
        deadline = time.monotonic() + 20
        while _issued_rows(server) < acknowledged + 10 and time.monotonic() < deadline:
            time.sleep(0.2)
        after = _issued_rows(server)
    finally:
        server.stop()
    acknowledged += 10  # the warm-up
    assert after >= acknowledged, (
        f"{acknowledged} answered, {after} audit records ({before_restart} before the restart)"
    )
    assert after <= acknowledged + CONNECTIONS  # at most one unanswered record per connection
    assert left_behind, "the dead workers left no spool behind"
    assert "recovered" in server.log_text()
