"""Persistence: SQLAlchemy models, repositories and Alembic migrations.

The rest of regauth talks to the database only through the repositories
here (``UserStore``, ``GroupStore``, ``TokenStore``), which return frozen
records and raise ``Conflict`` / ``NotFound``; ``Database`` owns the engine
and the migrations. SQLite and PostgreSQL are supported (SPEC §7).
"""

from __future__ import annotations

from regauth.store import models_admin as _models_admin  # registers the tables
from regauth.store import models_authz as _models_authz
from regauth.store import models_events as _models_events
from regauth.store import models_keys as _models_keys
from regauth.store import models_ui as _models_ui
from regauth.store.audit import AuditRecord, AuditStore
from regauth.store.database import Database
from regauth.store.errors import Conflict, NotFound, StoreError
from regauth.store.records import TokenRecord, UserRecord
from regauth.store.rules import RuleRecord, RuleSpec, RuleStore
from regauth.store.tokens import TokenStore
from regauth.store.users import GroupStore, UserStore

__all__ = [
    "AuditRecord",
    "AuditStore",
    "Conflict",
    "Database",
    "GroupStore",
    "NotFound",
    "RuleRecord",
    "RuleSpec",
    "RuleStore",
    "StoreError",
    "TokenRecord",
    "TokenStore",
    "UserRecord",
    "UserStore",
    "_models_admin",
    "_models_authz",
    "_models_events",
    "_models_keys",
    "_models_ui",
]
