"""regauth: token authentication and authorization for OCI / Docker registries."""

from __future__ import annotations

__version__ = "0.1.0"
