"""``leadflow scoring evaluate`` and ``leadflow scoring score``: parsing and printing only;
the work is in ``domain/datasets.py``, ``domain/evaluation.py`` and ``domain/scoring.py``."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from services.ingest.domain.badge_scans import FileInvalid, decode, detect_delimiter
from services.router.domain.datasets import (
    ColumnMap,
    DatasetError,
    ReadCounts,
    map_columns,
    read_rows,
)
from services.router.domain.evaluation import Evaluation, EvaluationError, Tally, evaluate
from services.router.domain.scoring import (
    ScoringConfigError,
    ScoringRules,
    load_scoring_rules,
    score,
)
from services.router.domain.scoring_rows import ScoringRow

err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, for logs and grep
SAMPLE_ROWS = 1000  # rows looked at to recognise identifier columns
SHOWN_PROBLEMS = 5
_SINCE_RE = re.compile(r"^\s*(\d+)\s*([dwh])\s*$")
_SINCE_UNITS = {"d": "days", "w": "weeks", "h": "hours"}


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def default_rules_file() -> Path:
    from services.router.settings import CONFIG_DIR

    return Path(os.environ.get("LEADFLOW_ROUTER_SCORING_FILE") or CONFIG_DIR / "scoring.yaml")


def _rules(path: Path | None) -> ScoringRules:
    try:
        return load_scoring_rules(path or default_rules_file())
    except ScoringConfigError as exc:
        _fail(str(exc))


def parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 time like 2026-03-01T12:00:00Z", param_hint="--at"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def parse_since(value: str | None) -> timedelta | None:
    if value is None:
        return None
    m = _SINCE_RE.match(value)
    if not m:
        raise typer.BadParameter(
            f"{value!r} is not a span like 180d, 12w or 48h", param_hint="--since"
        )
    return timedelta(**{_SINCE_UNITS[m.group(2)]: int(m.group(1))})


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and data rows of a CSV file (UTF-8 or Windows-1252; , ; tab or |)."""
    try:
        text = decode(path.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", 2)
    except FileInvalid as exc:
        _fail(f"{path}: {exc}")
    reader = csv.reader(
        io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=detect_delimiter(text)
    )
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        _fail(f"{path} is empty: it needs a header row")
    except csv.Error as exc:
        _fail(f"{path}: not a CSV file: {exc}")
    try:
        rows = list(reader)
    except csv.Error as exc:
        _fail(f"{path}: not a CSV file: {exc}")
    return headers, rows


# PostgreSQL down, unreachable or refusing: one sentence and exit 1, not a traceback.
DATABASE_ERRORS = (OSError, SQLAlchemyError)

# The options of a CSV with outcomes, shared by evaluate and fit.
CsvOption = Annotated[
    Path | None, typer.Option("--csv", help="a CSV export with outcomes, instead of history")
]
OutcomeOption = Annotated[
    str | None, typer.Option("--outcome", help="the CSV's outcome column (with --csv)")
]
IdColumnOption = Annotated[str | None, typer.Option(help="the CSV's id column")]
IgnoreOption = Annotated[
    list[str] | None, typer.Option("--ignore", help="a CSV column to leave out (repeatable)")
]
AtOption = Annotated[
    str | None, typer.Option(help="ISO-8601 time the CSV rows are scored at (default now)")
]

# --missing: an export's own placeholders for an empty cell, e.g. a form's "Select".
MissingOption = Annotated[
    list[str] | None,
    typer.Option(
        "--missing",
        help="a CSV value that means 'not filled in', e.g. Select (repeatable; besides blank, "
        "NA, N/A, nan, null, none, -)",
    ),
]


PositiveOption = Annotated[
    list[str] | None,
    typer.Option(
        "--positive",
        help="an outcome value that is a conversion, e.g. 'Closed Won' (repeatable; with "
        "--negative too, other values are unknown and left out)",
    ),
]
NegativeOption = Annotated[
    list[str] | None,
    typer.Option("--negative", help="an outcome value that is a loss (repeatable)"),
]


def _map(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    id_column: str | None,
    outcome_column: str | None,
    ignore: Sequence[str],
    missing: Sequence[str] = (),
    positive: Sequence[str] = (),
    negative: Sequence[str] = (),
) -> ColumnMap:
    try:
        cmap = map_columns(
            headers,
            id_column=id_column,
            outcome_column=outcome_column,
            ignore=ignore,
            sample=rows[:SAMPLE_ROWS],
            missing=missing,
            positive=positive,
            negative=negative,
        )
    except DatasetError as exc:
        _fail(str(exc), 2)
    for note in cmap.notes():
        err.print(note, highlight=False, markup=False)
    return cmap


def _report_problems(counts: ReadCounts) -> None:
    if not counts.skipped:
        return
    err.print(f"{counts.skipped:,} rows skipped:", highlight=False)
    for problem in counts.problems[:SHOWN_PROBLEMS]:
        err.print(f"  {problem}", highlight=False, markup=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _csv_rows(
    csv_file: Path,
    *,
    outcome: str,
    id_column: str | None,
    ignore: Sequence[str],
    at: datetime,
    missing: Sequence[str] = (),
    positive: Sequence[str] = (),
    negative: Sequence[str] = (),
) -> list[ScoringRow]:
    headers, raw = read_csv(csv_file)
    cmap = _map(
        headers,
        raw,
        id_column=id_column,
        outcome_column=outcome,
        ignore=ignore,
        missing=missing,
        positive=positive,
        negative=negative,
    )
    counts = ReadCounts()
    rows = list(read_rows(cmap, raw, at=at, counts=counts))
    bad_outcomes = [p for p in counts.problems if p.problem == "not an outcome"]
    if bad_outcomes:
        shown = "; ".join(f"line {p.line}: {p.value!r}" for p in bad_outcomes[:SHOWN_PROBLEMS])
        _fail(
            f"column {outcome!r} has values that are not outcomes ({shown}); use 1/0, "
            "true/false, yes/no, y/n, converted/not converted or won/lost, or name the "
            "column's own values with --positive and --negative"
        )
    _report_problems(counts)
    return rows


def _database_url() -> str:
    url = os.environ.get("LEADFLOW_DATABASE_URL")
    if url:
        return url
    from shared.stack.stack import Stack

    return Stack().database_url


def _store(result: Evaluation, source: str, parameters: dict[str, Any], at: datetime) -> str:
    import asyncio

    from services.router.scoring.store import record_evaluation
    from shared import db

    async def run() -> str:
        engine = db.create_engine(_database_url(), pool_size=1)
        try:
            evaluation_id = await record_evaluation(
                engine,
                rules_version=result.rules_version or "",
                source=source,
                parameters=parameters,
                report=result.to_dict(),
                computed_at=at,
            )
        finally:
            await engine.dispose()
        return str(evaluation_id)

    try:
        return asyncio.run(run())
    except DATABASE_ERRORS as exc:
        _fail(f"cannot store the evaluation in the database: {type(exc).__name__}: {exc}")


NEGATIVE_AFTER_DAYS = 90
AS_OF_DAYS = 14

# The history's options: None when not given, so that --csv can refuse them.
SinceOption = Annotated[
    str | None, typer.Option(help="history: leads received in the last 180d / 12w / 48h")
]
NegativeAfterOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help=f"history: not converted after this many days is negative [default: "
        f"{NEGATIVE_AFTER_DAYS}]",
    ),
]
AsOfOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="history: score each lead as of this many days after it arrived, whatever its "
        f"outcome (0: at arrival); more recent leads are left out [default: {AS_OF_DAYS}]",
    ),
]


def refuse_history_options_with_csv(
    csv_file: Path | None, since: str | None, negative_after_days: int | None, as_of: int | None
) -> None:
    if csv_file is not None and (
        since is not None or negative_after_days is not None or as_of is not None
    ):
        raise typer.BadParameter(
            "--since, --negative-after-days and --as-of-days go with the history, not --csv",
            param_hint="--csv",
        )


def _read_history(
    since: timedelta | None,
    negative_after_days: int,
    as_of_days: int,
    now: datetime,
    label: str,
    take: Callable[[list[ScoringRow]], None],
) -> None:
    """The router's history a page at a time, each page handed to ``take``, with a
    progress bar that follows the reading."""
    import asyncio

    from services.router.scoring.history import history_pages
    from shared import db

    async def run() -> None:
        engine = db.create_engine(_database_url(), pool_size=1)
        try:
            with _progress() as progress:
                task = progress.add_task(label, total=None)

                def moved(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                async for page in history_pages(
                    engine,
                    since=since,
                    negative_after_days=negative_after_days,
                    as_of_days=as_of_days,
                    now=now,
                    progress=moved,
                ):
                    take(page)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except DATABASE_ERRORS as exc:
        _fail(f"cannot read the history from the database: {type(exc).__name__}: {exc}")


def _history(
    since: timedelta | None, negative_after_days: int, as_of_days: int, now: datetime
) -> list[ScoringRow]:
    """Every history row in one list (for fit, which needs them all)."""
    rows: list[ScoringRow] = []
    _read_history(since, negative_after_days, as_of_days, now, "reading leads", rows.extend)
    return rows


def _history_tally(
    since: timedelta | None,
    negative_after_days: int,
    as_of_days: int,
    now: datetime,
    rules: ScoringRules,
) -> Tally:
    """The history scored a page at a time: only each lead's score and outcome are kept."""
    tally = Tally()

    def take(page: list[ScoringRow]) -> None:
        for row in page:
            tally.add(row, rules)

    _read_history(since, negative_after_days, as_of_days, now, "reading and scoring leads", take)
    return tally


def evaluate_command(
    rules_file: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="scoring rules (default: LEADFLOW_ROUTER_SCORING_FILE or deploy/config/scoring.yaml)",
        ),
    ] = None,
    csv_file: CsvOption = None,
    outcome: OutcomeOption = None,
    id_column: IdColumnOption = None,
    ignore: IgnoreOption = None,
    missing: MissingOption = None,
    positive: PositiveOption = None,
    negative: NegativeOption = None,
    at: AtOption = None,
    since: SinceOption = None,
    negative_after_days: NegativeAfterOption = None,
    as_of_days: AsOfOption = None,
    json_out: Annotated[
        str | None,
        typer.Option("--json", help="write the evaluation as JSON to a file, - for stdout"),
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="also store the evaluation in the router's database (LEADFLOW_DATABASE_URL)",
        ),
    ] = False,
) -> None:
    """How well the rules rank outcomes: AUC, lift by decile, conversion by temperature and
    stage, calibration. From a CSV export (--csv, --outcome) or the router's history
    (LEADFLOW_DATABASE_URL, or the local stack)."""
    if csv_file is not None and outcome is None:
        raise typer.BadParameter("--csv needs --outcome COLUMN", param_hint="--outcome")
    if csv_file is None and (
        outcome or id_column or ignore or missing or positive or negative or at
    ):
        raise typer.BadParameter(
            "--outcome, --id-column, --ignore, --missing, --positive, --negative and --at go "
            "with --csv",
            param_hint="--csv",
        )
    refuse_history_options_with_csv(csv_file, since, negative_after_days, as_of_days)
    rules = _rules(rules_file)
    when = parse_at(at)
    parameters: dict[str, Any]
    if csv_file is not None:
        assert outcome is not None
        rows = _csv_rows(
            csv_file,
            outcome=outcome,
            id_column=id_column,
            ignore=ignore or [],
            at=when,
            missing=missing or [],
            positive=positive or [],
            negative=negative or [],
        )
        where = str(csv_file)
        parameters = {
            "file": csv_file.name,
            "outcome": outcome,
            "id_column": id_column,
            "ignore": list(ignore or []),
            "missing": list(missing or []),
            "positive": list(positive or []),
            "negative": list(negative or []),
            "at": when.isoformat(),
        }
        _check_outcomes(
            sum(1 for r in rows if r.outcome is not None),
            sum(1 for r in rows if r.outcome),
            where,
            store=store,
        )
        with _progress() as progress:
            task = progress.add_task("scoring", total=len(rows))
            try:
                result = evaluate(
                    rows, rules, progress=lambda done, total: progress.update(task, completed=done)
                )
            except EvaluationError as exc:
                _fail(str(exc))
    else:
        days = NEGATIVE_AFTER_DAYS if negative_after_days is None else negative_after_days
        as_of = AS_OF_DAYS if as_of_days is None else as_of_days
        tally = _history_tally(parse_since(since), days, as_of, when, rules)
        parameters = {"since": since, "negative_after_days": days, "as_of_days": as_of}
        _check_outcomes(len(tally.outcomes), tally.positives, "the router's history", store=store)
        try:
            result = tally.evaluation(rules.version)
        except EvaluationError as exc:
            _fail(str(exc))
    if json_out == "-":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        print_evaluation(result, Console())
    if json_out not in (None, "-"):
        Path(json_out).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        err.print(f"evaluation written to {json_out}", highlight=False)
    if store:
        source = "csv" if csv_file is not None else "history"
        evaluation_id = _store(result, source, parameters, datetime.now(UTC))
        err.print(
            f"evaluation {evaluation_id} of rules version {result.rules_version} stored",
            highlight=False,
        )


def _check_outcomes(known: int, positives: int, where: str, *, store: bool) -> None:
    if not known:
        _nothing_to_evaluate(f"no rows with an outcome in {where}", store=store)
    if positives in (0, known):
        which = "positive" if positives else "negative"
        _nothing_to_evaluate(
            f"all {known:,} rows with an outcome in {where} are {which}: "
            "evaluating needs both outcomes",
            store=store,
        )


def _nothing_to_evaluate(message: str, *, store: bool) -> NoReturn:
    """Too little to evaluate. A scheduled ``--store`` run (a new installation has no
    outcomes yet) says so and succeeds, storing nothing; anything else is an error."""
    if store:
        err.print(f"{message}; nothing stored", highlight=False)
        raise typer.Exit(0)
    _fail(message)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def print_evaluation(result: Evaluation, console: Console) -> None:
    summary = Table(title="Scoring evaluation", show_header=False)
    summary.add_row("rules version", result.rules_version or "-")
    summary.add_row("rows", f"{result.n:,}")
    summary.add_row("positives", f"{result.positives:,}")
    summary.add_row("base rate", _pct(result.base_rate))
    summary.add_row("AUC", "-" if result.auc is None else f"{result.auc:.3f}")
    summary.add_row("Brier score", "-" if result.brier is None else f"{result.brier:.4f}")
    if result.unknown_outcomes:
        summary.add_row("left out (no outcome)", f"{result.unknown_outcomes:,}")
    console.print(summary)

    deciles = Table(title="Lift by decile (highest scores first; ties kept together)")
    for col in ("decile", "scores", "n", "positives", "rate", "lift", "captured"):
        deciles.add_column(col, justify="right")
    for d in result.deciles:
        deciles.add_row(
            str(d.decile),
            f"{d.min_score:g}..{d.max_score:g}",
            f"{d.n:,}",
            f"{d.positives:,}",
            _pct(d.rate),
            f"{d.lift:.2f}",
            _pct(d.captured),
        )
    console.print(deciles)

    for title, groups in (("By temperature", result.by_temperature), ("By stage", result.by_stage)):
        table = Table(title=title)
        for col in ("group", "n", "positives", "rate"):
            table.add_column(col, justify="right")
        for g in groups:
            table.add_row(g.group, f"{g.n:,}", f"{g.positives:,}", _pct(g.rate))
        console.print(table)

    calibration = Table(title="Calibration (Platt scaling on the total)")
    for col in ("band", "n", "mean score", "observed", "predicted"):
        calibration.add_column(col, justify="right")
    for b in result.calibration:
        calibration.add_row(
            str(b.band),
            f"{b.n:,}",
            f"{b.mean_score:.1f}",
            _pct(b.observed_rate),
            _pct(b.predicted_rate),
        )
    console.print(calibration)


def score_records(rows: Iterable[ScoringRow], rules: ScoringRules) -> Iterator[dict[str, Any]]:
    """One output record per row: its id and its score."""
    for row in rows:
        s = score(row.lead, row.activities, rules, row.at).to_dict()
        yield {"id": row.id, **s}


OUTPUT_COLUMNS = (
    "id",
    "total",
    "fit",
    "engagement",
    "temperature",
    "stage",
    "rules_version",
    "breakdown",
)


def score_command(
    file: Annotated[Path, typer.Argument(help="the CSV to score")],
    rules_file: Annotated[Path, typer.Option("--rules", help="the scoring rules file")],
    at: Annotated[
        str | None, typer.Option(help="ISO-8601 time to score at (default now, UTC)")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="the id column (default: row-<line>)")
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="a column to leave out (repeatable)")
    ] = None,
    missing: MissingOption = None,
    fmt: Annotated[Literal["csv", "json"], typer.Option("--format")] = "csv",
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Score every row of a CSV with the rules, exactly as the router would: one output row
    per input row with the total, fit, engagement, temperature, stage and breakdown."""
    rules = _rules(rules_file)
    when = parse_at(at)
    headers, raw = read_csv(file)
    cmap = _map(
        headers,
        raw,
        id_column=id_column,
        outcome_column=None,
        ignore=ignore or [],
        missing=missing or [],
    )
    counts = ReadCounts()
    rows = read_rows(cmap, raw, at=when, counts=counts)
    if out is None:
        written = write_scores(score_records(rows, rules), fmt, sys.stdout)
    else:
        with out.open("w", newline="") as target:
            written = write_scores(score_records(rows, rules), fmt, target)
        err.print(f"{written:,} rows scored into {out}", highlight=False)
    _report_problems(counts)


def write_scores(records: Iterable[dict[str, Any]], fmt: str, target: TextIO) -> int:
    """Write score records one at a time (a large file never sits in memory); their count."""
    written = 0
    if fmt == "json":
        target.write("[")
        for record in records:
            target.write(",\n" if written else "\n")
            target.write(textwrap.indent(json.dumps(record, indent=2), "  "))
            written += 1
        target.write("\n]\n" if written else "]\n")
        return written
    writer = csv.DictWriter(target, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({**record, "breakdown": json.dumps(record["breakdown"])})
        written += 1
    return written
