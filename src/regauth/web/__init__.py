"""HTTP edge: the Starlette application and its routes."""

from __future__ import annotations
