"""Authorization stages (SPEC §4) built from configuration."""

from __future__ import annotations
