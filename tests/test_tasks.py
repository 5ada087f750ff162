"""BackgroundTasks: held until they end, cancelled and awaited at close."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from regauth.tasks import BackgroundTasks

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_task_is_held_until_it_ends() -> None:
    tasks = BackgroundTasks()
    ran = anyio.Event()

    async def work() -> None:
        ran.set()

    tasks.spawn(work())
    assert len(tasks) == 1
    with anyio.fail_after(5):
        await ran.wait()
        while tasks:  # the done callback drops it right after
            await anyio.lowlevel.checkpoint()
    assert list(tasks) == []


async def test_aclose_cancels_what_still_runs_and_waits_for_it() -> None:
    tasks = BackgroundTasks()
    cleaned: list[str] = []

    async def forever(name: str) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cleaned.append(name)

    tasks.spawn(forever("a"))
    tasks.spawn(forever("b"))
    await anyio.wait_all_tasks_blocked()
    with anyio.fail_after(5):
        await tasks.aclose()
    assert sorted(cleaned) == ["a", "b"] and not tasks
    await tasks.aclose()  # nothing left: at once
