"""Fitting scoring rules from outcomes: a synthetic history from a known logistic model."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from services.router.domain.fitting import (
    Bin,
    Binned,
    Feature,
    FitOptions,
    FitResult,
    FittedCriterion,
    NotEnoughData,
    _number_bins,
    _q,
    _rules_yaml,
    bin_rows,
    build_feature,
    fit_binned,
    fit_rules,
)
from services.router.domain.model import ActivityPoint, LeadProfile
from services.router.domain.scoring import (
    BAND_LIMITS,
    Condition,
    ScoringRules,
    field_value,
    load_scoring_rules,
    parse_scoring_rules,
    score,
)
from services.router.domain.scoring_rows import ScoringRow

SHIPPED_RULES = Path(__file__).resolve().parents[3] / "deploy" / "config" / "scoring.yaml"
AT = datetime(2026, 11, 1, tzinfo=UTC)
OPTIONS = FitOptions(source="a synthetic history", fitted_at=AT)
SIZES = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000"]
SIZE_EFFECT = [-1.0, -0.5, 0.0, 0.5, 0.9, 1.2]
INDUSTRIES = ["Software", "Retail", "Finance", "Health", "Education", "Manufacturing"]
SOURCES = ["Google", "google", "LinkedIn", "referral", "event", "cold call"]
SOURCE_EFFECT = {"google": 0.8, "linkedin": 0.3, "referral": 1.2, "event": 0.0, "cold call": -1.0}
COUNTRIES = ["US", "DE", "FR", "GB", "ES", "IT", "NL", "SE"]


def history(n: int, seed: int) -> list[ScoringRow]:
    """Leads with a few fields, a skewed number, free text and activities; the outcome is
    drawn from a logistic model of some of them."""
    rng = random.Random(seed)
    rows: list[ScoringRow] = []
    for i in range(n):
        size = rng.randrange(len(SIZES))
        industry = rng.choice(INDUSTRIES)
        source = rng.choice(SOURCES)
        country = rng.choice(COUNTRIES) if rng.random() > 0.15 else None
        seconds = 0 if rng.random() < 0.4 else int(rng.lognormvariate(5.5, 1.2))
        visits = min(int(rng.expovariate(0.3)), 40)
        opens = rng.randrange(6)
        logit = (
            -2.2
            + SIZE_EFFECT[size]
            + (0.7 if industry == "Software" else 0.0)
            + SOURCE_EFFECT[source.casefold()]
            + (-0.6 if country is None else 0.0)
            + 0.35 * math.log1p(seconds / 60)
            + 0.12 * min(visits, 12)
        )
        outcome = rng.random() < 1 / (1 + math.exp(-logit))
        custom: dict[str, str | int | float | bool] = {
            "lead_source": source,
            "notes": f"note {rng.randrange(100_000)}",  # free text: no signal
        }
        if rng.random() > 0.05:
            custom["total_time_spent_on_website"] = seconds
        activities = tuple(
            ActivityPoint(kind, AT - timedelta(days=rng.randrange(1, 60), hours=k))
            for kind, count in (("page_visit", visits), ("open", opens))
            for k in range(count)
        )
        lead = LeadProfile(
            email=f"person{i}@{rng.choice(['acme.com', 'gmail.com', 'corp.io'])}",
            first_name=f"Name{i}",
            last_name=f"Family{rng.randrange(10_000)}",
            company_size=SIZES[size],
            industry=industry,
            country=country,
            utm={"source": rng.choice(["google", "facebook", "newsletter"])},
            custom=custom,
        )
        rows.append(ScoringRow(f"r{i}", lead, activities, AT, outcome))
    return rows


@cache
def base_rules() -> ScoringRules:
    return load_scoring_rules(SHIPPED_RULES)


@cache
def rows() -> tuple[ScoringRow, ...]:
    return tuple(history(6000, seed=11))


@cache
def binned() -> Binned:
    return bin_rows(rows(), OPTIONS)


@cache
def fitted() -> FitResult:
    return fit_binned(binned(), base=base_rules(), options=OPTIONS)


def holdout_auc(rules: ScoringRules) -> float:
    totals = [score(r.lead, r.activities, rules, r.at).total for r in binned().holdout]
    return float(roc_auc_score(binned().y_holdout, totals))


def test_learned_rules_rank_as_well_as_the_logistic_regression_on_the_same_bins() -> None:
    split = binned()
    with threadpool_limits(limits=1):
        model = LogisticRegression(max_iter=2000).fit(split.x_train, split.y_train)
    plain = float(roc_auc_score(split.y_holdout, model.decision_function(split.x_holdout)))
    report = fitted().report
    assert plain > 0.7
    assert report.auc_learned >= plain - 0.02
    assert abs(report.auc_logistic - plain) < 0.01
    assert report.n_train + report.n_holdout == 6000
    assert report.n_holdout == 1500
    assert report.auc_learned > report.auc_base


def test_shuffled_outcomes_give_rules_that_rank_no_better_than_chance() -> None:
    rng = random.Random(5)
    outcomes = [r.outcome for r in rows()]
    rng.shuffle(outcomes)
    shuffled = [dataclasses.replace(r, outcome=o) for r, o in zip(rows(), outcomes, strict=True)]
    result = fit_rules(shuffled, base=base_rules(), options=OPTIONS)
    assert result.report.auc_learned < 0.56
    assert fitted().report.auc_learned > 0.7


def test_refuses_small_data_naming_the_counts_and_the_minimums() -> None:
    with pytest.raises(NotEnoughData) as few:
        fit_rules(rows()[:300], base=base_rules(), options=OPTIONS)
    message = str(few.value)
    assert "300 rows with a known outcome" in message
    assert "at least 500" in message
    negatives_only = [r for r in rows() if not r.outcome][:900]
    some = [*negatives_only, *[r for r in rows() if r.outcome][:30]]
    with pytest.raises(NotEnoughData) as unbalanced:
        fit_rules(some, base=base_rules(), options=OPTIONS)
    assert "(30 positive, 900 negative)" in str(unbalanced.value)
    assert "50 of each outcome" in str(unbalanced.value)
    unknown = [dataclasses.replace(r, outcome=None) for r in rows()[:5000]]
    with pytest.raises(NotEnoughData, match="0 rows with a known outcome"):
        fit_rules([*unknown, *rows()[:100]], base=base_rules(), options=OPTIONS)


def test_the_file_parses_and_its_criteria_respect_bands_ids_and_labels() -> None:
    result = fitted()
    rules = parse_scoring_rules(result.yaml_text.encode(), "fitted")
    assert rules.criteria == result.rules.criteria
    assert 0 < len(rules.criteria) <= 40
    for criterion in rules.criteria:
        low, high = BAND_LIMITS[criterion.band]
        assert (low is None or criterion.points >= low) and (
            high is None or criterion.points <= high
        )
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,63}", criterion.id)
        assert criterion.label and criterion.label != criterion.id
    used = {c.field for criterion in rules.criteria for c in criterion.conditions}
    assert not used & {"email", "phone", "first_name", "last_name"}
    assert "custom.notes" not in used  # free text with no signal
    assert {"company_size", "custom.lead_source", "page_visit_count"} <= used
    assert "custom.total_time_spent_on_website" in used
    # the learned counts replace engagement points
    assert rules.engagement_points == {} and rules.engagement_cap == 0
    assert rules.inactivity_days == base_rules().inactivity_days
    raw = yaml.safe_load(result.yaml_text)
    assert raw["engagement"] == {"points": {}, "cap": 0, "half_life_days": 30}
    assert "count activities themselves" in result.yaml_text
    assert "# Hold-out AUC: these rules" in result.yaml_text
    reasons = {f.name: f for f in result.report.features}
    assert reasons["email"].reason == "personal data" and not reasons["email"].used
    assert not reasons["custom.notes"].used


def test_text_values_are_case_folded_and_numbers_have_a_bin_at_zero() -> None:
    result = fitted()
    by_field: dict[str, list[tuple[tuple[str, Any], ...]]] = {}
    for c in result.report.criteria:
        by_field.setdefault(c.feature, []).append(c.conditions)
    sources = [v for ((op, v),) in by_field["custom.lead_source"] if op == "in"]
    assert sources and all(v == [v[0].casefold()] for v in sources)
    # "Google" and "google" are one bin, the most frequent: the reference at 0 points
    lead_source = next(f for f in result.report.features if f.name == "custom.lead_source")
    assert lead_source.reason.endswith("reference (0 points): Lead source is Google")
    seconds = by_field["custom.total_time_spent_on_website"]
    assert (("present", False),) in seconds  # 5% of the rows have no value
    assert (("above", 395),) in seconds  # up to the largest value and beyond
    time_spent = next(
        f for f in result.report.features if f.name == "custom.total_time_spent_on_website"
    )
    # 40% of the rows spent no time: 0 is a bin of its own, and the most frequent
    assert time_spent.reason.endswith("reference (0 points): Total time spent on website 0")
    labels = [c.label for c in result.report.criteria]
    assert any(label.startswith("Page visits ") for label in labels)
    assert any(label.startswith("Lead source is ") for label in labels)


def test_thresholds_hit_the_target_rates() -> None:
    report = fitted().report
    t = fitted().rules.thresholds
    assert t.warm < t.hot and t.mql < t.sql
    assert report.thresholds == {"warm": t.warm, "hot": t.hot, "mql": t.mql, "sql": t.sql}
    # measured on the held-out rows: the thresholds come from the training rows
    temperatures, stages = report.temperature_shares, report.stage_shares
    assert abs(temperatures["hot"] - 0.1) < 0.04
    assert abs(temperatures["hot"] + temperatures["warm"] - 0.3) < 0.04
    assert abs(stages["sql"] - 0.05) < 0.03
    assert abs(stages["sql"] + stages["mql"] - 0.2) < 0.04
    assert abs(sum(stages.values()) - 1) < 1e-3
    rates = report.stage_rates
    assert rates["sql"] is not None and rates["none"] is not None
    assert rates["sql"] > rates["none"]


def test_same_seed_same_file() -> None:
    some = history(1000, seed=3)
    first = fit_rules(some, base=base_rules(), options=OPTIONS)
    again = fit_rules(list(some), base=base_rules(), options=OPTIONS)
    assert again.yaml_text == first.yaml_text


def test_the_written_file_loads_and_scores_as_the_report_says(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(fitted().yaml_text)
    loaded = load_scoring_rules(path)
    assert loaded.criteria == fitted().rules.criteria
    assert round(holdout_auc(loaded), 4) == fitted().report.auc_learned


def test_without_activity_counts_the_base_engagement_is_kept() -> None:
    quiet = [dataclasses.replace(r, activities=()) for r in rows()[:1000]]
    result = fit_rules(quiet, base=base_rules(), options=OPTIONS)
    assert result.rules.engagement_points == base_rules().engagement_points
    assert result.rules.engagement_cap == base_rules().engagement_cap
    assert not result.report.engagement_from_counts


def _bin_rules(
    feature_name: str, values: list[str | int | float | None]
) -> tuple[Feature | str, ScoringRules]:
    """A feature built from ``values`` and a file with one criterion per bin (points = bin + 1)."""
    profile_values = [LeadProfile(custom={} if v is None else {"x": v}) for v in values]
    seen = [field_value(p, {}, feature_name) for p in profile_values]
    feature = build_feature(feature_name, seen)
    if isinstance(feature, str):
        return feature, parse_scoring_rules(SHIPPED_RULES.read_bytes())
    lines = [
        "thresholds: {warm: 1, hot: 2, mql: 1, sql: 2}",
        "engagement: {points: {}, cap: 0, half_life_days: 30}",
        "inactivity: {after_days: 90, penalty: 0}",
        "criteria:",
    ]
    for i, b in enumerate(feature.bins):
        conditions = ", ".join(
            f"{{field: {feature_name}, {op}: {_dumped(value)}}}" for op, value in b.conditions
        )
        lines.append(f"  - {{id: b{i}, band: valid, points: 1, conditions: [{conditions}]}}")
    return feature, parse_scoring_rules("\n".join(lines).encode())


def _dumped(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(min_value=0, max_value=50),
            st.floats(min_value=-5, max_value=1e4, allow_nan=False),
            st.floats(min_value=1e16, max_value=1e18),
            st.sampled_from(["a", "A", "b", " c ", "10", "n/a"]),
        ),
        min_size=80,
        max_size=200,
    )
)
def test_each_bin_condition_matches_exactly_the_values_of_its_bin(
    values: list[str | int | float | None],
) -> None:
    # bins from the first half; every value, seen or not, must match as its bin says
    feature, rules = _bin_rules("custom.x", values[: len(values) // 2])
    if isinstance(feature, str):
        return
    assert len(feature.bins) <= 12
    for v in values:
        lead = LeadProfile(custom={} if v is None else {"x": v})
        found = feature.bin_of(field_value(lead, {}, "custom.x"))
        matched = [i.criterion for i in score(lead, (), rules, AT).breakdown]
        assert matched == ([] if found is None else [f"b{found}"]), (v, feature)


def _in_exactly_one_bin(bins: Sequence[Bin], x: float) -> bool:
    """Whether the scoring grammar's own conditions put ``x`` in exactly one bin."""
    lead = LeadProfile(custom={"x": x})
    inside = [
        b
        for b in bins
        if all(Condition("custom.x", op, float(v)).matches(lead) for op, v in b.conditions)  # type: ignore[arg-type]
    ]
    return len(inside) == 1


spread = st.one_of(
    st.integers(min_value=-50, max_value=400).map(float),
    st.floats(min_value=-5, max_value=1e4, allow_nan=False),
    st.floats(min_value=0, max_value=1e-3, allow_nan=False),
    st.integers(min_value=-(2**10), max_value=2**10).map(lambda k: 1e17 + 16.0 * k),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(spread, min_size=40, max_size=300), st.lists(spread, max_size=20))
def test_every_number_falls_in_exactly_one_number_bin(
    values: list[float], others: list[float]
) -> None:
    """Values seen, between two seen, beyond the smallest and largest, and unseen ones (near
    1e17 too, where neighbouring floats are 16 apart) match exactly one bin's conditions."""
    numbers = np.array(values, dtype=float)
    bins = _number_bins("custom.x", numbers)
    if len(set(values)) == 1:  # one value, one bin: that value (the rest is the reference)
        ((op, (low, high)),) = bins[0].conditions
        assert len(bins) == 1 and op == "between" and low == high == values[0]
        return
    assert all(op in ("at_most", "above", "between") for b in bins for op, _ in b.conditions)
    seen = sorted(set(values))
    probes = [*seen, *others, -1e300, 1e300, seen[0] - 1, seen[-1] + 1, 1e17, 1e17 + 16]
    probes += [(a + b) / 2 for a, b in itertools.pairwise(seen)]
    probes += [math.nextafter(v, math.inf) for v in seen]
    probes += [math.nextafter(v, -math.inf) for v in seen]
    for x in probes:
        assert _in_exactly_one_bin(bins, x), (x, bins)


def test_the_top_bin_is_open_above_when_the_top_quantile_holds_one_value() -> None:
    # 4 visits is the largest value and a fifth of the rows: 5, 7 and 12 score as 4 does
    values: list[str | int | float | None] = [0] * 30 + [1, 2, 3] * 10 + [4] * 40
    feature, rules = _bin_rules("custom.x", values)
    assert not isinstance(feature, str)
    assert feature.bins[-1].conditions == (("above", 3),)
    assert feature.bins[-1].label == "X 4 or more"
    assert feature.bins[0].conditions == (("at_most", 0),)
    assert feature.bins[0].label == "X 0"
    top = feature.bin_of(4.0)
    for v in (5, 7, 12, 1e17):
        assert feature.bin_of(float(v)) == top
        matched = [
            i.criterion for i in score(LeadProfile(custom={"x": v}), (), rules, AT).breakdown
        ]
        assert matched == [f"b{top}"]


def test_whole_number_bins_read_as_ranges_and_others_as_over_up_to() -> None:
    visits = _number_bins("page_visit_count", np.array([0] * 20 + list(range(1, 41)), dtype=float))
    labels = [b.label for b in visits]
    assert labels[0] == "Page visits 0"
    assert all(re.fullmatch(r"Page visits \d+ to \d+", label) for label in labels[1:-1])
    assert re.fullmatch(r"Page visits \d+ or more", labels[-1])
    middle = visits[1]
    low, high = (int(v) for _, v in middle.conditions)
    assert middle.conditions == (("above", low), ("at_most", high))
    assert middle.label == f"Page visits {low + 1} to {high}"
    assert visits[2].conditions[0] == ("above", high)  # the next bin starts right above
    times = [0.01, 0.5, 1.2, 1.46, 1.47, 2.0, 2.91, 3.3, 4.2, 5.0] * 5
    time_bins = _number_bins("custom.time_on_site", np.array(times))
    by_conditions = {b.conditions: b.label for b in time_bins}
    assert by_conditions[(("above", 1.46), ("at_most", 2))] == "Time on site over 1.46 up to 2"
    assert by_conditions[(("above", 3.3),)] == "Time on site over 3.3"
    assert time_bins[0].label == "Time on site 0.01"  # the smallest value alone (10% of rows)


def test_labels_show_enough_digits_to_tell_bounds_apart() -> None:
    ratios = np.array([k * 1e-5 for k in range(1, 101)] * 2)
    labels = [b.label for b in _number_bins("custom.ratio", ratios)]
    assert labels[0] == "Ratio 0.0002 or less"
    assert len(set(labels)) == len(labels)
    assert not any(re.search(r"\b0 up to 0\b", label) for label in labels)
    close = np.array([1 + k * 1e-9 for k in range(100)])
    texts = [b.label for b in _number_bins("custom.x", close)]
    assert texts[:2] == ["X 1.00000002 or less", "X over 1.00000002 up to 1.00000004"]
    assert texts[-1] == "X over 1.00000008"
    huge = np.array([2.0**60 + 256 * k for k in range(100)])
    assert len({b.label for b in _number_bins("custom.x", huge)}) == 5


@pytest.mark.parametrize("value", [3e-05, 1e-300, 1e17, 2.0**60, -2.5, -3.0, 5.0, 1.46, 0.1 + 0.2])
def test_written_numbers_read_back_as_the_same_float(value: float) -> None:
    criterion = FittedCriterion(
        id="fit_custom_x_b",
        label="X",
        band="valid",
        points=2,
        feature="custom.x",
        conditions=(("above", value), ("at_most", abs(value) * 2 + 1)),
        support=0.5,
    )
    feature = Feature("custom.x", "number", (), 0, "X 0")
    text = _rules_yaml([criterion], [feature], base_rules(), True, (1, 2, 1, 2), OPTIONS)
    rules = parse_scoring_rules(text.encode(), "written")
    (read,) = rules.criteria
    assert [(c.op, c.value) for c in read.conditions] == [
        ("above", value),
        ("at_most", abs(value) * 2 + 1),
    ]


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_number_is_written_as_yaml_reads_it_back(value: float) -> None:
    assert yaml.safe_load(_q(value)) == value
    assert isinstance(yaml.safe_load(_q(value)), int | float)


def test_a_fit_on_tiny_and_huge_numbers_writes_a_file_that_loads() -> None:
    scaled = []
    for r in rows()[:1200]:
        seconds = float(r.lead.custom.get("total_time_spent_on_website", 0))
        custom = {**r.lead.custom, "ratio": seconds * 3e-07, "revenue": 1e17 + 2.0**12 * seconds}
        scaled.append(dataclasses.replace(r, lead=dataclasses.replace(r.lead, custom=custom)))
    result = fit_rules(scaled, base=base_rules(), options=OPTIONS)
    written = parse_scoring_rules(result.yaml_text.encode(), "fitted")
    assert written.criteria == result.rules.criteria
    for c in result.report.criteria:
        (read,) = [w for w in written.criteria if w.id == c.id]
        assert [(x.op, x.value) for x in read.conditions] == [
            _as_read(op, v) for op, v in c.conditions
        ]
    numbers = {x.field for w in written.criteria for x in w.conditions if x.op == "above"}
    assert {"custom.ratio", "custom.revenue"} <= numbers


def _as_read(op: str, value: Any) -> tuple[str, Any]:
    """A bin's condition as the scoring file's parser gives it back."""
    if op == "in":
        return op, tuple(value)
    if op == "between":
        return op, (float(value[0]), float(value[1]))
    if op == "present":
        return op, value
    return op, float(value)


def test_a_multi_line_value_stays_inside_its_yaml_comment() -> None:
    """The reference bin's label goes in a comment: a line break in a CSV cell must not end
    the comment and break the file."""
    rng = random.Random(3)
    rows = []
    for i in range(800):
        plan = rng.choice(["Starter\nmonthly", "Starter\nmonthly", "Pro", "Team"])
        won = rng.random() < (0.6 if plan == "Pro" else 0.2)
        rows.append(ScoringRow(f"r{i}", LeadProfile(custom={"plan": plan}), (), AT, won))
    result = fit_rules(rows, base=base_rules(), options=OPTIONS)
    assert parse_scoring_rules(result.yaml_text.encode()).criteria
