from __future__ import annotations

from pathlib import Path

import pytest

from regauth.store import Database
from regauth.store.replay import DatabaseReplayCache
from tests.conftest import FrozenClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_two_workers_share_the_replay_cache(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    Database(url).migrate()
    clock = FrozenClock()
    a, b = Database(url), Database(url)
    try:
        first, second = DatabaseReplayCache(a, clock), DatabaseReplayCache(b, clock)
        expires = clock.now().timestamp() + 300
        assert await first.seen("proof-1", expires) is False
        assert await second.seen("proof-1", expires) is True  # another worker
        assert await second.seen("proof-2", expires) is False
        clock.advance(seconds=301)
        assert await first.seen("proof-1", expires + 301) is False  # expired: taken over
        assert await second.seen("proof-1", expires + 301) is True
    finally:
        await a.dispose()
        await b.dispose()
