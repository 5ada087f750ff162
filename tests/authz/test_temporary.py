"""ActiveGrants: one load per TTL, judged by the request time handed in (never its own)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from regauth.authz.temporary import ActiveGrants
from regauth.domain.grants import TemporaryGrant
from tests.conftest import FrozenClock

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ENDS = int(T0.timestamp()) + 60
GRANT = TemporaryGrant(1, "team/app", ("push",), "board", ENDS, "then")


class Loader:
    def __init__(self) -> None:
        self.loads: list[datetime] = []

    async def __call__(self, now: datetime) -> Mapping[str, tuple[TemporaryGrant, ...]]:
        self.loads.append(now)
        return {"alice": (GRANT,)}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_loads_once_per_ttl_of_the_given_times_and_drops_ended_grants() -> None:
    load = Loader()
    clock = FrozenClock(T0 + timedelta(days=1))  # never read: the times given count
    grants = ActiveGrants(load, clock, ttl=10)
    assert await grants.active("alice", T0) == (GRANT,)
    assert await grants.active("bob", T0 + timedelta(seconds=9)) == ()
    assert load.loads == [T0]
    assert await grants.active("alice", T0 + timedelta(seconds=10)) == (GRANT,)
    assert load.loads == [T0, T0 + timedelta(seconds=10)]
    assert await grants.active("alice", T0 + timedelta(seconds=59)) == (GRANT,)
    assert await grants.active("alice", T0 + timedelta(seconds=60)) == ()  # ended at 60 s
    assert load.loads == [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=59)]


async def test_without_a_ttl_every_decision_loads() -> None:
    load = Loader()
    grants = ActiveGrants(load, FrozenClock(), ttl=0)
    for _ in range(3):
        assert await grants.active("alice", T0) == (GRANT,)
    assert load.loads == [T0] * 3
