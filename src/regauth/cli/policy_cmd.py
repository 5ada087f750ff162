"""``regauth policy test FILE``: a table of expected decisions, checked against the pipeline.

Each ``[[case]]`` defines a principal (user or anonymous, groups, claims,
optional token rules), one or more scopes, and the expected actions per
scope (or an expected error code). The principal is taken from the file, the
rules from the active configuration and database — so the file documents
and pins the policy an instance actually enforces. Exit status 1 on any
mismatch.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regauth.authz.config_rules import compile_rules
from regauth.cli.check_cmd import render
from regauth.cli.context import CliContext, pass_cli
from regauth.config.rules import RuleSettings
from regauth.domain.principal import ANONYMOUS, Principal
from regauth.domain.scope import parse_scopes
from regauth.errors import MalformedScope, ProblemError
from regauth.ports import CallerFacts
from regauth.store import Database


class Case(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    user: str = ""
    source: str = "local"
    groups: tuple[str, ...] = ()
    claims: dict[str, object] = Field(default_factory=dict)
    token_rules: tuple[RuleSettings, ...] | None = None
    scope: str
    service: str | None = None
    client_ip: str | None = None
    expect: tuple[str, ...] = ()
    expect_error: str = ""

    def principal(self) -> Principal:
        if not self.user:
            return ANONYMOUS if not self.claims else Principal("", "anonymous", claims=self.claims)
        rules = None
        if self.token_rules is not None:
            rules = compile_rules(self.token_rules, prefix="case-token")
        token_id = "case-token" if rules is not None else None
        groups = frozenset(self.groups)
        return Principal(self.user, self.source, groups, self.claims, token_id, rules)


class CaseFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    case: tuple[Case, ...]


@click.group("policy")
def command() -> None:
    """Test the authorization policy."""


@command.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--verbose", "-v", is_flag=True, help="Print the trace of every case.")
@pass_cli
def test(cli: CliContext, file: str, verbose: bool) -> None:
    """Run the cases in FILE; exit 1 on any mismatch."""
    cases = _load(Path(file))
    default_service = (cli.settings.token.services or ("",))[0]

    async def run(db: Database) -> int:
        decider, close = cli.decider(db, webhooks=False)
        failures = 0
        try:
            for number, case in enumerate(cases, start=1):
                failures += not await _run_case(decider, case, number, default_service, verbose)
        finally:
            await close()
        return failures

    failures = cli.run_db(run, scratch_if_missing=True)
    click.echo(f"{len(cases) - failures} passed, {failures} failed")
    if failures:
        raise SystemExit(1)


async def _run_case(decider: object, case: Case, number: int, service: str, verbose: bool) -> bool:
    from regauth.service import Decider

    assert isinstance(decider, Decider)
    label = case.name or f"case {number}"
    facts = CallerFacts(client_ip=case.client_ip, service=case.service or service)
    try:
        grants = await decider.decide(case.principal(), parse_scopes([case.scope]), facts)
    except ProblemError as exc:
        ok = exc.code == case.expect_error
        click.echo(f"{'PASS' if ok else 'FAIL'}  {label}: {exc.code}")
        return ok
    got = tuple(a for g in grants for a in g.actions)
    ok = not case.expect_error and sorted(got) == sorted(case.expect)
    detail = "" if ok else f" (expected {','.join(case.expect) or case.expect_error or 'nothing'})"
    click.echo(f"{'PASS' if ok else 'FAIL'}  {label}: {','.join(got) or 'nothing'}{detail}")
    if verbose or not ok:
        for grant in grants:
            click.echo("    " + render(grant).replace("\n", "\n    "))
    return ok


def _load(path: Path) -> tuple[Case, ...]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        cases = CaseFile.model_validate(data).case
        for case in cases:
            parse_scopes([case.scope])
    except (tomllib.TOMLDecodeError, ValidationError, MalformedScope) as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    return cases
