"""Settings of login throttling, ``[auth.throttle]`` (SPEC §3: repeated failures).

Failures are counted per account and per client address in fixed windows of
``window`` seconds that start at the first failure. A limit of ``0`` turns
that counter off.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ThrottleSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_failures_per_account: int = Field(default=10, ge=0, le=1_000_000)
    max_failures_per_address: int = Field(default=50, ge=0, le=1_000_000)
    window: int = Field(default=300, ge=1, le=86400)
    """Seconds."""

    @property
    def enabled(self) -> bool:
        return self.max_failures_per_account > 0 or self.max_failures_per_address > 0
