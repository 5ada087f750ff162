"""Where a key store keeps its files: a directory, or the database.

A key store is a handful of named blobs (``keyring.json``,
``signing/<key_id>.key``, ``signing/<key_id>.crt``, ``ca.key``, ``ca.crt``).
:class:`Blobs` is the port the store writes them through; :class:`FileBlobs`
keeps them in a directory (the default, one host), and
:class:`regauth.store.key_material.DatabaseBlobs` in the database, encrypted,
for replicas that share nothing else.

Contract: ``read`` raises :class:`FileNotFoundError` for a missing blob;
``write`` replaces a blob atomically; within ``locked()`` the caller is the
only writer across every process sharing the store, and the writes made
inside it become visible to readers no earlier than each write (files) or
all at once when the block ends (database).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from regauth.keys import _files


class Blobs(Protocol):
    def where(self, name: str) -> str:
        """How to name blob ``name`` in a message (a path, or a database row)."""
        ...

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive writer access for the ``with`` block, across processes."""
        ...

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> bytes: ...

    def write(self, name: str, data: bytes, *, private: bool) -> None: ...

    def remove(self, *names: str) -> None: ...

    def stamp(self, name: str) -> str:
        """A cheap value that changes whenever ``name`` is replaced ("" if missing)."""
        ...

    def close(self) -> None: ...


class FileBlobs:
    """Blobs as files under ``directory`` (0700 directories, 0600 private files)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / name

    def where(self, name: str) -> str:
        return str(self.path(name))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        _files.ensure_private_dir(self.directory)
        with _files.exclusive_lock(self.directory / ".lock"):
            yield

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def write(self, name: str, data: bytes, *, private: bool) -> None:
        path = self.path(name)
        if path.parent != self.directory:
            _files.ensure_private_dir(path.parent)
        mode = _files.PRIVATE_FILE_MODE if private else _files.PUBLIC_FILE_MODE
        _files.write_atomic(path, data, mode)

    def remove(self, *names: str) -> None:
        _files.remove_quietly(*(self.path(name) for name in names))

    def stamp(self, name: str) -> str:
        try:
            st = self.path(name).stat()
        except FileNotFoundError:
            return ""
        return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"

    def close(self) -> None:
        return None
