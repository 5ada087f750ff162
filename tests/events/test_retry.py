"""The retry schedule: exponential delays ±jitter, then dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regauth.events.retry import next_attempt

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCHEDULE = (5.0, 30.0, 120.0)


@pytest.mark.parametrize(
    ("failures", "draw", "seconds"),
    [(1, 0.5, 5.0), (2, 0.5, 30.0), (3, 0.5, 120.0), (1, 0.0, 4.0), (2, 0.999999, 36.0)],
)
def test_schedule_with_jitter(failures: int, draw: float, seconds: float) -> None:
    due = next_attempt(failures, SCHEDULE, NOW, jitter=0.2, draw=draw)
    assert due is not None
    assert (due - NOW).total_seconds() == pytest.approx(seconds, abs=1e-3)


def test_past_the_schedule_the_delivery_is_dead() -> None:
    assert next_attempt(4, SCHEDULE, NOW, jitter=0.2, draw=0.5) is None


def test_retry_after_pushes_out_but_not_past_the_longest_delay() -> None:
    assert next_attempt(1, SCHEDULE, NOW, jitter=0, draw=0, retry_after=60) == NOW + timedelta(
        seconds=60
    )
    assert next_attempt(1, SCHEDULE, NOW, jitter=0, draw=0, retry_after=9999) == NOW + timedelta(
        seconds=120
    )


@given(st.integers(1, 3), st.floats(0, 0.999999), st.floats(0, 0.5))
def test_jitter_stays_within_its_fraction(failures: int, draw: float, jitter: float) -> None:
    due = next_attempt(failures, SCHEDULE, NOW, jitter=jitter, draw=draw)
    assert due is not None
    base = SCHEDULE[failures - 1]
    delay = (due - NOW).total_seconds()
    assert base * (1 - jitter) - 1e-6 <= delay <= base * (1 + jitter) + 1e-6
