"""When a failed delivery is tried again: a pure decision (no clock, no randomness of its own).

``schedule[n]`` is the delay after the (n+1)-th failed attempt, spread by
±``jitter`` (a fraction) so that receivers coming back are not hit by every
retry at once; past the end of the schedule the delivery is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def next_attempt(
    failures: int,
    schedule: Sequence[float],
    now: datetime,
    *,
    jitter: float,
    draw: float,
    retry_after: float | None = None,
) -> datetime | None:
    """The next attempt after ``failures`` failed ones (>= 1), or None: dead.

    ``draw`` is a uniform random number in [0, 1) supplied by the caller;
    ``retry_after`` (seconds, from the receiver's ``Retry-After``) may push
    the delay further out but never past the schedule's longest delay.
    """
    if failures < 1 or failures > len(schedule):
        return None
    base = schedule[failures - 1]
    delay = base * (1 + jitter * (2 * draw - 1))
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, max(schedule))
    return now + timedelta(seconds=delay)
