"""``regauth audit list``: recent token decisions."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
import orjson

from regauth.cli.context import CliContext, pass_cli
from regauth.store import AuditRecord, AuditStore, Database


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


@command.command("list")
@click.option("--user", default=None, help="Only this subject.")
@click.option("--since", default=None, help="15m, 2h, 7d or an ISO 8601 time.")
@click.option("--denied", is_flag=True, help="Only refused requests.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document per line.")
@pass_cli
def list_events(
    cli: CliContext, user: str | None, since: str | None, denied: bool, limit: int, as_json: bool
) -> None:
    """Newest first: time, outcome, who, from where, requested → granted."""
    since_at = parse_since(since, cli.clock.now()) if since else None

    async def run(db: Database) -> list[AuditRecord]:
        return await AuditStore(db).list(subject=user, since=since_at, denied=denied, limit=limit)

    for record in cli.run_db(run):
        if as_json:
            click.echo(record.document)
            continue
        click.echo(_line(record))


def _line(record: AuditRecord) -> str:
    doc = orjson.loads(record.document)
    if doc.get("kind") == "registry":  # a registry notification, next to the token decisions
        return (
            f"{record.at:%Y-%m-%d %H:%M:%S}  {record.outcome:<8} "
            f"{(record.subject or '(anonymous)') + '/registry':<24} "
            f"{record.client_ip or '-':<15} {doc.get('reference', '')}"
        )
    who = f"{record.subject or '(anonymous)'}/{record.source or '-'}"
    granted = "; ".join(f"{g['resource']}:{','.join(g['actions']) or '-'}" for g in doc["granted"])
    outcome = record.outcome if not record.error_code else f"{record.outcome} {record.error_code}"
    return (
        f"{record.at:%Y-%m-%d %H:%M:%S}  {outcome:<8} {who:<24} {record.client_ip or '-':<15} "
        f"{' '.join(doc['requested']) or '(no scope)'} → {granted or '-'}"
    )
