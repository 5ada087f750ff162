"""``[admin]``: defaults, the listener address, errors naming the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from regauth.config import parse_settings
from regauth.config.admin import listen_address
from regauth.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    admin = parse_settings("", base_dir=tmp_path).admin
    assert admin.enabled and admin.listen == "" and admin.address is None
    assert admin.groups == ("admins",) and admin.oidc_scopes == ("regauth:admin",)


@pytest.mark.parametrize(
    ("value", "address"),
    [("127.0.0.1:5002", ("127.0.0.1", 5002)), ("[::1]:9000", ("::1", 9000))],
)
def test_listen(value: str, address: tuple[str, int]) -> None:
    assert listen_address(value) == address


@pytest.mark.parametrize("value", ["5002", "host:", ":80", "h:0", "h:70000", "h:x"])
def test_bad_listen_names_the_path(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"admin\.listen"):
        parse_settings(f'[admin]\nlisten = "{value}"\n', base_dir=tmp_path)


def test_environment_override(tmp_path: Path) -> None:
    environ = {"REGAUTH_ADMIN__ENABLED": "false"}
    assert not parse_settings("", base_dir=tmp_path, environ=environ).admin.enabled
