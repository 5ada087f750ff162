"""Find, read, override and validate the configuration file.

Precedence: built-in defaults < TOML file < ``REGAUTH_<SECTION>__<KEY>``
environment variables. An environment value is read as a TOML value when it
parses as one (``600``, ``true``, ``["a", "b"]``), else as a string.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from regauth.config.model import Settings
from regauth.errors import ConfigError

ENV_PREFIX = "REGAUTH_"
# Variables with the prefix that are not configuration overrides.
NOT_OVERRIDES = frozenset(
    {"REGAUTH_CONFIG", "REGAUTH_ADMIN_PASSWORD", "REGAUTH_METRICS_DIR", "REGAUTH_KEK"}
)
DEFAULT_PATH = Path("var/regauth.toml")


def find_config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``$REGAUTH_CONFIG``, else ``./var/regauth.toml``."""
    return Path(explicit or environ.get("REGAUTH_CONFIG") or DEFAULT_PATH)


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path``, apply environment overrides, validate. Raises ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    return parse_settings(text, base_dir=path.resolve().parent, environ=environ or os.environ)


def parse_settings(
    text: str, *, base_dir: Path, environ: Mapping[str, str] | None = None
) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    sources = _apply_environment(data, environ or {})
    data["base_dir"] = base_dir
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, sources) from None


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Merge overrides into ``data``; return dotted path → variable name for messages."""
    sources: dict[str, str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in NOT_OVERRIDES:
            continue
        keys = [k.lower() for k in name.removeprefix(ENV_PREFIX).split("__")]
        if not all(keys):
            raise ConfigError(f"environment variable {name} does not name a setting")
        target = data
        for key in keys[:-1]:
            child = target.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} does not name a setting")
            target = child
        target[keys[-1]] = _env_value(raw)
        sources[".".join(keys)] = name
    return sources


def _env_value(raw: str) -> object:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _config_error(exc: ValidationError, sources: Mapping[str, str]) -> ConfigError:
    lines = []
    paths = []
    for error in exc.errors(include_url=False, include_input=False):
        dotted = _dotted(error["loc"])
        paths.append(dotted)
        origin = f" (from {sources[dotted]})" if dotted in sources else ""
        lines.append(f"{dotted}{origin}: {error['msg']}")
    problem = ConfigError("; ".join(lines))
    problem.path = paths[0] if paths else ""
    return problem


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text
