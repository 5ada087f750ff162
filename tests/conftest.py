"""Shared fixtures: a frozen clock, fast password hashing, a prepared instance, an app client,
and the databases: ``postgres`` (one private PostgreSQL cluster per session), ``postgres_url``
(a fresh empty database on it per test) and ``db_url``, parametrised over SQLite and
PostgreSQL so that a test using it runs on both backends (``migrated_db_url`` and ``db``,
an open :class:`Database` on it, are migrated already)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from starlette.testclient import TestClient

from regauth.authn.passwords import PasswordHasher
from regauth.config import Settings, parse_settings
from regauth.keys import Algorithm, KeyStore
from regauth.store import Database, UserStore
from regauth.web.app import create_asgi
from tests.postgres import PostgresCluster, PostgresMissing

FAST_PASSWORDS = "[passwords]\ntime_cost = 1\nmemory_cost = 1024\nparallelism = 1\n"
# Tests change users, tokens and rules and expect the next request to see it at once;
# the read caches (database.cache_seconds) have tests of their own.
NO_READ_CACHE = "[database]\ncache_seconds = 0\n"


@dataclass
class FrozenClock:
    at: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 12, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One private PostgreSQL cluster for the whole session, stopped by PID at the end."""
    try:
        cluster = PostgresCluster.start()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (``postgresql+psycopg://…``), dropped
    after the test."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresCluster) -> str:
    """The name of a PostgreSQL database migrated to the head revision, to copy from."""
    url = postgres.create_database("template")
    Database(url).migrate()
    return url.rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the head revision, to copy from."""
    path = tmp_path_factory.mktemp("sqlite-template") / "regauth.db"
    Database(f"sqlite:///{path}").migrate()
    return path


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'data' / 'regauth.db'}"


@pytest.fixture(params=BACKENDS)
def migrated_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like ``db_url``, but already migrated to the head revision (a copy of a template:
    the migrations themselves are tested on ``db_url``)."""
    if request.param == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.create_database(template=request.getfixturevalue("postgres_template"))
        yield url
        cluster.drop_database(url)
        return
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "data" / "regauth.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    yield f"sqlite:///{target}"


@pytest.fixture
async def db(migrated_db_url: str) -> AsyncIterator[Database]:
    """A migrated database, on SQLite and on PostgreSQL (the fixture is parametrised)."""
    database = Database(migrated_db_url)
    database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


@dataclass
class Instance:
    """A regauth directory with keys, a migrated database and some users."""

    dir: Path
    settings: Settings
    clock: FrozenClock

    def add_user(self, name: str, password: str | None, groups: tuple[str, ...] = ()) -> None:
        async def main() -> None:
            db = Database(self.settings.database_url)
            try:
                hashed = FAST_HASHER.hash(password) if password is not None else None
                await UserStore(db, self.clock).add(name, hashed, groups=groups)
            finally:
                await db.dispose()

        anyio.run(main)

    def client(self) -> TestClient:
        app = create_asgi(self.settings, clock=self.clock)
        return TestClient(app, base_url="http://testserver")


FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

DEFAULT_RULES = """
[[rules]]
account = "admin"
name = "**"
actions = ["*"]
[[rules]]
account = "admin"
type = "registry"
name = "catalog"
actions = ["*"]
[[rules]]
account = "alice"
name = "secret/**"
actions = []
deny = true
comment = "explicit deny"
[[rules]]
account = "*"
name = "${account}/**"
actions = ["pull", "push"]
[[rules]]
group = "dev"
name = "team/**"
actions = ["pull", "push"]
[[rules]]
anonymous = true
name = "public/**"
actions = ["pull"]
"""


def make_instance(
    tmp_path: Path,
    clock: FrozenClock,
    *,
    extra: str = "",
    top: str = "",
    token_extra: str = "",
    rules: str = DEFAULT_RULES,
    alg: str = "ES256",
    stable_ca: bool = True,
    database_url: str = "",
) -> Instance:
    """A configured instance; ``database_url`` (default: a SQLite file in ``tmp_path``)."""
    database = f'url = "{database_url}"\n' if database_url else ""
    text = (
        f'{top}\n[token]\nissuer = "test-issuer"\nservices = ["registry.test"]\n{token_extra}\n'
        f'[keys]\nalg = "{alg}"\nstable_ca = {str(stable_ca).lower()}\nreload_interval = 0.1\n'
        f"{FAST_PASSWORDS}{NO_READ_CACHE}{database}{extra}{rules}"
    )
    (tmp_path / "regauth.toml").write_text(text, encoding="utf-8")
    settings = parse_settings(text, base_dir=tmp_path, environ={})
    store = KeyStore(settings.keys_dir, clock)
    if stable_ca:
        store.create_ca(Algorithm(alg))
    store.generate(Algorithm(alg))
    Database(settings.database_url).migrate()
    return Instance(tmp_path, settings, clock)


@pytest.fixture
def instance(tmp_path: Path, clock: FrozenClock, migrated_db_url: str) -> Instance:
    """alice, bob (group dev) and admin, on SQLite and on PostgreSQL in turn."""
    inst = make_instance(tmp_path, clock, database_url=migrated_db_url)
    inst.add_user("alice", "alice-pw")
    inst.add_user("bob", "bob-pw", ("dev",))
    inst.add_user("admin", "admin-pw")
    return inst


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    with instance.client() as c:
        yield c


# --------------------------------------------------------------------------- parallel runs
# `make test` runs this suite on pytest-xdist workers (``--dist loadscope``). One test module
# is one unit of work, so the daemons a module starts for its tests (registries, slapd, the
# browser) start once; session fixtures (PostgreSQL, dockerd, the IdP) start once per worker.
# The modules below take longest: they are handed out first, longest first, so that the run
# does not end with one of them running alone (the container test builds its base image
# with debootstrap when /var/cache/regauth-tests has none yet).
LONGEST_FIRST = (
    "tests/e2e/test_container.py",
    "tests/e2e/test_events.py",
    "tests/e2e/test_docker.py",
    "tests/e2e/test_ui_browser.py",
    "tests/e2e/test_podman_buildah.py",
    "tests/e2e/test_replicas.py",
    "tests/e2e/test_registry.py",
    "tests/web/test_metrics.py",
    "tests/web/test_hostile_input.py",
    "tests/web/api/test_schemathesis.py",
)


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not an xdist worker: the usual order
        return
    rank = {module: n for n, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), len(rank)))  # stable


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadscope`` by module (xdist's own splits at the last ``::``, and some test
    ids hold ``::1``)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    scheduler = LoadScopeScheduling(config, log)
    scheduler._split_scope = _module
    return scheduler
