"""The ``key_material`` table: signing keys and certificates kept in the database.

One row per blob of the key store (``keyring.json``, ``signing/<id>.key``,
``ca.crt``…), always sealed with the key-encryption key
(:mod:`regauth.keys.sealing`); the database never holds that key. Revision 0007.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from regauth.store.models import Base


class KeyMaterial(Base):
    __tablename__ = "key_material"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]
