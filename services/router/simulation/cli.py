"""``leadflow routing``: try routing changes on history before they go live."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from services.router.domain.simulation import SimulationReport

routing_app = typer.Typer(
    help="Routing changes tried on history: replay stored leads through a candidate file.",
    no_args_is_help=True,
)


def _database_url() -> str:
    url = os.environ.get("LEADFLOW_DATABASE_URL")
    if url:
        return url
    from shared.stack.stack import Stack

    return Stack().database_url


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]", soft_wrap=True, highlight=False)
    return typer.Exit(2)


@routing_app.command("simulate")
def simulate_command(
    rules: Annotated[
        Path, typer.Option("--rules", help="the candidate routing file (teams, reps, rules)")
    ],
    scoring: Annotated[
        Path | None,
        typer.Option(help="candidate scoring rules (default: the router's scoring file)"),
    ] = None,
    since: Annotated[
        str, typer.Option(help="replay leads first received this long ago: 30d, 12h, 2w, 90m")
    ] = "30d",
    json_out: Annotated[
        str | None, typer.Option("--json", help="also write the report as JSON here ('-': stdout)")
    ] = None,
    show: Annotated[int, typer.Option(min=0, help="changed leads to list")] = 20,
) -> None:
    """Replay the stored history of submissions through a candidate routing file (and
    scoring), against LEADFLOW_DATABASE_URL (or the local stack), and show what would
    change: leads per rep, team and outcome, the queue, capacity hits, fairness and the
    leads that would get another owner. Reads in one read-only transaction; writes nothing."""
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from services.router.domain.scoring import ScoringConfigError, load_scoring_rules
    from services.router.domain.simulation import simulate
    from services.router.settings import CONFIG_DIR
    from services.router.simulation.candidate import CandidateError, load_candidate
    from services.router.simulation.history import History, parse_since, read_history
    from shared import db

    err = Console(stderr=True)
    # the tables go to stdout, unless the JSON does
    out = err if json_out == "-" else Console()
    try:
        window = parse_since(since)
        candidate = load_candidate(rules)
        # the router's scoring file, without the rest of the router's settings (tokens...)
        scoring_path = scoring or Path(
            os.environ.get("LEADFLOW_ROUTER_SCORING_FILE") or CONFIG_DIR / "scoring.yaml"
        )
        scoring_rules = load_scoring_rules(scoring_path)
    except (ValueError, CandidateError, ScoringConfigError) as exc:
        raise _fail(err, " ".join(str(exc).split())) from None
    url = _database_url()

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        reading = progress.add_task("reading history (leads)", total=None)

        def read(done: int, total: int) -> None:
            progress.update(reading, completed=done, total=total)

        async def load() -> History:
            engine = db.create_engine(url, pool_size=1, max_overflow=0)
            try:
                return await read_history(
                    engine, scoring_rules, window=window, now=datetime.now(UTC), progress=read
                )
            finally:
                await engine.dispose()

        try:
            history = asyncio.run(load())
        except (OSError, SQLAlchemyError) as exc:
            progress.stop()
            err.print(
                f"[red]cannot read the history from the database: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:300]}[/red]",
                soft_wrap=True,
                highlight=False,
            )
            raise typer.Exit(1) from None
        replaying = progress.add_task("replaying (arrivals and releases)", total=None)

        def replayed(done: int, total: int) -> None:
            progress.update(replaying, completed=done, total=total)

        report = simulate(
            history.leads, history.releases, candidate, scoring_rules, progress=replayed
        )

    _print(out, report, show, since=history.since, rules=rules, scoring=scoring_path)
    if json_out is not None:
        document = {
            "since": history.since.isoformat(),
            "rules": str(rules),
            "scoring": str(scoring_path),
            "scoring_version": scoring_rules.version,
            **report.to_dict(),
        }
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        if json_out == "-":
            sys.stdout.write(text.decode())
        else:
            Path(json_out).write_bytes(text)
            err.print(f"report written to {json_out}")


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _print(
    console: Console,
    report: SimulationReport,
    show: int,
    *,
    since: datetime,
    rules: Path,
    scoring: Path,
) -> None:
    console.print(
        f"{report.leads:,} leads first received since {since.isoformat(timespec='seconds')}, "
        f"{report.releases:,} releases, replayed through {rules} with scoring {scoring}",
        soft_wrap=True,
        highlight=False,
    )
    reps = Table(title="Leads per rep (first owner)")
    for column in ("rep", "team", "actual", "simulated", "delta"):
        reps.add_column(column, justify="right" if column not in ("rep", "team") else "left")
    for c in report.reps:
        reps.add_row(c.key, c.team_id or "", f"{c.actual:,}", f"{c.simulated:,}", _signed(c.delta))
    console.print(reps)

    teams = Table(title="Leads per team")
    for column in ("team", "actual", "simulated", "delta"):
        teams.add_column(column, justify="left" if column == "team" else "right")
    for c in report.teams:
        teams.add_row(c.key, f"{c.actual:,}", f"{c.simulated:,}", _signed(c.delta))
    console.print(teams)

    outcomes = Table(title="First decision")
    for column in ("outcome", "actual", "simulated", "delta"):
        outcomes.add_column(column, justify="left" if column == "outcome" else "right")
    for c in report.outcomes:
        outcomes.add_row(c.key, f"{c.actual:,}", f"{c.simulated:,}", _signed(c.delta))
    console.print(outcomes)
    console.print(
        f"queue: {report.queue_entries:,} entered, {report.dequeued:,} drained to a rep, "
        f"{report.still_queued:,} still queued at the end"
    )

    if report.capacity_hits:
        hits = Table(title="Capacity hits (times a rep was passed over)")
        for column in ("rep", "at_capacity", "at_daily_cap", "at_weekly_cap"):
            hits.add_column(column, justify="left" if column == "rep" else "right")
        for h in report.capacity_hits:
            hits.add_row(
                h.rep_id, f"{h.at_capacity:,}", f"{h.at_daily_cap:,}", f"{h.at_weekly_cap:,}"
            )
        console.print(hits)
    else:
        console.print("capacity hits: none")

    fair = Table(title="Fairness (share of the team's simulated assignments)")
    for column in ("team", "rep", "weight", "assigned", "share", "weighted share", "deviation"):
        fair.add_column(column, justify="left" if column in ("team", "rep") else "right")
    for team in report.fairness:
        for i, r in enumerate(team.reps):
            fair.add_row(
                team.team_id if i == 0 else "",
                r.rep_id,
                str(r.weight),
                f"{r.assigned:,}",
                f"{r.share:.1%}",
                f"{r.weighted_share:.1%}",
                f"{r.deviation_pp:+.2f} pp",
            )
        if team.reps:
            fair.add_row("", "largest", "", "", "", "", f"{team.max_deviation_pp:.2f} pp")
    console.print(fair)

    changed = Table(
        title=f"Leads that would change owner: {len(report.changed):,}"
        + (f" (first {show})" if len(report.changed) > show else "")
    )
    for column in ("lead", "actual", "simulated", "rule"):
        changed.add_column(column)
    for lead in report.changed[:show]:
        changed.add_row(
            lead.lead_id,
            _who(lead.actual_outcome, lead.actual_rep_id, lead.actual_team_id),
            _who(lead.simulated_outcome, lead.simulated_rep_id, lead.simulated_team_id),
            lead.rule or "(none)",
        )
    if show:
        console.print(changed)
    else:
        console.print(f"leads that would change owner: {len(report.changed):,}")


def _who(outcome: str | None, rep_id: str | None, team_id: str | None) -> str:
    if rep_id is not None:
        return f"{rep_id} ({team_id})"
    return outcome or "no decision"
