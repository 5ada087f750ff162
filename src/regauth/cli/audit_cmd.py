"""``regauth audit …``: list, export and prune the audit log of token decisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from regauth.cli.context import CliContext, pass_cli

if TYPE_CHECKING:
    from regauth.admin import Actor, UnitOfWork
    from regauth.admin.audit import AuditView


@click.group("audit")
def command() -> None:
    """Read the audit log of token decisions."""


def parse_since(text: str, now: datetime) -> datetime:
    """``15m``, ``2h``, ``7d`` ago, or an ISO 8601 time."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1:] in units:
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("use 15m, 2h, 7d or an ISO 8601 time") from None
    return at if at.tzinfo else at.replace(tzinfo=now.tzinfo)


def _when(cli: CliContext, text: str | None) -> datetime | None:
    return parse_since(text, cli.clock.now()) if text else None


_USER = click.option(
    "--user", default=None, help="Only this subject, or failed logins that presented this name."
)
_SINCE = click.option("--since", default=None, help="15m, 2h, 7d ago or an ISO 8601 time.")
_UNTIL = click.option("--until", default=None, help="Before this time (same forms as --since).")
_DENIED = click.option(
    "--denied", is_flag=True, help="Only refused requests and those granted nothing."
)


@command.command("list")
@_USER
@_SINCE
@_UNTIL
@_DENIED
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document per line.")
@pass_cli
def list_events(
    cli: CliContext,
    user: str | None,
    since: str | None,
    until: str | None,
    denied: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Newest first: time, outcome, who, from where, requested → granted."""
    from regauth.admin.audit import AuditQuery
    from regauth.admin.audit import list_events as run

    query = AuditQuery(user, _when(cli, since), _when(cli, until), denied, limit)
    views = cli.run_admin(lambda uow, actor: run(uow, actor, query))
    if as_json:
        for view in views:
            click.echo(view.document)
        return
    for line in table(views):
        click.echo(line)


def table(views: Sequence[AuditView]) -> list[str]:
    """Aligned columns (nothing at all when there is no event).

    A name in brackets is one presented by a login that failed.
    """
    if not views:
        return []
    header = ("TIME", "OUTCOME", "WHO", "SOURCE", "CLIENT", "REQUESTED → GRANTED")
    rows = [header, *(_row(v) for v in views)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    ]


def _row(view: AuditView) -> tuple[str, ...]:
    who = view.subject or "(anonymous)"
    if view.subject and not view.authenticated:
        who = f"[{view.subject}]"
    outcome = f"{view.outcome} {view.error_code}" if view.error_code else view.outcome
    if view.outcome == "issued" and view.nothing_granted:
        outcome = "issued (nothing granted)"
    what = f"{' '.join(view.requested) or '(no scope)'} → {'; '.join(view.granted) or '-'}"
    return (
        f"{view.at:%Y-%m-%d %H:%M:%S}",
        outcome,
        who,
        view.source or "-",
        view.client_ip or "-",
        what,
    )


@command.command("export")
@_USER
@_SINCE
@_UNTIL
@_DENIED
@pass_cli
def export(
    cli: CliContext, user: str | None, since: str | None, until: str | None, denied: bool
) -> None:
    """Every matching event, oldest first, as JSON lines (one document a line)."""
    from regauth.admin.audit import AuditQuery, export_events

    query = AuditQuery(user, _when(cli, since), _when(cli, until), denied)

    async def run(uow: UnitOfWork, actor: Actor) -> int:
        count = 0
        async for view in export_events(uow, actor, query):
            click.echo(view.document)
            count += 1
        return count

    count = cli.run_admin(run)
    click.echo(f"exported {count} event(s)", err=True)


@command.command("prune")
@click.option(
    "--older-than",
    default=None,
    help="e.g. 90d; default: audit.retention_days of the configuration.",
)
@pass_cli
def prune(cli: CliContext, older_than: str | None) -> None:
    """Delete the events older than --older-than (or the configured retention)."""
    from regauth.admin.audit import PruneAudit, prune_events

    if older_than is None:
        days = cli.settings.audit.retention_days
        if days <= 0:
            raise click.UsageError("audit.retention_days is 0 (keep for ever): give --older-than")
        older_than = f"{days}d"
    if not (older_than[:-1].isdigit() and older_than[-1:] in "smhd"):
        raise click.BadParameter("use e.g. 90d, 12h", param_hint="--older-than")
    before = parse_since(older_than, cli.clock.now())
    count = cli.run_admin(lambda uow, actor: prune_events(uow, actor, PruneAudit(before)))
    click.echo(f"pruned {count} event(s) older than {before:%Y-%m-%d %H:%M:%S}")
