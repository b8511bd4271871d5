"""Dead-letter policy: halt on runs of dead letters or a high dead-letter ratio."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.kafka.dlq import DlqLimit, DlqLimitExceeded


def test_raises_after_max_consecutive() -> None:
    limit = DlqLimit(max_consecutive=3, max_ratio=1.0, window=100, min_messages=100)
    for _ in range(3):
        limit.record(True)
    with pytest.raises(DlqLimitExceeded, match="4 dead letters in a row"):
        limit.record(True)


def test_ok_message_resets_consecutive_counter() -> None:
    limit = DlqLimit(max_consecutive=3, max_ratio=1.0, window=100, min_messages=100)
    for _ in range(10):
        for _ in range(3):
            limit.record(True)
        limit.record(False)
    for _ in range(3):
        limit.record(True)
    with pytest.raises(DlqLimitExceeded):
        limit.record(True)


def test_ratio_only_after_min_messages() -> None:
    limit = DlqLimit(max_consecutive=1000, max_ratio=0.5, window=10, min_messages=4)
    for _ in range(3):
        limit.record(True)  # 100% dead, but only 3 seen
    with pytest.raises(DlqLimitExceeded, match="4 of the last 4"):
        limit.record(True)


def test_ratio_at_limit_is_allowed_above_is_not() -> None:
    limit = DlqLimit(max_consecutive=1000, max_ratio=0.5, window=10, min_messages=4)
    for dead in [False, True] * 10:
        limit.record(dead)  # never above 50% at any point
    limit = DlqLimit(max_consecutive=1000, max_ratio=0.5, window=10, min_messages=4)
    for dead in [True, False, True, False]:
        limit.record(dead)
    with pytest.raises(DlqLimitExceeded):
        limit.record(True)  # 3 of 5


def test_ratio_is_over_the_window_only() -> None:
    limit = DlqLimit(max_consecutive=1000, max_ratio=0.5, window=10, min_messages=10)
    # 5 dead of the first 10 (at the limit)
    for dead in [True] * 5 + [False] * 5:
        limit.record(dead)
    # old dead letters slide out as ok messages come in, so a later run of 5 is fine
    for _ in range(5):
        limit.record(False)
    for _ in range(5):
        limit.record(True)
    with pytest.raises(DlqLimitExceeded, match="6 of the last 10"):
        limit.record(True)


def test_defaults_tolerate_scattered_dead_letters() -> None:
    limit = DlqLimit()
    for i in range(5000):
        limit.record(i % 3 == 0)  # a third dead, never 50 in a row
    for _ in range(50):
        limit.record(True)  # 50 in a row is the limit, not above it
    with pytest.raises(DlqLimitExceeded, match="51 dead letters in a row"):
        limit.record(True)


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=10),
    st.lists(st.booleans(), max_size=300),
)
def test_consecutive_rule_matches_a_reference(max_consecutive: int, outcomes: list[bool]) -> None:
    limit = DlqLimit(max_consecutive=max_consecutive, max_ratio=1.0, window=50, min_messages=1)
    run = 0
    for dead in outcomes:
        run = run + 1 if dead else 0
        if run > max_consecutive:
            with pytest.raises(DlqLimitExceeded):
                limit.record(dead)
            return
        limit.record(dead)


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=30),
    st.floats(min_value=0.05, max_value=0.95),
    st.lists(st.booleans(), max_size=200),
)
def test_ratio_rule_matches_a_reference(
    window: int, min_messages: int, ratio: float, outcomes: list[bool]
) -> None:
    limit = DlqLimit(
        max_consecutive=10_000, max_ratio=ratio, window=window, min_messages=min_messages
    )
    for i, dead in enumerate(outcomes):
        recent = outcomes[max(0, i + 1 - window) : i + 1]
        should_raise = len(recent) >= min_messages and sum(recent) / len(recent) > ratio
        if should_raise:
            with pytest.raises(DlqLimitExceeded):
                limit.record(dead)
            return
        limit.record(dead)
