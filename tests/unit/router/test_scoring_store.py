"""The pure parts of the scoring history: the text the rules in force came from, a loaded
version's row, and the headline figures taken from an evaluation report."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.scoring import (
    ScoringConfigError,
    ScoringRulesSource,
    parse_scoring_rules,
)
from services.router.scoring.store import (
    EvaluationSummary,
    evaluation_summary,
    version_row,
)

SHIPPED = Path(__file__).resolve().parents[3] / "deploy" / "config" / "scoring.yaml"
AT = datetime(2026, 12, 2, 4, 40, tzinfo=UTC)


def version_of(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()[:12]


def test_the_source_keeps_the_text_of_the_rules_in_force(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    first = SHIPPED.read_bytes()
    path.write_bytes(first)
    source = ScoringRulesSource(path)
    assert source.text == first and version_of(source.text) == source.rules.version
    second = first + b"\n# tuned\n"
    path.write_bytes(second)
    assert source.reload_if_changed() is True
    assert source.text == second and version_of(source.text) == source.rules.version
    path.write_bytes(b"criteria: [")  # broken: the rules in force and their text stay
    with pytest.raises(ScoringConfigError):
        source.reload_if_changed()
    assert source.text == second and version_of(source.text) == source.rules.version


def test_a_loaded_versions_row_has_its_text_criteria_and_thresholds() -> None:
    text = SHIPPED.read_bytes()
    rules = parse_scoring_rules(text)
    row = version_row(rules, text, "scoring.yaml", AT)
    t = rules.thresholds
    assert row == {
        "version": rules.version,
        "recorded_from": "router",
        "file_name": "scoring.yaml",
        "content": text.decode(),
        "criteria_count": len(rules.criteria),
        "thresholds": {"warm": t.warm, "hot": t.hot, "mql": t.mql, "sql": t.sql},
        "first_loaded_at": AT,
        "last_loaded_at": AT,
    }


@given(
    n=st.integers(min_value=0, max_value=10**7),
    share=st.floats(min_value=0, max_value=1),
    auc=st.none() | st.floats(min_value=0, max_value=1),
    named=st.booleans(),
)
def test_the_summary_is_the_reports_counts_and_auc(
    n: int, share: float, auc: float | None, named: bool
) -> None:
    positives = int(n * share)
    report: dict[str, Any] = {"n": n, "positives": positives, "auc": auc, "deciles": []}
    if named:
        report["rules_version"] = "3f9a1c2b7d4e"
    assert evaluation_summary(report, "3f9a1c2b7d4e") == EvaluationSummary(n, positives, auc)


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ({"positives": 1}, "no 'n'"),
        ({"n": 3}, "no 'positives'"),
        ({"n": 3, "positives": 4}, "not counts"),
        ({"n": "3", "positives": 1}, "not counts"),
        ({"n": 3, "positives": 1, "auc": 1.5}, "auc"),
        ({"n": 3, "positives": 1, "rules_version": "a81c0e5f3b92"}, "not 3f9a1c2b7d4e"),
    ],
)
def test_a_report_without_its_counts_or_of_other_rules_is_refused(
    report: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluation_summary(report, "3f9a1c2b7d4e")
