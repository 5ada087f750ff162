"""Errors raised by the store's repositories.

``Conflict`` means the entity already exists (a unique name or id is taken);
``NotFound`` means the named entity does not exist. Messages name the entity
kind and its public name only: never SQL, parameters or driver text, so they
are safe to show to an administrator. The driver exception is not chained.
"""

from __future__ import annotations

from regauth.errors import RegauthError


class StoreError(RegauthError):
    """Base of every error raised on purpose by the store."""


class Conflict(StoreError):
    """The entity already exists."""


class NotFound(StoreError):
    """The named entity does not exist."""
