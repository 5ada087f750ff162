"""PostgreSQL drivers on the token path: psycopg 3 (async) against asyncpg, same run.

    python bench/drivers.py [--rounds 5] [--requests 400] [--concurrency 8]

Starts a private PostgreSQL cluster (tests/postgres.py) and makes, per
simulated token request, the database round trips of an uncached token
request: the user with its groups, the personal access token by hash, the
account's rules and its failure counters — through regauth's own
repositories, once on psycopg 3 and once on asyncpg (same database, same
SQLAlchemy pool settings). Rounds alternate between the drivers; the report
gives each one's requests per second (median of the rounds) and the ratio, so
a noisy machine affects both alike. regauth keeps psycopg (see the README,
"Running several replicas", for the figures and the reasons).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import timedelta
from pathlib import Path
from time import perf_counter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from tests.postgres import PostgresCluster

from regauth.authn.pat import create_token
from regauth.authn.refresh import secret_hash
from regauth.ports import SystemClock, SystemRandom
from regauth.store import Database, RuleStore, TokenStore, UserStore
from regauth.store.throttle import FailureStore

DRIVERS = ("psycopg", "asyncpg")


def on_driver(url: str, driver: str) -> Database:
    """A Database whose run-time engine uses ``driver`` (regauth itself accepts psycopg only)."""
    db = Database(url)
    if driver != "psycopg":
        engine = create_async_engine(
            url.replace("+psycopg", f"+{driver}"),
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
        )
        db._engine = engine
        db._sessions = async_sessionmaker(engine, expire_on_commit=False)
    return db


async def token_path(db: Database, secret: str) -> None:
    clock = SystemClock()
    user = await UserStore(db, clock).get("alice")
    assert user is not None
    token = await TokenStore(db, clock).find_by_hash(secret_hash(secret))
    assert token is not None
    await RuleStore(db, clock).for_principal(user.name, user.groups)
    await FailureStore(db, clock).counts(["account:alice", "ip:127.0.0.1"])


async def measure(db: Database, secret: str, requests: int, concurrency: int) -> float:
    async def worker(n: int) -> None:
        for _ in range(n):
            await token_path(db, secret)

    await worker(10)  # warm up the pool
    each = requests // concurrency
    start = perf_counter()
    await asyncio.gather(*(worker(each) for _ in range(concurrency)))
    return each * concurrency / (perf_counter() - start)


async def prepare(url: str) -> str:
    db = Database(url)
    db.migrate()
    try:
        await UserStore(db, SystemClock()).add("alice", None, groups=("dev",))
        _, secret = await create_token(
            TokenStore(db, SystemClock()),
            SystemRandom(),
            SystemClock(),
            user="alice",
            name="bench",
            expires_in=timedelta(days=1),
        )
    finally:
        await db.dispose()
    return secret


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    cluster = PostgresCluster.start()
    results: dict[str, list[float]] = {d: [] for d in DRIVERS}
    try:
        url = cluster.create_database("drivers")
        secret = await prepare(url)
        databases = {d: on_driver(url, d) for d in DRIVERS}
        try:
            for _ in range(args.rounds):
                for driver, db in databases.items():
                    rps = await measure(db, secret, args.requests, args.concurrency)
                    results[driver].append(rps)
        finally:
            for db in databases.values():
                await db.dispose()
    finally:
        cluster.stop()
    medians = {d: statistics.median(r) for d, r in results.items()}
    print(f"uncached token-path queries, {args.concurrency} concurrent, median of {args.rounds}")
    for driver in DRIVERS:
        rounds = " ".join(f"{r:.0f}" for r in results[driver])
        print(f"  {driver:<8} {medians[driver]:7.0f} req/s   (rounds: {rounds})")
    print(f"  asyncpg / psycopg = {medians['asyncpg'] / medians['psycopg']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
