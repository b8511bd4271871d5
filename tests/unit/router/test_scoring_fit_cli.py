"""``leadflow scoring fit --csv`` on a lead export with outcomes."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.router.domain.scoring import load_scoring_rules
from shared.cli import app

BASE = """
thresholds: {warm: 10, hot: 20, mql: 12, sql: 22}
engagement:
  points: {page_visit: 2}
  cap: 20
  half_life_days: 30
inactivity: {after_days: 90, penalty: 0}
criteria:
  - id: senior
    label: Senior title
    band: most_important
    points: 12
    conditions: [{field: title, contains_any: [vp, cto, head of]}]
"""
AT = "2026-03-01T12:00:00Z"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """800 leads: senior titles, time on the website and Google as a source convert more."""
    rng = random.Random(9)
    rows: list[list[object]] = [
        ["Lead ID", "Job Title", "Country", "Total Time Spent on Website", "Lead Source", "Won"]
    ]
    for i in range(800):
        title = rng.choice(["VP Sales", "CTO", "Intern", "", "Analyst", "Engineer"])
        seconds = 0 if rng.random() < 0.35 else int(rng.paretovariate(1.2) * 60)
        source = rng.choice(["Google", "Organic Search", "Direct Traffic", "Referral"])
        logit = (
            -1.5
            + (1.5 if title in ("VP Sales", "CTO") else 0.0)
            + 0.4 * math.log1p(seconds / 60)
            + (0.8 if source == "Google" else 0.0)
        )
        won = rng.random() < 1 / (1 + math.exp(-logit))
        rows.append(
            [
                f"00Q{i:09d}",
                title,
                rng.choice(["Germany", "US", "", "India"]),
                seconds,
                source,
                "Yes" if won else "No",
            ]
        )
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(BASE)
    return path


def invoke(*args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["scoring", *map(str, args)], env=env, catch_exceptions=False)


def test_fit_writes_a_scoring_file_prints_the_comparison_and_a_json_report(
    export: Path, base: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "fitted.yaml", tmp_path / "report.json"
    result = invoke(
        "fit", "--csv", export, "--outcome", "won", "--at", AT, "--base", base,
        "--out", out, "--json", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "AUC, fitted rules" in result.output and "AUC, base rules" in result.output
    assert "column 'Lead ID' left out: it looks like an identifier" in result.output
    rules = load_scoring_rules(out)
    assert rules.criteria
    data = json.loads(report.read_text())
    assert data["n_train"] + data["n_holdout"] == 800
    assert data["auc"]["learned"] > 0.65
    assert data["auc"]["learned"] >= data["auc"]["logistic"] - 0.02
    used = {c["field"] for c in data["criteria"]}
    assert {"title", "custom.lead_source", "custom.total_time_spent_on_website"} <= used
    assert f"from {export.name} (outcome column 'won')" in out.read_text()
    # no activity counts in the export: the base engagement points stay
    assert rules.engagement_points == {"page_visit": 2}


def test_fit_refuses_the_live_file_unless_forced(export: Path, base: Path, tmp_path: Path) -> None:
    live = tmp_path / "live.yaml"
    live.write_text(BASE)
    env = {"LEADFLOW_ROUTER_SCORING_FILE": str(live)}
    args = ("fit", "--csv", export, "--outcome", "Won", "--at", AT, "--out", live)
    refused = invoke(*args, env=env)
    assert refused.exit_code == 2
    assert "is the router's live scoring file" in refused.output
    assert live.read_text() == BASE
    forced = invoke(*args, "--force", env=env)
    assert forced.exit_code == 0, forced.output
    assert load_scoring_rules(live).criteria != load_scoring_rules(base).criteria


def test_fit_on_too_little_data_says_how_much_there_is(
    export: Path, base: Path, tmp_path: Path
) -> None:
    result = invoke(
        "fit", "--csv", export, "--outcome", "Won", "--base", base,
        "--out", tmp_path / "x.yaml", "--min-outcomes", "1000",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "not enough data to fit: 800 rows with a known outcome" in result.output
    assert "at least 1000" in result.output
    assert not (tmp_path / "x.yaml").exists()


EXPORTS = Path(__file__).resolve().parents[2] / "fixtures" / "exports"


@pytest.mark.parametrize(
    ("export", "options"),
    [
        ("marketing_export.csv", ("--outcome", "Converted", "--missing", "Select")),
        ("crm_export.csv", ("--outcome", "Lead Status")),
    ],
)
def test_fit_on_exports_as_tools_write_them(
    export: str, options: tuple[str, ...], tmp_path: Path
) -> None:
    """Title-case headers, identifiers, placeholders, blanks, skewed numbers, currency text,
    open CRM statuses: the fit finds the signal the export holds and writes a file that loads."""
    out, report = tmp_path / "fitted.yaml", tmp_path / "report.json"
    result = invoke(
        "fit", "--csv", EXPORTS / export, *options, "--at", AT,
        "--out", out, "--json", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["auc"]["learned"] > 0.68
    assert data["auc"]["learned"] >= data["auc"]["logistic"] - 0.02
    rules = load_scoring_rules(out)
    assert 0 < len(rules.criteria) <= 40
    fields = {c.field for criterion in rules.criteria for c in criterion.conditions}
    assert not fields & {"email", "phone", "first_name", "last_name"}
    values = [
        v
        for criterion in rules.criteria
        for c in criterion.conditions
        if isinstance(c.value, tuple)
        for v in c.value
    ]
    assert "select" not in [str(v).casefold() for v in values]  # a placeholder, not a value
    if export == "crm_export.csv":  # "$7,188,653" is a number: cut in ranges, not values
        revenue = [c for criterion in rules.criteria for c in criterion.conditions
                   if c.field == "custom.annual_revenue"]  # fmt: skip
        assert all(c.op in ("at_most", "above", "present") for c in revenue)


@pytest.mark.parametrize(
    "history_only", [["--since", "180d"], ["--negative-after-days", "30"], ["--as-of-days", "0"]]
)
def test_fit_refuses_history_options_with_a_csv(
    export: Path, base: Path, tmp_path: Path, history_only: list[str]
) -> None:
    out = tmp_path / "fitted.yaml"
    refused = invoke(
        "fit", "--csv", export, "--outcome", "Won", "--base", base, "--out", out, *history_only
    )
    assert refused.exit_code == 2, refused.output
    assert "go with the history, not --csv" in " ".join(refused.output.replace("│", " ").split())
    assert not out.exists()
