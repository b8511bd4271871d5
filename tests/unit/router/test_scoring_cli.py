"""``leadflow scoring evaluate --csv`` and ``leadflow scoring score`` on a messy CSV export."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app

RULES = """
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
  - id: time_on_site
    label: 300 seconds or more on the website
    band: very_important
    points: 5
    conditions: [{field: custom.total_time_spent_on_website, at_least: 300}]
  - id: from_google
    label: Came from Google
    band: valid
    points: 2
    conditions: [{field: custom.lead_source, equals: google}]
"""
AT = "2026-03-01T12:00:00Z"


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """A lead export: an identifier column, blanks and NA, free text, a skewed number."""
    rng = random.Random(5)
    rows: list[list[object]] = [
        [
            "Prospect ID",
            "Job Title",
            "Country",
            "Total Time Spent on Website",
            "Page Visit Count",
            "Lead Source",
            "Notes",
            "Converted",
        ]
    ]
    for i in range(120):
        title = rng.choice(["VP Sales", "CTO", "Intern", "", "NA", "Head of IT", "Analyst"])
        seconds: object = int(rng.paretovariate(1.1) * 60) if i % 9 else rng.choice(["", "NA"])
        senior = title in ("VP Sales", "CTO", "Head of IT")
        converted = rng.random() < (0.7 if senior else 0.15)
        rows.append(
            [
                f"b6e0be79-{i:05d}",
                title,
                rng.choice(["Germany", "US", "n/a", "", "India"]),
                seconds,
                rng.randint(0, 6),
                rng.choice(["Google", "Organic Search", "Direct Traffic", "null"]),
                "wants a call back next week" if i % 4 == 0 else "",
                rng.choice(["Yes", "1", "converted"]) if converted else rng.choice(["No", "0", ""]),
            ]
        )
    return write_csv(tmp_path / "leads.csv", rows)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "scoring.yaml"
    path.write_text(RULES)
    return path


def invoke(*args: str | Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["scoring", *map(str, args)], catch_exceptions=False)


def test_evaluate_a_csv_prints_tables_notes_and_writes_json(
    messy: Path, rules: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    result = invoke(
        "evaluate", "--rules", rules, "--csv", messy, "--outcome", "converted",
        "--at", AT, "--json", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.output
    assert "column 'Lead Source' read as custom.lead_source" in text
    assert "column 'Prospect ID' left out: it looks like an identifier" in text
    assert "AUC" in text and "Lift by decile" in text and "Calibration" in text
    data = json.loads(out.read_text())
    assert data["n"] + data["unknown_outcomes"] == 120
    assert data["auc"] > 0.6  # senior titles convert more, and the rules score them higher
    assert sum(d["n"] for d in data["deciles"]) == data["n"]


def test_evaluate_json_to_stdout(messy: Path, rules: Path) -> None:
    result = invoke(
        "evaluate", "--rules", rules, "--csv", messy, "--outcome", "Converted", "--json", "-"
    )
    assert result.exit_code == 0, result.output
    assert '"auc"' in result.stdout


def test_evaluate_errors(messy: Path, rules: Path, tmp_path: Path) -> None:
    missing = invoke("evaluate", "--rules", rules, "--csv", tmp_path / "nope.csv", "--outcome", "x")
    assert missing.exit_code == 2 and "cannot read" in missing.output

    no_column = invoke("evaluate", "--rules", rules, "--csv", messy, "--outcome", "won")
    assert no_column.exit_code == 2 and "no outcome column 'won'" in no_column.output

    no_outcome = invoke("evaluate", "--rules", rules, "--csv", messy)
    assert no_outcome.exit_code == 2 and "--outcome" in no_outcome.output

    bad = write_csv(tmp_path / "bad.csv", [["Title", "Won"], ["CTO", "1"], ["VP", "maybe"]])
    unparseable = invoke("evaluate", "--rules", rules, "--csv", bad, "--outcome", "won")
    assert unparseable.exit_code == 1
    assert "line 3: 'maybe'" in unparseable.output

    one = write_csv(tmp_path / "one.csv", [["Title", "Won"], ["CTO", "yes"], ["VP", "y"]])
    single = invoke("evaluate", "--rules", rules, "--csv", one, "--outcome", "won")
    assert single.exit_code == 1 and "are positive" in single.output

    empty = write_csv(tmp_path / "empty.csv", [["Title", "Won"], ["CTO", ""]])
    none = invoke("evaluate", "--rules", rules, "--csv", empty, "--outcome", "won")
    assert none.exit_code == 1 and "no rows with an outcome" in none.output
    # the scheduled --store run on an installation without outcomes yet: said, not a failure
    scheduled = invoke("evaluate", "--rules", rules, "--csv", empty, "--outcome", "won", "--store")
    assert scheduled.exit_code == 0
    assert "no rows with an outcome" in scheduled.output and "nothing stored" in scheduled.output

    bad_rules = tmp_path / "bad.yaml"
    bad_rules.write_text("thresholds: 3\n")
    broken = invoke("evaluate", "--rules", bad_rules, "--csv", messy, "--outcome", "converted")
    assert broken.exit_code == 1 and "bad.yaml" in broken.output


def test_score_a_csv_as_csv_and_json(messy: Path, rules: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = invoke(
        "score", messy, "--rules", rules, "--at", AT, "--id-column", "prospect id", "--out", out
    )
    assert result.exit_code == 0, result.output
    with out.open(newline="") as f:
        scored = list(csv.DictReader(f))
    assert len(scored) == 120
    assert scored[0]["id"] == "b6e0be79-00000"
    assert list(scored[0]) == [
        "id", "total", "fit", "engagement", "temperature", "stage", "rules_version", "breakdown",
    ]  # fmt: skip
    for row in scored:
        items = json.loads(row["breakdown"])
        assert sum(i["points"] for i in items) == int(row["total"])

    as_json = invoke("score", messy, "--rules", rules, "--at", AT, "--format", "json")
    assert as_json.exit_code == 0
    records = json.loads(as_json.stdout)
    assert [r["id"] for r in records[:2]] == ["row-2", "row-3"]
    assert isinstance(records[0]["breakdown"], list)
    assert [r["total"] for r in records] == [int(r["total"]) for r in scored]


def test_score_reads_custom_numbers_and_counts(rules: Path, tmp_path: Path) -> None:
    data = write_csv(
        tmp_path / "few.csv",
        [
            ["Email", "Total Time Spent on Website", "page_visit_count", "Lead Source"],
            ["a@x.com", "1200", "3", "Google"],
            ["b@x.com", "12", "NA", "Direct"],
        ],
    )
    result = invoke("score", data, "--rules", rules, "--at", AT, "--format", "json")
    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)
    assert {i["criterion"] for i in first["breakdown"]} == {
        "time_on_site",
        "from_google",
        "engagement.page_visit",
    }
    assert first["engagement"] == 6 and second["total"] == 0
    assert "a@x.com" not in json.dumps(first)  # no personal data in the breakdown


EXPORTS = Path(__file__).resolve().parents[2] / "fixtures" / "exports"


@pytest.mark.parametrize(
    ("export", "outcome", "identifier"),
    [
        ("marketing_export.csv", "Converted", "Prospect ID"),
        ("crm_export.csv", "Lead Status", "Lead ID"),
    ],
)
def test_evaluate_real_tool_exports(export: str, outcome: str, identifier: str) -> None:
    result = invoke(
        "evaluate", "--csv", EXPORTS / export, "--outcome", outcome, "--at", AT, "--json", "-"
    )
    assert result.exit_code == 0, result.output
    assert f"column {identifier!r} left out: it looks like an identifier" in result.stderr
    data = json.loads(result.stdout)
    assert data["n"] > 1000 and 0 < data["positives"] < data["n"]
    assert data["auc"] is not None


def test_crm_open_statuses_are_left_out_and_amounts_kept(rules: Path, tmp_path: Path) -> None:
    result = invoke(
        "evaluate", "--rules", rules, "--csv", EXPORTS / "crm_export.csv",
        "--outcome", "lead status", "--json", "-",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "column 'Annual Revenue' read as custom.annual_revenue" in result.stderr
    with (EXPORTS / "crm_export.csv").open(newline="") as f:
        statuses = [row["Lead Status"] for row in csv.DictReader(f)]
    data = json.loads(result.stdout)
    assert data["n"] == sum(s.startswith("Closed") for s in statuses)
    assert data["unknown_outcomes"] == len(statuses) - data["n"]


def test_option_errors(messy: Path, rules: Path, tmp_path: Path) -> None:
    since = invoke("evaluate", "--rules", rules, "--since", "six months")
    assert since.exit_code == 2 and "180d" in since.output
    outcome_alone = invoke("evaluate", "--rules", rules, "--outcome", "converted")
    assert outcome_alone.exit_code == 2 and "--csv" in outcome_alone.output
    for history_only in (
        ["--since", "180d"],
        ["--negative-after-days", "30"],
        ["--as-of-days", "0"],
    ):
        with_csv = invoke(
            "evaluate", "--rules", rules, "--csv", messy, "--outcome", "Converted", *history_only
        )
        assert with_csv.exit_code == 2, with_csv.output
        assert "go with the history, not --csv" in " ".join(
            with_csv.output.replace("│", " ").split()
        )
    bad_at = invoke("score", messy, "--rules", rules, "--at", "yesterday")
    assert bad_at.exit_code == 2 and "ISO-8601" in bad_at.output
    no_rules = invoke("score", messy, "--rules", tmp_path / "missing.yaml")
    assert no_rules.exit_code == 1 and "cannot read" in no_rules.output
    twice = write_csv(tmp_path / "twice.csv", [["Phone", "Mobile"], ["+4930123456", ""]])
    collision = invoke("score", twice, "--rules", rules)
    assert collision.exit_code == 2 and "--ignore" in collision.output
    ignored = invoke("score", twice, "--rules", rules, "--ignore", "mobile", "--format", "json")
    assert ignored.exit_code == 0 and "left out as asked" in ignored.stderr


def test_a_utf16_export_with_its_own_outcome_values(rules: Path, tmp_path: Path) -> None:
    """A spreadsheet's "Unicode text" export (UTF-16, tabs), trailing empty columns, and a
    status column whose values are named with --positive / --negative."""
    rows = [["Job Title", "Status", "", ""]]
    rows += [["CTO", "Customer", "", ""], ["Intern", "Bad Timing", "", ""]] * 30
    rows += [["VP Sales", "In Progress", "", ""]] * 5
    text = "\n".join("\t".join(r) for r in rows) + "\n"
    path = tmp_path / "export.txt"
    path.write_bytes(text.encode("utf-16"))
    result = invoke(
        "evaluate", "--rules", rules, "--csv", path, "--outcome", "status",
        "--positive", "Customer", "--negative", "Bad Timing", "--json", "-",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "column 3 has no header: left out" in result.stderr
    data = json.loads(result.stdout)
    assert (data["n"], data["positives"], data["unknown_outcomes"]) == (60, 30, 5)
    unnamed = invoke("evaluate", "--rules", rules, "--csv", path, "--outcome", "status")
    assert unnamed.exit_code == 1 and "--positive and --negative" in unnamed.output


def test_postgres_down_is_one_sentence_and_exit_1(messy: Path, rules: Path) -> None:
    """History read and --store with nothing listening on the database port."""
    env = {"LEADFLOW_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/leadflow"}
    runner = CliRunner()
    history = runner.invoke(app, ["scoring", "evaluate", "--rules", str(rules)], env=env)
    assert history.exit_code == 1
    assert "cannot read the history from the database" in history.output
    stored = runner.invoke(
        app,
        ["scoring", "evaluate", "--rules", str(rules), "--csv", str(messy),
         "--outcome", "converted", "--store"],
        env=env,
    )  # fmt: skip
    assert stored.exit_code == 1
    assert "cannot store the evaluation in the database" in stored.output
    fit = runner.invoke(app, ["scoring", "fit", "--out", "/nonexistent/x.yaml"], env=env)
    assert fit.exit_code == 1
    assert "cannot read the history from the database" in fit.output
