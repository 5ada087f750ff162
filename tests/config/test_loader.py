from __future__ import annotations

from pathlib import Path

import pytest

from regauth.config import find_config_path, load_settings, parse_settings
from regauth.errors import ConfigError


def parse(text: str, **env: str) -> object:
    return parse_settings(text, base_dir=Path("/srv/regauth"), environ=env)


def test_defaults() -> None:
    s = parse_settings("", base_dir=Path("/srv/regauth"), environ={})
    assert s.server.port == 5001
    assert s.token.ttl == 300
    assert s.keys.alg == "ES256"
    assert s.database_url == "sqlite:////srv/regauth/regauth.db"
    assert s.keys_dir == Path("/srv/regauth/keys")


def test_environment_overrides_file() -> None:
    s = parse_settings(
        "[token]\nttl = 120\n",
        base_dir=Path("/x"),
        environ={
            "REGAUTH_TOKEN__TTL": "600",
            "REGAUTH_TOKEN__SERVICES": '["a", "b"]',
            "REGAUTH_KEYS__ALG": "RS256",
            "REGAUTH_CONFIG": "/ignored.toml",
            "REGAUTH_ADMIN_PASSWORD": "ignored",
        },
    )
    assert s.token.ttl == 600
    assert s.token.services == ("a", "b")
    assert s.keys.alg == "RS256"


@pytest.mark.parametrize(
    ("text", "env", "path", "fragment"),
    [
        ("[token]\nttl = 'x'\n", {}, "token.ttl", "valid integer"),
        ("[server]\nport = 70000\n", {}, "server.port", "less than or equal"),
        ("", {"REGAUTH_SERVER__PORT": "0"}, "server.port", "REGAUTH_SERVER__PORT"),
        ("[keys]\nalg = 'HS256'\n", {}, "keys.alg", "ES256"),
        ("[keys]\nrotate_cron = 'every day'\n", {}, "keys.rotate_cron", "cron"),
        ("[nope]\nx = 1\n", {}, "nope", "Extra inputs"),
        (
            "[[rules]]\nname = 'a/**'\nactions = ['PULL']\n",
            {},
            "rules[0].actions",
            "invalid action",
        ),
        ("[[rules]]\nname = '${who}/x'\nactions = []\n", {}, "rules[0].name", "placeholder"),
        (
            "[[rules]]\naccount = 'a'\nanonymous = true\nname = 'x'\nactions = []\n",
            {},
            "rules[0]",
            "at most one",
        ),
        (
            "[[rules]]\nname = 'x'\nactions = []\nclient_cidr = ['10.0.0.0/33']\n",
            {},
            "rules[0].client_cidr",
            "",
        ),
        ("[database]\nurl = 'mysql://x'\n", {}, "database.url", "sqlite"),
        ("not toml = = =", {}, "", "not valid TOML"),
    ],
)
def test_errors_name_the_dotted_path(
    text: str, env: dict[str, str], path: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, **env)
    assert str(info.value).startswith(path)
    assert fragment in str(info.value)


def test_unknown_environment_setting_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"token\.nope"):
        parse("", REGAUTH_TOKEN__NOPE="1")


def test_settings_are_frozen() -> None:
    s = parse_settings("", base_dir=Path("/x"), environ={})
    with pytest.raises(ValueError, match="frozen"):
        s.server.port = 1


def test_find_config_path_precedence(tmp_path: Path) -> None:
    assert find_config_path("a.toml", {"REGAUTH_CONFIG": "b.toml"}) == Path("a.toml")
    assert find_config_path(None, {"REGAUTH_CONFIG": "b.toml"}) == Path("b.toml")
    assert find_config_path(None, {}) == Path("var/regauth.toml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_settings(tmp_path / "none.toml", {})


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "regauth.toml").write_text("[keys]\ndir = 'k'\n")
    s = load_settings(tmp_path / "regauth.toml", {})
    assert s.keys_dir == tmp_path.resolve() / "k"
