"""``regauth apikey new``: make a raw API key and the config that accepts it.

Nothing is written anywhere: the raw key goes to the caller that will use it,
the fingerprint to the deployment's secret store, the TOML block to the
configuration file. The configuration file is not read either.
"""

from __future__ import annotations

import re
import secrets

import click
from pydantic import ValidationError

from regauth.authn.apikeys import PREFIX, fingerprint
from regauth.config.apikeys import RESERVED_ENV_PREFIX, ApiKeySettings

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
KEY_BYTES = 32  # 256 bits: a plain SHA-256 fingerprint is then safe to store


@click.group("apikey")
def command() -> None:
    """Create API keys (raw key + SHA-256 fingerprint)."""


def default_env_var(key_id: str) -> str:
    """``ci-bot`` → ``CI_BOT_API_KEY_HASH``."""
    name = _NOT_ALNUM.sub("_", key_id).upper() + "_API_KEY_HASH"
    if name[0].isdigit() or name.startswith(RESERVED_ENV_PREFIX):
        name = "KEY_" + name
    return name


def new_raw_key() -> str:
    return PREFIX + secrets.token_urlsafe(KEY_BYTES)


@command.command("new")
@click.argument("key_id", metavar="ID")
@click.option(
    "--env-var",
    "env_var",
    default=None,
    metavar="NAME",
    help="Environment variable for the fingerprint (default: ID_API_KEY_HASH, upper-cased).",
)
def new(key_id: str, env_var: str | None) -> None:
    """Print a new raw key for ID, its fingerprint, and the config lines to paste."""
    name = env_var or default_env_var(key_id)
    try:
        ApiKeySettings(id=key_id, hash_env=name)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors(include_url=False))
        raise click.UsageError(problems) from None
    raw = new_raw_key()
    digest = fingerprint(raw)
    click.echo(
        "Raw key (give it only to the caller; it is not shown again):\n"
        f"  {raw}\n"
        f"Fingerprint:\n  {digest}\n\n"
        "# Put the fingerprint in the environment of every regauth process:\n"
        f"export {name}='{digest}'\n\n"
        "# Add to regauth.toml:\n"
        "[[auth.api_keys]]\n"
        f'id = "{key_id}"\n'
        f'hash_env = "{name}"\n'
        "scopes = []"
    )
