"""``regauth keys …``: signing keys, the stable CA, rotation, the registry's bundle."""

from __future__ import annotations

from pathlib import Path

import anyio
import click
import orjson

from regauth.admin.keys import KeyPolicy, registry_bundle, rotate_keys, show_keys
from regauth.admin.keys import jwks as jwks_of
from regauth.cli.context import CliContext, pass_cli
from regauth.keys import Algorithm
from regauth.runtime import retire_grace

ALGS = [a.value for a in Algorithm]


@click.group("keys")
def command() -> None:
    """Manage token signing keys and certificates."""


@command.command("generate")
@click.option("--alg", type=click.Choice(ALGS), default=None, help="Default: keys.alg.")
@pass_cli
def generate(cli: CliContext, alg: str | None) -> None:
    """Generate a new signing key and make it current (the old one keeps verifying)."""
    s = cli.settings
    store = cli.key_store()
    if s.keys.stable_ca and not store.has_ca():
        raise click.UsageError("keys.stable_ca is on but there is no CA: run `regauth keys ca`")
    key_id = store.generate(
        Algorithm(alg or s.keys.alg),
        days=s.keys.leaf_days,
        grace=retire_grace(s),
        rsa_bits=s.keys.rsa_bits,
    )
    click.echo(f"generated signing key {key_id}")


@command.command("ca")
@click.option("--alg", type=click.Choice(ALGS), default=None, help="Default: keys.alg.")
@click.option(
    "--force", is_flag=True, help="Replace an existing CA (the registry must be updated)."
)
@pass_cli
def ca(cli: CliContext, alg: str | None, force: bool) -> None:
    """Create the stable CA that the registry trusts (do this once)."""
    s = cli.settings
    cert = cli.key_store().create_ca(Algorithm(alg or s.keys.alg), days=s.keys.ca_days, force=force)
    until = f"{cert.not_valid_after_utc:%Y-%m-%d}"
    click.echo(f"created CA {cert.subject.rfc4514_string()}, valid until {until}")
    click.echo("now run `regauth keys generate` for a leaf signed by it")


def _policy(cli: CliContext) -> KeyPolicy:
    s = cli.settings
    return KeyPolicy(s.keys.kid, s.keys.leaf_days, retire_grace(s))


@command.command("rotate")
@pass_cli
def rotate(cli: CliContext) -> None:
    """Replace the signing key; running servers pick the new one up within seconds."""
    store, policy = cli.key_store(), _policy(cli)
    view = cli.run_admin(lambda uow, actor: rotate_keys(uow, actor, store, policy))
    key_id = view.current.key_id
    click.echo(f"rotated: current signing key is {key_id}")
    if not store.has_ca():
        click.echo(
            "self-signed mode: re-export the registry's bundle (`regauth keys export-bundle`) "
            "and restart the registry so it trusts the new certificate"
        )


@command.command("show")
@pass_cli
def show(cli: CliContext) -> None:
    """Show the current and still-verifying keys."""
    view = anyio.run(show_keys, cli.actor, cli.key_store(), _policy(cli))
    if view.ca_subject is not None and view.ca_not_after is not None:
        click.echo(f"CA  {view.ca_subject} until {view.ca_not_after:%Y-%m-%d}")
    for key in (view.current, *view.previous):
        role = (
            "current"
            if key is view.current
            else f"retired (verifies until {key.verifies_until:%Y-%m-%d %H:%M:%S}Z)"
        )
        until = f"{key.certificate_not_after:%Y-%m-%d}"
        click.echo(f"{key.key_id}  {key.alg}  kid={key.kid}  cert until {until}  {role}")


@command.command("import")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--cert", "cert_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--pkcs12", is_flag=True, help="KEY is a PKCS#12 / PFX bundle.")
@pass_cli
def import_key(
    cli: CliContext, key_file: str, cert_file: str | None, passphrase_file: str | None, pkcs12: bool
) -> None:
    """Import a signing key (PEM, DER or PKCS#12/PFX) and make it current."""
    passphrase = Path(passphrase_file).read_bytes().rstrip(b"\r\n") if passphrase_file else None
    is_pkcs12 = pkcs12 or key_file.lower().endswith((".p12", ".pfx"))
    key_id = cli.key_store().import_key(
        Path(key_file).read_bytes(),
        cert_data=Path(cert_file).read_bytes() if cert_file else None,
        passphrase=passphrase,
        pkcs12=is_pkcs12,
        grace=retire_grace(cli.settings),
    )
    click.echo(f"imported signing key {key_id}")


@command.command("export-bundle")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_cli
def export_bundle(cli: CliContext, file: str) -> None:
    """Write the registry's rootcertbundle: the CA, or the valid self-signed leaves."""
    bundle = anyio.run(registry_bundle, cli.actor, cli.key_store(), _policy(cli))
    Path(file).write_bytes(bundle)
    click.echo(f"wrote {file}")


@command.command("jwks")
@pass_cli
def jwks(cli: CliContext) -> None:
    """Print the JWKS (for distribution 3.x `auth.token.jwks`)."""
    keys = anyio.run(jwks_of, cli.actor, cli.key_store(), _policy(cli))
    click.echo(orjson.dumps(keys, option=orjson.OPT_INDENT_2).decode())
