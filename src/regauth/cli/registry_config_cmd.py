"""``regauth registry-config``: a complete ``config.yml`` for the Distribution registry.

The ``auth.token`` block is taken from the effective configuration (environment
overrides included), so realm, service and issuer always match what ``serve``
uses. What the registry must trust depends on its generation and on ``keys.x5c``:

* Distribution 2.8 (and 3.x with ``keys.x5c = true``): ``rootcertbundle``, written by
  ``regauth keys export-bundle``; with a stable CA it never changes on rotation.
* Distribution 3.x with ``keys.x5c = false``: ``jwks`` only, written by
  ``regauth keys jwks``; it must be rewritten (and the registry restarted) after
  each rotation.

With ``--notifications`` the registry also sends its push/pull/delete events to
``/events/registry``, with the header and secret of ``[events.registry]``;
``--only-notifications`` prints just that block, to paste into an existing file.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click

from regauth.cli.context import CliContext, pass_cli

EVENTS_PATH = "/events/registry"


def _quote(value: str) -> str:
    """A YAML scalar that is read back as exactly ``value`` (JSON strings are YAML)."""
    return json.dumps(value)


@click.command("registry-config")
@click.option("--v3", is_flag=True, help="For Distribution 3.x (default: 2.8).")
@click.option(
    "--notifications",
    is_flag=True,
    help=f"Add an endpoint that sends push/pull events to regauth ({EVENTS_PATH}).",
)
@click.option(
    "--only-notifications",
    is_flag=True,
    help="Print only the notifications: block (to add to an existing config.yml).",
)
@click.option(
    "--addr", default="127.0.0.1:5000", show_default=True, help="The registry's listen address."
)
@click.option(
    "--storage",
    default="/var/lib/registry",
    show_default=True,
    help="The registry's filesystem storage directory.",
)
@click.option(
    "--bundle",
    default=None,
    type=click.Path(dir_okay=False),
    help="rootcertbundle path (default: registry-bundle.pem next to regauth.toml).",
)
@click.option(
    "--jwks",
    "jwks_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="jwks path for 3.x with keys.x5c = false (default: jwks.json next to regauth.toml).",
)
@click.option("--service", default=None, help="auth.token.service (default: token.services[0]).")
@pass_cli
def command(
    cli: CliContext,
    v3: bool,
    notifications: bool,
    only_notifications: bool,
    addr: str,
    storage: str,
    bundle: str | None,
    jwks_path: str | None,
    service: str | None,
) -> None:
    """Print a complete config.yml for the Distribution registry (storage, http, auth)."""
    settings = cli.settings
    block = _notifications(cli) if notifications or only_notifications else ""
    if only_notifications:
        click.echo(block, nl=False)
        return
    services = settings.token.services
    chosen = service or (services[0] if services else "")
    if not chosen:
        raise click.UsageError("token.services is empty: pass --service")
    if services and chosen not in services:
        raise click.UsageError(f"{chosen!r} is not in token.services {list(services)}")
    base = cli.config_path.resolve().parent
    use_jwks = v3 and not settings.keys.x5c
    lines = [
        "# Distribution registry configuration, written by `regauth registry-config"
        + (" --v3" if v3 else "")
        + (" --notifications" if notifications else "")
        + "`.",
        "version: 0.1",
        "log:",
        "  level: info        # the registry logs why it rejects a token at info",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {_quote(storage)}",
        "  delete:",
        "    enabled: true    # otherwise DELETE answers 405",
        "http:",
        f"  addr: {_quote(addr)}",
        f"  secret: {_quote(secrets.token_urlsafe(24))}",
        "auth:",
        "  token:",
        f"    realm: {_quote(settings.realm)}",
        f"    service: {_quote(chosen)}",
        f"    issuer: {_quote(settings.token.issuer)}",
    ]
    if use_jwks:
        path = Path(jwks_path) if jwks_path else base / "jwks.json"
        lines += [
            f"    # write it with: regauth keys jwks > {path}",
            "    # rewrite it and restart the registry after every `regauth keys rotate`",
            f"    jwks: {_quote(str(path))}",
        ]
    else:
        path = Path(bundle) if bundle else base / "registry-bundle.pem"
        stable = settings.keys.stable_ca
        lines += [
            f"    # write it with: regauth keys export-bundle {path}",
            "    # the stable CA: rotation needs neither a new file nor a registry restart"
            if stable
            else "    # self-signed keys: re-export it and restart the registry after a rotation",
            f"    rootcertbundle: {_quote(str(path))}",
        ]
    click.echo("\n".join(lines))
    if block:
        click.echo(block, nl=False)
    if v3 and settings.keys.x5c:
        click.echo(
            "regauth: keys.x5c = true: Distribution 3.x needs rootcertbundle (above); a jwks-only "
            '3.x setup needs keys.x5c = false and keys.kid = "rfc7638"',
            err=True,
        )
    if not v3 and not settings.keys.x5c and settings.keys.stable_ca:
        click.echo(
            "regauth: keys.x5c = false with a stable CA: Distribution 2.8 cannot verify "
            "tokens without x5c against a bundle that holds only the CA",
            err=True,
        )


def _notifications(cli: CliContext) -> str:
    """The ``notifications:`` block for ``[events.registry]`` (its secret is required)."""
    from regauth.config.events import resolve_secret
    from regauth.events.notifications import notifications_block, notifications_url

    settings = cli.settings
    secret = resolve_secret(settings.events.registry, os.environ, "events.registry")
    if secret is None:
        raise click.UsageError(
            "registry notifications need a shared secret: set events.registry.secret "
            "or events.registry.secret_env first"
        )
    url = None
    if not settings.events.registry.public_url:  # where the registry's clients find regauth
        url = settings.realm.removesuffix("/token") + EVENTS_PATH
    return notifications_block(settings, secret, url or notifications_url(settings))
