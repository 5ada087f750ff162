"""``regauth init``: a working configuration, keys, database and admin user."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import anyio
import click

from regauth.authn.passwords import PasswordHasher
from regauth.config import Settings, load_settings
from regauth.keys import Algorithm, KeyStore
from regauth.ports import SystemClock
from regauth.store import Database, UserStore

ALGS = [a.value for a in Algorithm]
CONFIG_TEMPLATE = """\
# regauth configuration, written by `regauth init`. Reference: README.md.
# Every value can be overridden by REGAUTH_<SECTION>__<KEY>, e.g. REGAUTH_TOKEN__TTL=600.

[server]
host = "127.0.0.1"
port = {port}

[token]
issuer = "{issuer}"          # the registry's auth.token.issuer
services = ["{service}"]     # the registry's auth.token.service (allow-list)
realm = "{realm}"
ttl = 300                    # seconds a registry token lives

[keys]
dir = "keys"
alg = "{alg}"
kid = "libtrust"             # "rfc7638" for distribution 3.x with a jwks file
stable_ca = {stable_ca}

[database]
url = "sqlite:///regauth.db"

# Rules: ordered, first match wins, granted = requested ∩ actions.
# Who: account = "pattern", group = "pattern", anonymous = true (no credentials)
# or false (signed in), anyone = true (everybody, signed in or not). Every
# matcher a rule sets (who, type + name, service, client_cidr) must match.
# actions = ["*"] grants whatever was requested; a deny is actions = [] plus deny = true.
# `regauth rules lint` finds rules that can never decide.
[[rules]]
account = "admin"
name = "**"
actions = ["*"]
comment = "the admin may do anything on every repository"

[[rules]]
account = "admin"
type = "registry"
name = "catalog"
actions = ["*"]
comment = "the admin may list the catalog"

[[rules]]
account = "*"
name = "${{account}}/**"
actions = ["pull", "push", "delete"]
comment = "every user owns the namespace named after them"

[[rules]]
anyone = true
name = "public/**"
actions = ["pull"]
comment = "anyone, signed in or not, may pull public images"
"""


@click.command("init")
@click.option(
    "--dir", "directory", default="var", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--service", default="registry.local", show_default=True)
@click.option("--issuer", default="regauth", show_default=True)
@click.option(
    "--realm", default=None, help="Public URL of /token (default http://127.0.0.1:PORT/token)."
)
@click.option("--port", default=5001, show_default=True, type=int)
@click.option("--alg", default="ES256", show_default=True, type=click.Choice(ALGS))
@click.option("--no-ca", is_flag=True, help="Self-signed leaf instead of a stable CA.")
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
def command(
    directory: str,
    service: str,
    issuer: str,
    realm: str | None,
    port: int,
    alg: str,
    no_ca: bool,
    force: bool,
) -> None:
    """Write regauth.toml, keys, the database and an admin user into --dir."""
    base = Path(directory).resolve()
    config_path = base / "regauth.toml"
    if config_path.exists() and not force:
        raise click.UsageError(f"{config_path} exists (use --force to overwrite)")
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = CONFIG_TEMPLATE.format(
        port=port,
        issuer=issuer,
        service=service,
        alg=alg,
        realm=realm or f"http://127.0.0.1:{port}/token",
        stable_ca="false" if no_ca else "true",
    )
    config_path.write_text(text, encoding="utf-8")
    settings = load_settings(config_path, os.environ)
    store = KeyStore(settings.keys_dir, SystemClock())
    _make_keys(store, Algorithm(alg), stable_ca=not no_ca, days=settings.keys.leaf_days)
    bundle = base / "registry-bundle.pem"
    bundle.write_bytes(store.load(settings.keys.kid).bundle_pem())
    password = _admin(settings)
    _report(settings.token.realm, service, issuer, bundle, password)


def _make_keys(store: KeyStore, alg: Algorithm, *, stable_ca: bool, days: int) -> None:
    if store.exists():
        click.echo(f"keys: keeping the existing keys in {store.directory}")
        return
    if stable_ca and not store.has_ca():
        store.create_ca(alg)
    store.generate(alg, days=days)


def _admin(settings: Settings) -> str | None:
    """Create the ``admin`` user; return the password when it was generated here."""
    given = os.environ.get("REGAUTH_ADMIN_PASSWORD")
    password = given or secrets.token_urlsafe(18)
    p = settings.passwords
    hasher = PasswordHasher(
        time_cost=p.time_cost, memory_cost=p.memory_cost, parallelism=p.parallelism
    )
    db = Database(settings.database_url)
    db.migrate()

    async def main() -> bool:
        try:
            users = UserStore(db, SystemClock())
            if await users.get("admin") is not None:
                return False
            await users.add("admin", await hasher.ahash(password), groups=("admins",))
            return True
        finally:
            await db.dispose()

    created = anyio.run(main)
    if not created:
        click.echo("admin: the admin user exists already; its password is unchanged")
        return None
    return None if given else password


def _report(realm: str, service: str, issuer: str, bundle: Path, password: str | None) -> None:
    if password:
        click.echo(f"admin password (shown once): {password}")
    click.echo("Paste into the registry's config.yml:\n")
    click.echo("auth:\n  token:")
    click.echo(f"    realm: {realm}\n    service: {service}\n    issuer: {issuer}")
    click.echo(f"    rootcertbundle: {bundle}")
