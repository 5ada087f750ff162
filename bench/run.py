"""`make bench`: tokens/s, latency, CPU per token and memory, next to two references.

Every scenario runs against a real `regauth serve` (granian, one worker) and
is compared with references served the same way in the same run, so the
ratios survive a noisy machine. Load comes from `wrk` (installed with apt
when missing) on loopback only; every run is bounded in time. Afterwards the
cost of each authorization stage is measured in-process (µs per call).

    python bench/run.py [--duration 8] [--connections 16] [--workers 1] [--scenario NAME ...]

The database scenarios run the same logins on SQLite and on a private PostgreSQL
cluster (tests/postgres.py), cached (database.cache_seconds = 1) and uncached (0).

Two references are measured with the same server, workers and load: the bare
ASGI "hello" (the ratio column) and a minimal ES256 token endpoint on
Starlette (bench/minimal.py: what the framework plus one signature allow).

Columns: tokens/s; p50/p99 latency; **CPU µs per token** = utime + stime of
the server's whole process tree (from ``/proc/<pid>/stat``) during the run ÷
the requests completed, and its ratio to the minimal endpoint's (the figure
that survives a busy machine); RSS of the largest worker after start and
after the load. Scale scenarios: 10 vs 10,000 config rules (+1,000 on the
user and its groups), 100,000 users, and 16/64/256 connections.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed
from stages import stage_costs

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVICE = "registry.bench"
API_KEY = "regauth_ak_bench-0123456789abcdef"
RULES = """
[[rules]]
anonymous = true
name = "public/**"
actions = ["pull"]
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
[[rules]]
account = "ci-runner"
name = "ci/**"
actions = ["pull", "push"]
"""
PLANS = """
default_plan = "team"
[plans.team]
repositories = ["public/*", "alice/*"]
actions = ["pull", "push"]
"""
CEL = """
[global.access_policy]
default_allow = false
rules = ["identity.username != null || request.namespace == 'public'"]
"""


BARE = "bare-asgi-hello"
MINIMAL = "minimal-es256-starlette"


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    workers: int


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers plus socket errors


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU (whole process tree) per completed request
    start: Memory  # the largest worker before the load
    after: Memory  # the largest worker after the load
    errors: int


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    headers: tuple[str, ...] = ()
    lua: str = ""  # a wrk script (POST bodies, mixed requests); path and headers then unused
    connections: int | None = None  # None: --connections


@dataclass
class Setup:
    """One regauth configuration and the scenarios measured against it."""

    name: str
    top: str = ""
    extra: str = ""
    env: dict[str, str] = field(default_factory=dict)
    scenarios: list[Callable[[Path], Scenario]] = field(default_factory=list)
    rules: str = ""  # config rules after the standard ones ([[rules]] entries)
    seed: Callable[[Path], None] | None = None  # fills the database (workdir) before serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
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


@dataclass(frozen=True)
class Memory:
    """The largest worker's resident set (RSS) and proportional set size (PSS), in MiB."""

    rss: float
    pss: float


def memory(pid: int) -> Memory:
    """RSS and PSS of the server's largest worker (children), else of the process itself.

    RSS counts every page a worker maps, the ones it shares with the master (forked
    from it) and with the other workers included; PSS (``/proc/<pid>/smaps_rollup``)
    counts each shared page divided by the number of processes sharing it, so the PSS
    of all processes adds up to the memory the server really uses.
    """
    rss, pss = [], []
    for p in [pid, *children(pid)]:
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        r, s = (
            re.search(r"^Rss:\s+(\d+) kB", rollup, re.M),
            re.search(r"^Pss:\s+(\d+) kB", rollup, re.M),
        )
        if r and s:
            rss.append(int(r.group(1)) / 1024)
            pss.append(int(s.group(1)) / 1024)
    return Memory(max(rss[1:] or rss or [0.0]), max(pss[1:] or pss or [0.0]))


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and all its descendants (granian's workers), in seconds."""
    ticks = 0
    for p in [pid, *children(pid)]:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, timeout: float = 30.0) -> None:
    """Return once the server's process tree is idle (< 0.05 s of CPU in 0.5 s).

    ``wait_ready`` returns when *one* worker answers; the others may still be
    starting. A warm-up made then sends every connection to the ready worker,
    and a late worker's first login (one slow password hash, which every login
    in flight on it waits for) lands in the measured run: a p99 of 150-280 ms
    in about one fresh server in four, on this machine.
    """
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - before < 0.05:
            return
        before = now


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            text = (task / "children").read_text().split()
        except OSError:
            continue
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
    wrk: str,
    url: str,
    headers: tuple[str, ...],
    duration: int,
    connections: int,
    script: Path | None = None,
) -> Load:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for h in headers:
        cmd += ["-H", h]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=duration + 60
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    rps = float(m.group(1)) if m else 0.0
    done = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    failed = int(errors.group(1)) if errors else 0
    failed += sum(map(int, sockets.groups())) if sockets else 0
    p50, p99 = _latency(out, "50%"), _latency(out, "99%")
    return Load(rps, p50, p99, int(done.group(1)) if done else 0, failed)


def measure(
    wrk: str,
    name: str,
    url: str,
    pid: int,
    sc_headers: tuple[str, ...],
    c: int,
    duration: int,
    script: Path | None = None,
) -> Result:
    """Warm up, then one measured wrk run with the server's CPU and RSS around it.

    The warm-up is 2 s at the measured connection count: the load balancer of
    the listening socket (SO_REUSEPORT) hashes connections to workers, so a
    few connections can miss a worker, whose first login (one slow password
    hash, which every login in flight then waits for) would land in the
    measured run. What is measured is the steady state.
    """
    run_wrk(wrk, url, sc_headers, 2, c, script)  # warm up: caches, connections, every worker
    start, cpu_start = memory(pid), cpu_seconds(pid)
    load = run_wrk(wrk, url, sc_headers, duration, c, script)
    cpu = (cpu_seconds(pid) - cpu_start) / max(load.requests, 1) * 1e6
    return Result(name, load.rps, load.p50_ms, load.p99_ms, cpu, start, memory(pid), load.errors)


def _latency(out: str, label: str) -> float:
    m = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)\b", out)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def start(
    cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def regauth(
    config: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    cmd = [str(BIN / "regauth"), "--config", str(config), *args]
    run = subprocess.run(cmd, input=stdin, check=True, capture_output=True, env=env)
    return run.stdout.decode()


def prepare(workdir: Path, port: int, setup: Setup) -> Path:
    env = dict(os.environ, REGAUTH_ADMIN_PASSWORD="bench-admin-pw", **setup.env)
    init = ["init", "--dir", str(workdir), "--service", SERVICE, "--port", str(port)]
    subprocess.run([str(BIN / "regauth"), *init], env=env, check=True, capture_output=True)
    config = workdir / "regauth.toml"
    text = config.read_text()
    body = setup.top + text[: text.index("[[rules]]")] + setup.extra
    config.write_text(body + setup.rules + RULES)
    regauth(config, "users", "add", "alice", "--password-stdin", stdin=b"alice-pw\n", env=env)
    if setup.seed is not None:
        setup.seed(workdir)
    return config


def basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def anonymous(_: Path) -> Scenario:
    return Scenario("anonymous-pull", f"/token?service={SERVICE}&scope=repository:public/base:pull")


def user_scope() -> str:
    return f"/token?service={SERVICE}&scope=repository:alice/app:pull,push"


def basic_login(name: str) -> Callable[[Path], Scenario]:
    return lambda _: Scenario(name, user_scope(), (basic("alice", "alice-pw"),))


def pat(name: str, env: dict[str, str] | None = None) -> Callable[[Path], Scenario]:
    def make(config: Path) -> Scenario:
        args = ["tokens", "create", "--user", "alice", "--rule", "name=**;actions=pull"]
        out = regauth(config, *args, env=dict(os.environ, **(env or {})))
        return Scenario(name, user_scope(), (basic("alice", out.strip().splitlines()[-1]),))

    return make


REFRESH = "@REFRESH_TOKEN@"  # replaced once the server runs: it issues the token


def refresh_token(port: int) -> str:
    """What `docker login` stores: a refresh token from an offline Basic login."""
    import httpx

    url = f"http://127.0.0.1:{port}/token?service={SERVICE}&offline_token=true&client_id=bench"
    return str(httpx.get(url, auth=("alice", "alice-pw")).json()["refresh_token"])


def _lua_request(method: str, path: str, headers: dict[str, str], body: str = "") -> str:
    fields = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
    return f'wrk.format("{method}", "{path}", {{{fields}}}, "{body}")'


def lua_rotation(requests: list[str]) -> str:
    """A wrk script sending the given requests in turn, on every connection."""
    return (
        "local requests = {" + ", ".join(requests) + "}\n"
        "local i = 0\n"
        "request = function()\n  i = i % #requests + 1\n  return requests[i]\nend\n"
    )


def refresh_form(token: str) -> str:
    scope = "repository:alice/app:pull,push"
    return (
        f"grant_type=refresh_token&service={SERVICE}&client_id=bench&scope={scope}"
        f"&refresh_token={token}"
    )


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def refresh_grant(name: str) -> Callable[[Path], Scenario]:
    """POST grant_type=refresh_token: what docker sends for every operation after login."""

    def make(config: Path) -> Scenario:
        request = _lua_request("POST", "/token", FORM, refresh_form(REFRESH))
        return Scenario(name, "/token", lua=lua_rotation([request]))

    return make


def mixed(name: str) -> Callable[[Path], Scenario]:
    """Basic, PAT, refresh, API key and anonymous requests in turn (one CI farm's traffic)."""

    def make(config: Path) -> Scenario:
        out = regauth(config, "tokens", "create", "--user", "alice")
        pat_secret = out.strip().splitlines()[-1]
        public = f"/token?service={SERVICE}&scope=repository:public/base:pull"
        requests = [
            _lua_request("GET", user_scope(), _auth(basic("alice", "alice-pw"))),
            _lua_request("GET", user_scope(), _auth(basic("alice", pat_secret))),
            _lua_request("POST", "/token", FORM, refresh_form(REFRESH)),
            _lua_request("GET", public, {"Authorization": f"Bearer {API_KEY}"}),
            _lua_request("GET", public, {}),
        ]
        return Scenario(name, "/token", lua=lua_rotation(requests))

    return make


def _auth(header: str) -> dict[str, str]:
    """A ``basic(...)`` header line as a header table for :func:`_lua_request`."""
    return {"Authorization": header.removeprefix("Authorization: ")}


def api_key(_: Path) -> Scenario:
    path = f"/token?service={SERVICE}&scope=repository:public/base:pull"
    return Scenario("api-key-bearer", path, (f"Authorization: Bearer {API_KEY}",))


API_KEYS = """
[[auth.api_keys]]
id = "bench"
hash_env = "BENCH_API_KEY_HASH"
"""


def connections_name(count: int, base: str = "basic-login-cached") -> str:
    """The name of ``base`` measured at ``count`` connections."""
    return f"{base}-c{count}"


def connections(count: int) -> Callable[[Path], Scenario]:
    return lambda _: Scenario(
        connections_name(count),
        user_scope(),
        (basic("alice", "alice-pw"),),
        connections=count,
    )


def many_rules(workdir: Path) -> None:
    seed.account_rules(workdir, "alice", groups=2, per_owner=334)  # 1,002 rules


def many_users(workdir: Path) -> None:
    from regauth.authn.passwords import PasswordHasher

    seed.users(workdir, 100_000, PasswordHasher().hash("not-a-bench-password"))


def scale_setups() -> list[Setup]:
    """The rule-count, user-count and connection-count scenarios (issue 11)."""
    return [
        Setup("rules-10", rules=seed.global_rules(7), scenarios=[basic_login("rules-10")]),
        Setup(
            "rules-10000",
            rules=seed.global_rules(10_000),
            seed=many_rules,
            scenarios=[basic_login("rules-10000+1000")],
        ),
        # The same login on a server without those users, measured the same way (first on
        # its own fresh server), is what the 100,000 users are compared with.
        Setup("users-0", scenarios=[basic_login("users-0")]),
        Setup("users-100k", seed=many_users, scenarios=[basic_login("users-100k")]),
        Setup("connections", scenarios=[connections(c) for c in CONNECTION_COUNTS]),
    ]


def setups(oidc: str | None) -> list[Setup]:
    fingerprint = "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()
    found = [
        Setup(
            "default",
            extra=API_KEYS,
            env={"BENCH_API_KEY_HASH": fingerprint},
            scenarios=[
                anonymous,
                basic_login("basic-login-cached"),
                api_key,
                pat("pat-basic"),
                refresh_grant("refresh-grant"),
                mixed("mixed"),
            ],
        ),
        Setup(
            "no-spool",
            extra=API_KEYS + "[audit]\nspool = false\n",
            env={"BENCH_API_KEY_HASH": fingerprint},
            scenarios=[basic_login("basic-login-cached-no-spool"), mixed("mixed-no-spool")],
        ),
        Setup(
            "spool-fsync-background",
            extra=API_KEYS + '[audit]\nspool_fsync = "background"\n',
            env={"BENCH_API_KEY_HASH": fingerprint},
            scenarios=[
                basic_login("basic-cached-background"),
                mixed("mixed-background"),
            ],
        ),
        Setup(
            "no-cache",
            extra="[passwords]\ncache_ttl = 0\n",
            scenarios=[basic_login("basic-login-argon2id")],
        ),
        Setup("all-stages", top=PLANS, scenarios=[pat("pat-all-stages")]),
        Setup("all-stages+cel", top=PLANS + CEL, scenarios=[pat("pat-all-stages+cel")]),
    ]
    if oidc:
        found.append(oidc_setup(oidc))
    return found + scale_setups()


UNCACHED = {"REGAUTH_DATABASE__CACHE_SECONDS": "0"}


def database_setups(new_database: Callable[[str], str]) -> list[Setup]:
    """The same logins on SQLite and PostgreSQL, with the read caches on (the default,
    database.cache_seconds = 1) and off (every request reads user, token, rules, counters)."""
    pg = {"REGAUTH_DATABASE__URL": new_database("bench")}
    pg_uncached = {"REGAUTH_DATABASE__URL": new_database("bench_uncached")} | UNCACHED
    return [
        Setup("sqlite-uncached", env=UNCACHED, scenarios=[pat("sqlite-pat-uncached", UNCACHED)]),
        Setup(
            "postgresql",
            env=pg,
            scenarios=[basic_login("pg-basic-login-cached"), pat("pg-pat-cached", pg)],
        ),
        Setup(
            "postgresql-uncached",
            env=pg_uncached,
            scenarios=[pat("pg-pat-uncached", pg_uncached)],
        ),
    ]


def start_postgres() -> tuple[Callable[[], None], Callable[[str], str]]:
    """A private PostgreSQL cluster (tests/postgres.py): its stopper and a database maker.

    ``BENCH_PG_DRIVER=asyncpg`` runs the PostgreSQL scenarios on asyncpg instead of psycopg.
    """
    sys.path.insert(0, str(ROOT))
    from tests.postgres import PostgresCluster

    cluster = PostgresCluster.start()
    driver = os.environ.get("BENCH_PG_DRIVER", "psycopg")

    def new_database(prefix: str) -> str:
        return cluster.create_database(prefix).replace("+psycopg", f"+{driver}", 1)

    return cluster.stop, new_database


def oidc_setup(issuer: str) -> Setup:
    extra = (
        f'[auth.oidc.bench]\nissuer = "{issuer}"\naudience = "regauth"\n'
        f'discovery_url = "{issuer}/.well-known/openid-configuration"\n'
    )

    def make(_: Path) -> Scenario:
        token = oidc_token(issuer)
        path = f"/token?service={SERVICE}&scope=repository:ci/app:pull"
        return Scenario("oidc-bearer", path, (f"Authorization: Bearer {token}",))

    return Setup("oidc", extra=extra, scenarios=[make])


def oidc_token(issuer: str) -> str:
    import httpx

    form = {"grant_type": "client_credentials", "scope": "pull", "resource": "urn:regauth:registry"}
    r = httpx.post(f"{issuer}/token", data=form, auth=("ci-runner", "ci-runner-secret"))
    r.raise_for_status()
    return str(r.json()["access_token"])


def start_idp(tmp: Path) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    idp_dir = ROOT / "tests" / "authn" / "idp"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print("(node not found: skipping the OIDC scenario)")
        return None, None
    if not (idp_dir / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=idp_dir, check=True)
    port = free_port()
    env = {"PATH": str(Path(node).parent), "IDP_ADMIN_TOKEN": "bench"}
    proc = start([node, "server.mjs", str(port)], env, tmp / "idp.log", cwd=idp_dir)
    issuer = f"http://127.0.0.1:{port}"
    wait_ready(f"{issuer}/.well-known/openid-configuration", proc)
    return proc, issuer


def argon2_limit(seconds: float = 4.0) -> float:
    """Verifies per second this machine sustains with the default argon2id parameters."""
    from concurrent.futures import ThreadPoolExecutor

    from regauth.authn.passwords import PasswordHasher

    hasher = PasswordHasher()
    stored = hasher.hash("bench")
    done = 0
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        while time.monotonic() < deadline:
            results = list(pool.map(lambda _: hasher.verify(stored, "wrong"), range(8)))
            done += len(results)
    return done / seconds


def measure_setup(
    tmp: Path, wrk: str, setup: Setup, wanted: set[str], opts: Options
) -> list[Result]:
    port = free_port()
    config = prepare(tmp / setup.name, port, setup)
    scenarios = [make(config) for make in setup.scenarios]
    scenarios = [s for s in scenarios if not wanted or s.name in wanted]
    if not scenarios:
        return []
    cmd = [str(BIN / "regauth"), "--config", str(config), "serve", "--port", str(port)]
    cmd += ["--workers", str(opts.workers)]
    log = tmp / f"{setup.name}.log"
    server = start(cmd, dict(os.environ, **setup.env), log)
    results = []
    try:
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz", server)
            wait_idle(server.pid)
        except SystemExit as exc:  # report it, and go on with the other setups
            tail = log.read_text(errors="replace").splitlines()[-5:]
            print(f"setup {setup.name} did not start: {exc}", *tail, sep="\n  ", file=sys.stderr)
            return []
        for sc in scenarios:
            url = f"http://127.0.0.1:{port}{sc.path}"
            script = None
            if sc.lua:
                script = tmp / f"{sc.name}.lua"
                lua = sc.lua.replace(REFRESH, refresh_token(port)) if REFRESH in sc.lua else sc.lua
                script.write_text(lua)
            c = sc.connections or opts.connections
            results.append(
                measure(wrk, sc.name, url, server.pid, sc.headers, c, opts.duration, script)
            )
    finally:
        stop(server)
    return results


def measure_reference(
    tmp: Path, wrk: str, name: str, target: str, path: str, opts: Options
) -> Result:
    """A reference app from bench/ on the same server, same workers, same load."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bench"))
    cmd = [str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(opts.workers), "--no-ws", target]
    proc = start(cmd, env, tmp / f"{name}.log")
    url = f"http://127.0.0.1:{port}{path}"
    try:
        wait_ready(url, proc)
        wait_idle(proc.pid)
        return measure(wrk, name, url, proc.pid, (), opts.connections, opts.duration)
    finally:
        stop(proc)


def measure_bare(tmp: Path, wrk: str, opts: Options) -> Result:
    return measure_reference(tmp, wrk, BARE, "bare:app", "/", opts)


def measure_minimal(tmp: Path, wrk: str, opts: Options, name: str = MINIMAL) -> Result:
    path = f"/token?service={SERVICE}&scope=repository:public/app:pull"
    return measure_reference(tmp, wrk, name, "minimal:app", path, opts)


CONNECTION_COUNTS = (16, 64, 256)


def measure_minimal_connections(tmp: Path, wrk: str, opts: Options) -> list[Result]:
    """The minimal endpoint at the first and the last of ``CONNECTION_COUNTS`` (16, 256).

    A server whose CPU is busy at 16 connections can only queue the others:
    its p99 then grows with connections ÷ throughput. The minimal endpoint's
    ratio shows how much of regauth's ratio is that queueing.
    """
    counts = (CONNECTION_COUNTS[0], CONNECTION_COUNTS[-1])
    return [
        measure_minimal(tmp, wrk, replace(opts, connections=c), connections_name(c, MINIMAL))
        for c in counts
    ]


def cli_startup(tmp: Path, runs: int = 10) -> tuple[float, float, float]:
    """Median seconds, process start to exit: `regauth users list`, `python -c pass`, and
    `python -c "import sqlalchemy"` (what any command that reads the database imports)."""
    workdir = tmp / "cli"
    env = dict(os.environ, REGAUTH_ADMIN_PASSWORD="bench-admin-pw")
    init = ["init", "--dir", str(workdir), "--port", str(free_port())]
    subprocess.run([str(BIN / "regauth"), *init], env=env, check=True, capture_output=True)
    commands = {
        "cli": [str(BIN / "regauth"), "--config", str(workdir / "regauth.toml"), "users", "list"],
        "python": [sys.executable, "-c", "pass"],
        # the floor under any command that reads the database: the store is built on it
        "sqlalchemy": [sys.executable, "-c", "import sqlalchemy"],
    }
    medians = {}
    for name, cmd in commands.items():
        subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        medians[name] = statistics.median(times)
    return medians["cli"], medians["python"], medians["sqlalchemy"]


def print_cli_startup(tmp: Path) -> None:
    cli, python, sqlalchemy = cli_startup(tmp)
    print(
        f"\nCLI start-up, process start to exit, median of 10: `regauth users list` "
        f"{cli * 1000:.0f} ms (bare `python -c pass`: {python * 1000:.0f} ms, "
        f"×{cli / python:.1f}; `python -c 'import sqlalchemy'`: {sqlalchemy * 1000:.0f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server workers, for every app")
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--no-oidc", action="store_true", help="skip the OIDC scenario")
    parser.add_argument("--cli-only", action="store_true", help="only the CLI start-up time")
    args = parser.parse_args()
    if args.cli_only:
        with tempfile.TemporaryDirectory(prefix="regauth-bench-") as name:
            print_cli_startup(Path(name))
        return
    opts = Options(args.duration, args.connections, args.workers)
    wrk = ensure_wrk()
    wanted = set(args.scenario)
    with tempfile.TemporaryDirectory(prefix="regauth-bench-") as name:
        tmp = Path(name)
        idp, issuer = (None, None) if args.no_oidc else start_idp(tmp)
        try:
            results = [measure_bare(tmp, wrk, opts), measure_minimal(tmp, wrk, opts)]
            for setup in setups(issuer):
                results += measure_setup(tmp, wrk, setup, wanted, opts)
            if not wanted or any(connections_name(c) in wanted for c in CONNECTION_COUNTS):
                results += measure_minimal_connections(tmp, wrk, opts)
            stop_postgres, new_database = start_postgres()
            try:
                for setup in database_setups(new_database):
                    results += measure_setup(tmp, wrk, setup, wanted, opts)
            finally:
                stop_postgres()
            results.append(measure_bare(tmp, wrk, opts))
        finally:
            if idp is not None:
                stop(idp)
    print(f"{opts.workers} worker(s), wrk -c{opts.connections} for {opts.duration} s each\n")
    report(results, argon2_limit())
    print("\nper-stage cost (in-process, µs per resource):")
    for stage, micros in stage_costs():
        print(f"  {stage:<36}{micros:>8.1f}")
    with tempfile.TemporaryDirectory(prefix="regauth-bench-") as name:
        print_cli_startup(Path(name))


HEAD = (
    "tok/s",
    "ratio",
    "÷minimal",
    "p50 ms",
    "p99 ms",
    "CPU µs",
    "CPU×min",
    "RSS 0",
    "RSS MiB",
    "PSS 0",
    "PSS MiB",
)


def report(results: list[Result], argon_limit: float) -> None:
    bare = [r for r in results if r.name == BARE]
    base = sum(r.rps for r in bare) / len(bare)  # measured before and after the scenarios
    ref = next((r for r in results if r.name == MINIMAL), bare[0])
    print(f"{'scenario':<28}" + "".join(f"{h:>9}" for h in (*HEAD, "errors")))
    for r in results:
        cells = [f"{r.rps:.0f}", f"{r.rps / base:.2f}", f"{r.rps / ref.rps:.2f}"]
        cells += [f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{r.cpu_us:.0f}"]
        cells += [f"{r.cpu_us / ref.cpu_us:.2f}", f"{r.start.rss:.1f}", f"{r.after.rss:.1f}"]
        cells += [f"{r.start.pss:.1f}", f"{r.after.pss:.1f}"]
        print(f"{r.name:<28}" + "".join(f"{c:>9}" for c in (*cells, str(r.errors))))
    print("ratio = tok/s ÷ the bare endpoint; ÷minimal = tok/s ÷ the minimal ES256 endpoint;")
    print("CPU µs = server CPU (all processes) per completed request; CPU×min = ÷ the minimal's;")
    print("RSS 0 / RSS MiB = the largest worker after start-up / after the load; it counts the")
    print("pages shared with the master and the other workers in full. PSS 0 / PSS MiB = the")
    print("same workers' proportional set size: shared pages divided among their sharers")
    report_scale({r.name: r for r in results})
    print(f"\nargon2id verify limit on this machine: {argon_limit:.1f}/s (default parameters)")
    for r in results:
        if r.name == "basic-login-argon2id":
            print(f"uncached Basic logins reach {r.rps / argon_limit:.0%} of that limit")


def report_scale(by_name: dict[str, Result]) -> None:
    """The scale targets, each as a ratio measured in this run."""

    def ratio(label: str, a: str, b: str, value: Callable[[Result], float]) -> None:
        if a in by_name and b in by_name:
            print(f"{label:<58}{value(by_name[a]) / value(by_name[b]):>6.2f}×")

    print()
    cpu: Callable[[Result], float] = lambda r: r.cpu_us  # noqa: E731
    p99: Callable[[Result], float] = lambda r: r.p99_ms  # noqa: E731
    ratio(
        "CPU/token, 10,000 config + 1,002 account rules vs 10", "rules-10000+1000", "rules-10", cpu
    )
    ratio(
        "CPU/token, cached login with 100,000 users vs without",
        "users-100k",
        "users-0",
        cpu,
    )
    ratio(
        "p99, cached login at 256 connections vs 16",
        connections_name(256),
        connections_name(16),
        p99,
    )
    ratio(
        "p99, the minimal endpoint at 256 connections vs 16",
        connections_name(256, MINIMAL),
        connections_name(16, MINIMAL),
        p99,
    )
    ratio(
        "p99, cached login at 64 connections vs 16",
        connections_name(64),
        connections_name(16),
        p99,
    )
    rps: Callable[[Result], float] = lambda r: r.rps  # noqa: E731
    ratio(
        "tokens/s at 256 connections vs 16",
        connections_name(256),
        connections_name(16),
        rps,
    )


if __name__ == "__main__":
    main()
