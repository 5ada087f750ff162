"""`make bench`: tokens/s and latency percentiles, side by side with a bare endpoint.

Every scenario runs against a real `regauth serve` (granian, one worker) and
is compared with a bare ASGI "hello" on the same server in the same run, so
the ratio survives a noisy machine. Load comes from `wrk` (installed with apt
when missing) on loopback only; each run is bounded in time.

    python bench/run.py [--duration 10] [--connections 16] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVICE = "registry.bench"
RULES = """
[[rules]]
anonymous = true
name = "public/**"
actions = ["pull"]
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
"""


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    rss_mib: float
    errors: int


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    headers: tuple[str, ...] = ()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode}) for {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 (loopback URL)
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server not ready: {url}")


def rss_mib(pid: int) -> float:
    """Largest RSS among the server's worker processes (children), else the process itself."""
    pids = [pid, *children(pid)]
    sizes = []
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        if m:
            sizes.append(int(m.group(1)) / 1024)
    return max(sizes[1:] or sizes or [0.0])


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split()
        for child in map(int, text):
            out += [child, *children(child)]
    return out


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def run_wrk(
    wrk: str, url: str, headers: tuple[str, ...], duration: int, connections: int
) -> tuple[float, float, float, int]:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for h in headers:
        cmd[1:1] = ["-H", h]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=duration + 30
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _latency(out, "50%")
    p99 = _latency(out, "99%")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(m.group(1)) if m else 0


def _latency(out: str, label: str) -> float:
    m = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def prepare(workdir: Path, port: int) -> Path:
    env = dict(os.environ, REGAUTH_ADMIN_PASSWORD="bench-admin-pw")  # noqa: S106
    subprocess.run(
        [
            str(BIN / "regauth"),
            "init",
            "--dir",
            str(workdir),
            "--service",
            SERVICE,
            "--port",
            str(port),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    config = workdir / "regauth.toml"
    text = config.read_text()
    config.write_text(text[: text.index("[[rules]]")] + RULES)
    add = [
        str(BIN / "regauth"),
        "--config",
        str(config),
        "users",
        "add",
        "alice",
        "--password-stdin",
    ]
    subprocess.run(add, input=b"alice-pw\n", check=True, capture_output=True)
    return config


def scenarios() -> list[Scenario]:
    anon = f"/token?service={SERVICE}&scope=repository:public/base:pull"
    alice = base64.b64encode(b"alice:alice-pw").decode()
    user = f"/token?service={SERVICE}&scope=repository:alice/app:pull,push"
    return [
        Scenario("anonymous-pull", anon),
        Scenario("basic-login-argon2id", user, (f"Authorization: Basic {alice}",)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scenario", action="append", default=None)
    args = parser.parse_args()
    wrk = ensure_wrk()
    chosen = [s for s in scenarios() if not args.scenario or s.name in args.scenario]
    with tempfile.TemporaryDirectory(prefix="regauth-bench-") as tmp:
        results = measure(Path(tmp), wrk, chosen, args.duration, args.connections)
    report(results)


def measure(tmp: Path, wrk: str, chosen: list[Scenario], duration: int, conns: int) -> list[Result]:
    bare_port, reg_port = free_port(), free_port()
    config = prepare(tmp / "regauth", reg_port)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bench"))
    bare = start(
        [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(bare_port),
            "--workers",
            "1",
            "--no-ws",
            "bare:app",
        ],
        env,
        tmp / "bare.log",
    )
    server = start(
        [
            str(BIN / "regauth"),
            "--config",
            str(config),
            "serve",
            "--port",
            str(reg_port),
            "--workers",
            "1",
        ],
        dict(os.environ),
        tmp / "regauth.log",
    )
    results: list[Result] = []
    try:
        wait_ready(f"http://127.0.0.1:{bare_port}/", bare)
        wait_ready(f"http://127.0.0.1:{reg_port}/healthz", server)
        base = run_wrk(wrk, f"http://127.0.0.1:{bare_port}/", (), duration, conns)
        results.append(Result("bare-asgi-hello", *base[:3], rss_mib(bare.pid), base[3]))
        for sc in chosen:
            rps, p50, p99, errors = run_wrk(
                wrk, f"http://127.0.0.1:{reg_port}{sc.path}", sc.headers, duration, conns
            )
            results.append(Result(sc.name, rps, p50, p99, rss_mib(server.pid), errors))
    finally:
        stop(server)
        stop(bare)
    return results


def report(results: list[Result]) -> None:
    base = results[0].rps
    head = ("req/s", "ratio", "p50 ms", "p99 ms", "RSS MiB", "non-2xx")
    print(f"{'scenario':<28}" + "".join(f"{h:>9}" for h in head))
    for r in results:
        cells = (f"{r.rps:.0f}", f"{r.rps / base:.2f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}")
        cells += (f"{r.rss_mib:.1f}", str(r.errors))
        print(f"{r.name:<28}" + "".join(f"{c:>9}" for c in cells))


if __name__ == "__main__":
    main()
