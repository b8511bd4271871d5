"""How well scores rank outcomes: AUC, lift by decile, rates by temperature and stage, calibration.

Pure: ``evaluate`` scores each row with the router's own ``score`` at ``row.at`` and
compares the totals with the rows' outcomes; ``evaluate_scores`` does the same for scores
computed elsewhere, and ``Tally`` keeps what it needs of rows scored a page at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from services.router.domain.scoring import ScoringRules, score
from services.router.domain.scoring_rows import ScoringRow

TEMPERATURES = ("hot", "warm", "cold")
STAGES = ("sql", "mql", "none")
DECILES = 10


class EvaluationError(ValueError):
    """Nothing to evaluate (no rows with an outcome) or inputs of different lengths."""


@dataclass(frozen=True)
class Decile:
    """One tenth of the rows by score, highest first; tied scores stay in one decile."""

    decile: int  # 1 = the highest scores
    n: int
    positives: int
    rate: float
    lift: float  # rate / base rate
    captured: float  # cumulative share of all positives in this decile and those above
    min_score: float
    max_score: float


@dataclass(frozen=True)
class GroupRate:
    group: str  # a temperature or a stage
    n: int
    positives: int
    rate: float | None  # None when the group is empty


@dataclass(frozen=True)
class CalibrationBand:
    """Rows of one score band: the observed rate against the Platt-scaled prediction."""

    band: int  # 1 = the lowest scores
    n: int
    mean_score: float
    observed_rate: float
    predicted_rate: float


@dataclass(frozen=True)
class Evaluation:
    n: int
    positives: int
    base_rate: float
    auc: float | None  # None when every row has the same outcome
    deciles: tuple[Decile, ...]
    by_temperature: tuple[GroupRate, ...]
    by_stage: tuple[GroupRate, ...]
    calibration: tuple[CalibrationBand, ...]  # empty when every row has the same outcome
    brier: float | None
    rules_version: str | None
    unknown_outcomes: int = 0  # rows left out for want of an outcome

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Tally:
    """What evaluating needs of each scored row (total, outcome, temperature, stage), kept
    while rows are scored a page at a time, so the rows themselves need not be."""

    totals: list[int] = dataclasses.field(default_factory=list)
    outcomes: list[bool] = dataclasses.field(default_factory=list)
    temperatures: list[str] = dataclasses.field(default_factory=list)
    stages: list[str] = dataclasses.field(default_factory=list)
    unknown: int = 0  # rows without an outcome, left out

    def add(self, row: ScoringRow, rules: ScoringRules) -> None:
        """Score ``row`` at ``row.at`` when its outcome is known; count it otherwise."""
        if row.outcome is None:
            self.unknown += 1
            return
        s = score(row.lead, row.activities, rules, row.at)
        self.totals.append(s.total)
        self.outcomes.append(row.outcome)
        self.temperatures.append(s.temperature)
        self.stages.append(s.stage)

    @property
    def positives(self) -> int:
        return sum(self.outcomes)

    def evaluation(self, rules_version: str | None) -> Evaluation:
        result = evaluate_scores(
            self.totals,
            self.outcomes,
            self.temperatures,
            self.stages,
            rules_version=rules_version,
        )
        return dataclasses.replace(result, unknown_outcomes=self.unknown)


def evaluate(
    rows: Sequence[ScoringRow],
    rules: ScoringRules,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Score every row with an outcome at ``row.at`` and evaluate the totals against outcomes."""
    tally = Tally()
    for done, row in enumerate(rows, start=1):
        tally.add(row, rules)
        if progress is not None and (done % 1000 == 0 or done == len(rows)):
            progress(done, len(rows))
    return tally.evaluation(rules.version)


def evaluate_scores(
    totals: Sequence[float],
    outcomes: Sequence[bool],
    temperatures: Sequence[str],
    stages: Sequence[str],
    *,
    rules_version: str | None = None,
) -> Evaluation:
    """Evaluate precomputed scores (one total, outcome, temperature and stage per row)."""
    n = len(totals)
    if not (n == len(outcomes) == len(temperatures) == len(stages)):
        raise EvaluationError("totals, outcomes, temperatures and stages differ in length")
    if n == 0:
        raise EvaluationError("no rows with an outcome to evaluate")
    x = np.asarray(totals, dtype=float)
    y = np.asarray(outcomes, dtype=bool)
    positives = int(y.sum())
    base_rate = positives / n
    two_classes = 0 < positives < n
    auc = float(roc_auc_score(y, x)) if two_classes else None
    groups = _tie_groups(x, DECILES)
    calibration: tuple[CalibrationBand, ...] = ()
    brier: float | None = None
    if two_classes:
        predicted = _platt(x, y)
        brier = float(np.mean((predicted - y) ** 2))
        calibration = tuple(
            CalibrationBand(
                band=band,
                n=len(idx),
                mean_score=float(x[idx].mean()),
                observed_rate=float(y[idx].mean()),
                predicted_rate=float(predicted[idx].mean()),
            )
            for band, idx in enumerate(reversed(groups), start=1)
        )
    return Evaluation(
        n=n,
        positives=positives,
        base_rate=base_rate,
        auc=auc,
        deciles=_deciles(x, y, groups, base_rate),
        by_temperature=_rates(temperatures, y, TEMPERATURES),
        by_stage=_rates(stages, y, STAGES),
        calibration=calibration,
        brier=brier,
        rules_version=rules_version,
    )


def _tie_groups(x: np.ndarray, parts: int) -> list[np.ndarray]:
    """Row indices in up to ``parts`` equal-count groups, highest scores first, ties together.

    A run of tied scores joins the group its middle row falls in, so a group can be larger
    than n / parts and there can be fewer groups, but a small run of top scores does not
    swallow the large run after it.
    """
    n = len(x)
    order = np.argsort(-x, kind="stable")
    ordered = x[order]
    # Start of each run of equal scores in the descending order.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]).tolist()
    groups: list[list[int]] = []
    current_part = -1
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else n
        middle = (int(start) + end - 1) // 2
        part: int = min(parts - 1, middle * parts // n)
        if part != current_part:
            groups.append([])
            current_part = part
        groups[-1].extend(order[start:end].tolist())
    return [np.asarray(g, dtype=int) for g in groups]


def _deciles(
    x: np.ndarray, y: np.ndarray, groups: list[np.ndarray], base_rate: float
) -> tuple[Decile, ...]:
    total_positives = int(y.sum())
    captured = 0
    out: list[Decile] = []
    for number, idx in enumerate(groups, start=1):
        positives = int(y[idx].sum())
        captured += positives
        rate = positives / len(idx)
        out.append(
            Decile(
                decile=number,
                n=len(idx),
                positives=positives,
                rate=rate,
                lift=rate / base_rate if base_rate else 0.0,
                captured=captured / total_positives if total_positives else 0.0,
                min_score=float(x[idx].min()),
                max_score=float(x[idx].max()),
            )
        )
    return tuple(out)


def _rates(labels: Sequence[str], y: np.ndarray, order: Sequence[str]) -> tuple[GroupRate, ...]:
    counts: dict[str, list[int]] = {g: [0, 0] for g in order}
    for label, outcome in zip(labels, y.tolist(), strict=True):
        c = counts.setdefault(label, [0, 0])
        c[0] += 1
        c[1] += int(outcome)
    return tuple(
        GroupRate(group=g, n=n, positives=p, rate=p / n if n else None)
        for g, (n, p) in counts.items()
    )


def _platt(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Probability of a positive outcome from the total alone (one-feature logistic regression)."""
    std = float(x.std()) or 1.0
    z = ((x - x.mean()) / std).reshape(-1, 1)
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(z, y)
    return np.asarray(model.predict_proba(z)[:, 1], dtype=float)
