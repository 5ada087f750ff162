"""Configuration: one TOML file, overridden by ``REGAUTH_<SECTION>__<KEY>``, parsed once.

``load_settings()`` returns frozen, validated :class:`Settings`; every error is
a :class:`regauth.errors.ConfigError` naming the dotted path at fault.
"""

from __future__ import annotations

from regauth.config.loader import find_config_path, load_settings, parse_settings
from regauth.config.model import (
    DatabaseSettings,
    KeySettings,
    PasswordSettings,
    ServerSettings,
    Settings,
    TokenSettings,
)
from regauth.config.rules import RuleSettings

__all__ = [
    "DatabaseSettings",
    "KeySettings",
    "PasswordSettings",
    "RuleSettings",
    "ServerSettings",
    "Settings",
    "TokenSettings",
    "find_config_path",
    "load_settings",
    "parse_settings",
]
