"""``regauth access request|list|approve|deny|revoke``: temporary access (a thin caller of
regauth.admin.access_requests; the approval service decides through its signed callback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from regauth.cli.context import CliContext, pass_cli

if TYPE_CHECKING:
    from regauth.admin.access_requests import AccessPolicy
    from regauth.events.approvals import AccessRequestView


@click.group("access")
def command() -> None:
    """Request, list, approve, deny and revoke temporary access."""


def _policy(cli: CliContext) -> AccessPolicy:
    from regauth.admin.access_requests import AccessPolicy

    return AccessPolicy.of(cli.settings.events.approval)


def parse_duration(text: str) -> int:
    """``90m``, ``2h``, ``1d`` (or plain seconds) → seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text.isdigit():
        return int(text)
    if text[:-1].isdigit() and text[-1:] in units:
        return int(text[:-1]) * units[text[-1]]
    raise click.BadParameter("use 30m, 2h, 1d or seconds")


def _line(v: AccessRequestView) -> str:
    until = f" until {v.expires_at:%Y-%m-%d %H:%M:%S}" if v.expires_at else ""
    by = f" by {v.decided_by}" if v.decided_by else ""
    return (
        f"#{v.id:<5} {v.state:<9} {v.subject:<16} {v.repository} {','.join(v.actions)} "
        f"for {v.duration_seconds}s{by}{until}  {v.reason}"
    )


@command.command("request")
@click.option("--user", "subject", required=True, help="Who gets the access.")
@click.option("--repo", "repository", required=True, help="One repository, e.g. team/secret.")
@click.option("--actions", default="pull", show_default=True, help="Comma-separated.")
@click.option("--for", "duration", default="1h", show_default=True, help="30m, 2h, 1d.")
@click.option("--reason", default="", help="Shown to the approver.")
@pass_cli
def request(
    cli: CliContext, subject: str, repository: str, actions: str, duration: str, reason: str
) -> None:
    """Ask the approval service; prints the request id (access.requested is emitted)."""
    if not cli.settings.events.approval.enabled:
        raise click.UsageError(
            "nobody would answer: enable the approval callback ([events.approval] enabled = true)"
        )
    from regauth.admin.access_requests import RequestAccess, request_access

    seconds = parse_duration(duration)
    wanted = tuple(a.strip() for a in actions.split(",") if a.strip())
    cmd = RequestAccess(subject, repository, wanted, seconds, reason)
    click.echo(
        _line(cli.run_admin(lambda uow, actor: request_access(uow, actor, cmd, _policy(cli))))
    )


@command.command("list")
@click.option("--user", "subject", default=None)
@click.option(
    "--state",
    type=click.Choice(["requested", "approved", "denied", "revoked", "expired"]),
    default=None,
)
@click.option("--limit", default=50, show_default=True)
@pass_cli
def list_requests(cli: CliContext, subject: str | None, state: str | None, limit: int) -> None:
    """Newest first."""
    from regauth.admin.access_requests import ListAccessRequests, list_access_requests

    cmd = ListAccessRequests(subject, state, limit)
    for view in cli.run_admin(lambda uow, actor: list_access_requests(uow, actor, cmd)):
        click.echo(_line(view))


@command.command("revoke")
@click.argument("request_id", type=int)
@pass_cli
def revoke(cli: CliContext, request_id: int) -> None:
    """End a request or a grant now (access.revoked is emitted)."""
    from regauth.admin.access_requests import AccessRequestId, revoke_access_request

    cmd = AccessRequestId(request_id)
    click.echo(_line(cli.run_admin(lambda uow, actor: revoke_access_request(uow, actor, cmd))))


@command.command("approve")
@click.argument("request_id", type=int)
@pass_cli
def approve(cli: CliContext, request_id: int) -> None:
    """Approve a pending request yourself: a grant from now on (access.approved is emitted)."""
    _decide(cli, request_id, "approve")


@command.command("deny")
@click.argument("request_id", type=int)
@pass_cli
def deny(cli: CliContext, request_id: int) -> None:
    """Deny a pending request (access.denied is emitted)."""
    _decide(cli, request_id, "deny")


def _decide(cli: CliContext, request_id: int, decision: str) -> None:
    from regauth.admin.access_requests import DecideAccessRequest, decide_access_request

    cmd = DecideAccessRequest(request_id, decision)
    click.echo(_line(cli.run_admin(lambda uow, actor: decide_access_request(uow, actor, cmd))))
