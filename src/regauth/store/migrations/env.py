"""Alembic environment of the regauth store.

Driven programmatically by :meth:`regauth.store.database.Database.migrate`,
which passes an open synchronous connection (already inside a transaction)
in ``config.attributes["connection"]``. Offline (SQL script) mode is not
supported. Batch mode is on for SQLite, whose ALTER TABLE is limited.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from regauth.store.models import Base


def run_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; use `regauth` to migrate")
_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("regauth migrations run through Database.migrate(), with a connection")
run_online(_connection)
