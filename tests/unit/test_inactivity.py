"""Inactivity segments: one rule, and its query bounds agree with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.inactivity import SEGMENTS, inactivity_segment, segment_bounds

NOW = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)


def within(seen: datetime, bounds: tuple[datetime | None, datetime | None]) -> bool:
    after, until = bounds
    return (after is None or seen > after) and (until is None or seen <= until)


@pytest.mark.parametrize(
    ("idle", "segment"),
    [
        (timedelta(days=-1), "under_3_months"),
        (timedelta(0), "under_3_months"),
        (timedelta(days=90) - timedelta(microseconds=1), "under_3_months"),
        (timedelta(days=90), "3_to_12_months"),
        (timedelta(days=365) - timedelta(microseconds=1), "3_to_12_months"),
        (timedelta(days=365), "over_1_year"),
    ],
)
def test_bounds_select_exactly_the_segment_at_its_edges(idle: timedelta, segment: str) -> None:
    seen = NOW - idle
    assert inactivity_segment(seen, NOW) == segment
    assert [s for s in SEGMENTS if within(seen, segment_bounds(s, NOW))] == [segment]


@given(st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=2000)))
def test_every_instant_is_in_the_one_segment_the_rule_gives(idle: timedelta) -> None:
    seen = NOW - idle
    assert [s for s in SEGMENTS if within(seen, segment_bounds(s, NOW))] == [
        inactivity_segment(seen, NOW)
    ]


def test_bounds_need_an_aware_now_and_a_known_segment() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        segment_bounds("over_1_year", datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="unknown inactivity segment"):
        segment_bounds("someday", NOW)  # type: ignore[arg-type]
