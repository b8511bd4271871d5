"""Scoring evaluation: AUC, deciles with ties together, rates by group, Platt calibration."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from services.router.domain.evaluation import EvaluationError, Tally, evaluate, evaluate_scores
from services.router.domain.model import LeadProfile
from services.router.domain.scoring import load_scoring_rules, score
from services.router.domain.scoring_rows import ScoringRow

SHIPPED_RULES = Path(__file__).resolve().parents[3] / "deploy" / "config" / "scoring.yaml"


def run(totals: list[float], outcomes: list[bool]):  # type: ignore[no-untyped-def]
    n = len(totals)
    return evaluate_scores(totals, outcomes, ["cold"] * n, ["none"] * n)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 400))
def test_auc_matches_sklearn_and_deciles_sum_to_n(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    totals = rng.integers(-10, 30, n).tolist()
    outcomes = (rng.random(n) < 0.3).tolist()
    result = run(totals, outcomes)
    assert sum(d.n for d in result.deciles) == n
    assert sum(d.positives for d in result.deciles) == result.positives == sum(outcomes)
    assert len(result.deciles) <= 10
    if 0 < sum(outcomes) < n:
        assert result.auc == pytest.approx(roc_auc_score(outcomes, totals))
        assert result.deciles[-1].captured == pytest.approx(1.0)
    else:
        assert result.auc is None and result.calibration == () and result.brier is None
    # highest scores first, and a tied score never spans two deciles
    for upper, lower in zip(result.deciles, result.deciles[1:], strict=False):
        assert upper.min_score > lower.max_score


def test_perfect_and_reversed_rankings() -> None:
    totals = list(range(100))
    outcomes = [t >= 70 for t in totals]
    assert run(totals, outcomes).auc == 1.0
    assert run(totals, [not o for o in outcomes]).auc == 0.0
    top = run(totals, outcomes).deciles[0]
    assert top.n == 10 and top.rate == 1.0 and top.lift == pytest.approx(1 / 0.3)


def test_ties_stay_in_one_decile() -> None:
    totals = [5] * 50 + list(range(10, 60))
    result = run(totals, [t % 3 == 0 for t in totals])
    tied = [d for d in result.deciles if d.min_score == d.max_score == 5]
    assert len(tied) == 1 and tied[0].n == 50


def test_lift_of_a_random_score_is_near_one() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    result = run(rng.integers(0, 1000, n).tolist(), (rng.random(n) < 0.2).tolist())
    assert result.auc == pytest.approx(0.5, abs=0.03)
    assert all(d.lift == pytest.approx(1.0, abs=0.2) for d in result.deciles)


def test_calibration_is_monotone_for_a_monotone_signal() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    totals = rng.integers(0, 100, n)
    outcomes = rng.random(n) < 1 / (1 + np.exp(-(totals - 50) / 10))
    result = run(totals.tolist(), outcomes.tolist())
    predicted = [b.predicted_rate for b in result.calibration]
    observed = [b.observed_rate for b in result.calibration]
    assert predicted == sorted(predicted) and observed == sorted(observed)
    assert all(abs(b.predicted_rate - b.observed_rate) < 0.05 for b in result.calibration)
    assert result.brier is not None and 0 < result.brier < 0.25


def test_rates_by_temperature_and_stage_and_json() -> None:
    result = evaluate_scores(
        [30, 20, 10, 5],
        [True, True, False, False],
        ["hot", "warm", "cold", "cold"],
        ["sql", "mql", "none", "none"],
        rules_version="abc",
    )
    assert [(g.group, g.n, g.positives, g.rate) for g in result.by_temperature] == [
        ("hot", 1, 1, 1.0),
        ("warm", 1, 1, 1.0),
        ("cold", 2, 0, 0.0),
    ]
    assert [g.group for g in result.by_stage] == ["sql", "mql", "none"]
    assert json.loads(json.dumps(result.to_dict()))["rules_version"] == "abc"


def test_nothing_to_evaluate() -> None:
    with pytest.raises(EvaluationError):
        run([], [])
    with pytest.raises(EvaluationError):
        evaluate_scores([1, 2], [True], ["hot"], ["sql"])


def test_evaluate_scores_rows_with_the_router_score_at_their_time() -> None:
    rules = load_scoring_rules(SHIPPED_RULES)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        ScoringRow("a", LeadProfile(job_title="CTO"), (), at, True),
        ScoringRow("b", LeadProfile(job_title="Intern"), (), at, False),
        ScoringRow("c", LeadProfile(), (), at, None),
    ]
    result = evaluate(rows, rules)
    assert result.n == 2 and result.unknown_outcomes == 1 and result.rules_version == rules.version
    expected = [score(r.lead, r.activities, rules, at).total for r in rows[:2]]
    assert result.auc == (
        1.0 if expected[0] > expected[1] else 0.0 if expected[0] < expected[1] else 0.5
    )


def test_a_small_run_of_top_scores_does_not_swallow_the_tied_rest() -> None:
    result = evaluate_scores(
        [10] * 5 + [0] * 95,
        [True] * 3 + [False] * 2 + [True] * 10 + [False] * 85,
        ["cold"] * 100,
        ["none"] * 100,
    )
    assert [(d.n, d.positives) for d in result.deciles] == [(5, 3), (95, 10)]


def test_a_tally_of_pages_gives_the_same_evaluation_as_all_rows_at_once() -> None:
    rules = load_scoring_rules(SHIPPED_RULES)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    titles = ["VP Engineering", "Student", "CTO", "Intern", None]
    rows = [
        ScoringRow(
            id=str(i),
            lead=LeadProfile(job_title=titles[i % 5], company_size="1001-5000" if i % 3 else None),
            activities=(),
            at=at,
            outcome=None if i % 11 == 0 else i % 5 in (0, 2) or i % 7 == 0,
        )
        for i in range(60)
    ]
    tally = Tally()
    for start in range(0, len(rows), 7):  # pages of 7 rows
        for row in rows[start : start + 7]:
            tally.add(row, rules)
    assert tally.evaluation(rules.version) == evaluate(rows, rules)
    assert tally.unknown == 6 and len(tally.totals) == 54
