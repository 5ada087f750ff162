"""Optional stacks are imported only when configured: a default worker stays lean."""

from __future__ import annotations

import json
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
