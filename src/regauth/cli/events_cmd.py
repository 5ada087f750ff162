"""``regauth events list|dead|retry``: the outbox of signed webhook deliveries."""

from __future__ import annotations

import click

from regauth.cli.context import CliContext, pass_cli
from regauth.events.outbox import DEAD, DeliveryView, Outbox
from regauth.store import Database


@click.group("events")
def command() -> None:
    """Inspect and retry event deliveries."""


def _line(d: DeliveryView) -> str:
    error = f"  {d.last_error}" if d.last_error else ""
    return (
        f"{d.id:>6}  {d.at:%Y-%m-%d %H:%M:%S}  {d.type:<18} {d.endpoint:<16} {d.state:<9} "
        f"attempts={d.attempts} event={d.event_id}{error}"
    )


def _show(cli: CliContext, state: str | None, event_id: str | None, limit: int) -> None:
    async def run(db: Database) -> list[DeliveryView]:
        return await Outbox(db).deliveries(state=state, event_id=event_id, limit=limit)

    for item in cli.run_db(run):
        click.echo(_line(item))


@command.command("list")
@click.option("--state", type=click.Choice(["pending", "delivered", "dead"]), default=None)
@click.option("--event", "event_id", default=None, help="Only this event id.")
@click.option("--limit", default=50, show_default=True)
@pass_cli
def list_deliveries(cli: CliContext, state: str | None, event_id: str | None, limit: int) -> None:
    """Newest first: delivery id, time, type, webhook, state, attempts, event id."""
    _show(cli, state, event_id, limit)


@command.command("dead")
@click.option("--limit", default=50, show_default=True)
@pass_cli
def dead(cli: CliContext, limit: int) -> None:
    """Dead-lettered deliveries (retry them with `regauth events retry`)."""
    _show(cli, DEAD, None, limit)


@command.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Every dead-lettered delivery.")
@pass_cli
def retry(cli: CliContext, ids: tuple[int, ...], all_dead: bool) -> None:
    """Put dead deliveries back in line (due now, attempts reset)."""
    if not ids and not all_dead:
        raise click.UsageError("name delivery ids or pass --all-dead")

    async def run(db: Database) -> int:
        return await Outbox(db).retry(cli.clock.now(), ids, all_dead=all_dead)

    click.echo(f"{cli.run_db(run)} deliveries queued again")
