"""``python -m regauth.web.api``: print the OpenAPI document (``docs/openapi.json``)."""

from __future__ import annotations

import sys

from regauth.web.api import openapi_bytes

sys.stdout.buffer.write(openapi_bytes())
