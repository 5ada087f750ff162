"""Pure domain core: scope grammar, patterns, principals, rules, policy, claims.

See README.md in this folder: nothing here does I/O.
"""

from __future__ import annotations
