"""Funnel arithmetic: rates from the stage before and from the cohort, the answer's shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.funnel import (
    FUNNEL_STAGES,
    GroupTally,
    funnel_group,
    order_groups,
    rate,
    stages_from,
)


def test_rate_rounds_and_is_none_without_a_denominator() -> None:
    assert rate(1, 3) == 0.3333
    assert rate(2, 3) == 0.6667
    assert rate(3, 3) == 1.0
    assert rate(0, 5) == 0.0
    assert rate(0, 0) is None


@pytest.mark.parametrize(("n", "d"), [(-1, 3), (1, -3), (4, 3)])
def test_rate_refuses_counts_that_cannot_be(n: int, d: int) -> None:
    with pytest.raises(ValueError):
        rate(n, d)


def test_reaching_a_stage_means_reaching_every_earlier_one() -> None:
    assert stages_from("lead") == FUNNEL_STAGES  # type: ignore[arg-type]
    assert stages_from("sql") == ("sql", "opportunity", "customer")  # type: ignore[arg-type]
    assert stages_from("customer") == ("customer",)  # type: ignore[arg-type]


def test_a_group_has_every_stage_with_rates_from_before_and_from_the_cohort() -> None:
    tally = GroupTally(
        key="website",
        cohort=10,
        reached={"lead": 8, "mql": 6, "sql": 3, "opportunity": 0, "customer": 0},
        median_seconds={"lead": 0.0, "mql": 3600.0, "sql": 86400.0},
        entered={"name": 2, "recycled": 1, "disqualified": 3},
        current={"name": 2, "lead": 2, "mql": 2, "recycled": 1, "disqualified": 3},
        disqualified_by_reason={"no_budget": 1, "(none)": 2},
    )
    group = funnel_group(tally)
    assert [
        (s.stage, s.reached, s.rate_from_previous, s.rate_from_cohort) for s in group.stages
    ] == [
        ("lead", 8, 0.8, 0.8),
        ("mql", 6, 0.75, 0.6),
        ("sql", 3, 0.5, 0.3),
        ("opportunity", 0, 0.0, 0.0),
        ("customer", 0, None, 0.0),  # nothing reached opportunity: no rate from it
    ]
    assert [s.median_seconds_to_reach for s in group.stages] == [0.0, 3600.0, 86400.0, None, None]
    assert [s.current for s in group.stages] == [2, 2, 0, 0, 0]
    side = {s.stage: s for s in group.side_stages}
    assert list(side) == ["name", "recycled", "disqualified"]
    assert (side["name"].entered, side["name"].rate_from_cohort, side["name"].by_reason) == (
        2,
        0.2,
        None,
    )
    assert side["disqualified"].by_reason == {"(none)": 2, "no_budget": 1}  # largest first
    assert list(side["disqualified"].by_reason) == ["(none)", "no_budget"]


def test_an_empty_cohort_has_zero_counts_and_no_rates() -> None:
    group = funnel_group(GroupTally(key=None, cohort=0))
    assert all(s.reached == 0 and s.rate_from_previous is None for s in group.stages)
    assert all(s.rate_from_cohort is None for s in [*group.stages, *group.side_stages])


def test_groups_are_ordered_by_cohort_then_key() -> None:
    groups = [funnel_group(GroupTally(key=k, cohort=n)) for k, n in [("b", 1), ("a", 1), ("c", 5)]]
    assert [g.key for g in order_groups(groups)] == ["c", "a", "b"]


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=5, max_size=5), st.integers(0, 50))
def test_rates_are_fractions_when_each_stage_holds_at_most_the_one_before(
    drops: list[int], cohort: int
) -> None:
    reached, left = {}, cohort
    for stage, drop in zip(FUNNEL_STAGES, drops, strict=True):
        left = max(left - drop, 0)
        reached[stage] = left
    group = funnel_group(GroupTally(key=None, cohort=cohort, reached=reached))
    for s in group.stages:
        for r in (s.rate_from_previous, s.rate_from_cohort):
            assert r is None or 0.0 <= r <= 1.0
    # the rate from the cohort is the product of the rates along the way (up to rounding)
    product = 1.0
    for s in group.stages:
        if s.rate_from_previous is None:
            break
        product *= s.rate_from_previous
        assert s.rate_from_cohort == pytest.approx(product, abs=5e-4 * len(FUNNEL_STAGES))
