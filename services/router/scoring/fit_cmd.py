"""``leadflow scoring fit``: parsing and printing only; the work is in ``domain/fitting.py``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.router.domain.fitting import FitOptions, FitReport, NotEnoughData, fit_rules
from services.router.domain.scoring import ScoringConfigError
from services.router.scoring.commands import (
    AS_OF_DAYS,
    NEGATIVE_AFTER_DAYS,
    AsOfOption,
    AtOption,
    CsvOption,
    IdColumnOption,
    IgnoreOption,
    MissingOption,
    NegativeAfterOption,
    NegativeOption,
    OutcomeOption,
    PositiveOption,
    SinceOption,
    _csv_rows,
    _fail,
    _history,
    _rules,
    default_rules_file,
    err,
    parse_at,
    parse_since,
    refuse_history_options_with_csv,
)

Rate = Annotated[float, typer.Option(min=0.001, max=0.999)]


def fit_command(
    out: Annotated[Path, typer.Option("--out", help="the scoring file to write")],
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
    base_file: Annotated[
        Path | None,
        typer.Option(
            "--base",
            help="rules to compare with and keep engagement and inactivity from "
            "(default: LEADFLOW_ROUTER_SCORING_FILE or deploy/config/scoring.yaml)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the hold-out split and the folds")] = 7,
    holdout: Annotated[
        float, typer.Option(min=0.05, max=0.5, help="share of rows held out to measure on")
    ] = 0.25,
    max_criteria: Annotated[int, typer.Option(min=1, max=200)] = 40,
    min_outcomes: Annotated[int, typer.Option(min=1)] = 500,
    min_positives: Annotated[
        int, typer.Option(min=1, help="fewest positives, and negatives, to fit on")
    ] = 50,
    mql_rate: Rate = 0.2,
    sql_rate: Rate = 0.05,
    warm_rate: Rate = 0.3,
    hot_rate: Rate = 0.1,
    json_out: Annotated[
        str | None, typer.Option("--json", help="write the report as JSON to a file, - for stdout")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="allow --out to be the router's live scoring file")
    ] = False,
) -> None:
    """Fit scoring rules from outcomes: criteria with points from a logistic regression on
    the fields the rows fill in, thresholds from target rates, written as a commented
    scoring file. From a CSV export (--csv, --outcome) or the router's history."""
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
    live = default_rules_file()
    if not force and out.resolve() == live.resolve():
        _fail(
            f"{out} is the router's live scoring file: write elsewhere, review it, then copy "
            "it in (or pass --force)",
            2,
        )
    base = _rules(base_file)
    now = datetime.now(UTC)
    when = parse_at(at)
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
        source = f"{csv_file.name} (outcome column {outcome!r})"
    else:
        as_of = AS_OF_DAYS if as_of_days is None else as_of_days
        rows = _history(
            parse_since(since),
            NEGATIVE_AFTER_DAYS if negative_after_days is None else negative_after_days,
            as_of,
            when,
        )
        source = (
            "the router's history"
            + (f" of the last {since}" if since else "")
            + f", each lead as of {as_of} days after it arrived"
        )
    options = FitOptions(
        seed=seed,
        holdout=holdout,
        max_criteria=max_criteria,
        min_outcomes=min_outcomes,
        min_positives=min_positives,
        mql_rate=mql_rate,
        sql_rate=sql_rate,
        warm_rate=warm_rate,
        hot_rate=hot_rate,
        source=source,
        fitted_at=now.replace(microsecond=0),
    )
    with err.status("fitting"):
        try:
            result = fit_rules(rows, base=base, options=options)
        except NotEnoughData as exc:
            _fail(f"not enough data to fit: {exc}")
        except ScoringConfigError as exc:  # a defect in the writer: say so, write nothing
            _fail(f"the fitted rules did not load back, so nothing was written: {exc}")
    out.write_text(result.yaml_text)
    document = json.dumps(result.report.to_dict(), indent=2) + "\n"
    if json_out == "-":
        sys.stdout.write(document)
    else:
        print_fit(result.report, Console())
        if json_out is not None:
            Path(json_out).write_text(document)
            err.print(f"report written to {json_out}", highlight=False)
    err.print(
        f"{len(result.rules.criteria)} criteria written to {out} "
        f"(rules version {result.rules.version})",
        highlight=False,
    )


def print_fit(report: FitReport, console: Console) -> None:
    summary = Table(title="Scoring fit (hold-out AUC)", show_header=False)
    summary.add_row("rows fitted on", f"{report.n_train:,} ({report.positives_train:,} positive)")
    summary.add_row(
        "rows held out", f"{report.n_holdout:,} ({report.positives_holdout:,} positive)"
    )
    summary.add_row("AUC, fitted rules", f"{report.auc_learned:.3f}")
    summary.add_row("AUC, base rules", f"{report.auc_base:.3f}")
    summary.add_row("AUC, logistic regression", f"{report.auc_logistic:.3f}")
    t = report.thresholds
    summary.add_row(
        "thresholds", f"warm {t['warm']}, hot {t['hot']}, mql {t['mql']}, sql {t['sql']}"
    )
    summary.add_row(
        "held out by temperature",
        ", ".join(f"{k} {v:.1%}" for k, v in report.temperature_shares.items()),
    )
    summary.add_row(
        "held out by stage", ", ".join(f"{k} {v:.1%}" for k, v in report.stage_shares.items())
    )
    summary.add_row(
        "positives by stage",
        ", ".join(f"{k} {'-' if v is None else f'{v:.1%}'}" for k, v in report.stage_rates.items()),
    )
    summary.add_row(
        "engagement points",
        "off (activity counts are criteria)" if report.engagement_from_counts else "kept",
    )
    console.print(summary)

    criteria = Table(title=f"Criteria ({len(report.criteria)})")
    for col, justify in (("id", "left"), ("label", "left"), ("band", "left")):
        criteria.add_column(col, justify=justify)  # type: ignore[arg-type]
    criteria.add_column("points", justify="right")
    criteria.add_column("rows", justify="right")
    for c in report.criteria:
        criteria.add_row(c.id, c.label, c.band, str(c.points), f"{c.support:.1%}")
    console.print(criteria)

    fields = Table(title="Fields")
    for col in ("field", "kind", "used", "why"):
        fields.add_column(col)
    for f in report.features:
        fields.add_row(f.name, f.kind or "-", "yes" if f.used else "no", f.reason)
    console.print(fields)
