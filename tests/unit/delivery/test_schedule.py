"""The webhook retry schedule and Retry-After parsing."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.delivery.domain.schedule import (
    JITTER,
    MAX_ATTEMPTS,
    RETRY_AFTER_CAP,
    RETRY_DELAYS,
    next_attempt_at,
    parse_retry_after,
)

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def test_the_schedule_is_eight_attempts_over_27h35m5s() -> None:
    assert MAX_ATTEMPTS == 8 == len(RETRY_DELAYS)
    assert RETRY_DELAYS[0] == timedelta(0)
    assert sum(RETRY_DELAYS, timedelta(0)) == timedelta(hours=27, minutes=35, seconds=5)


def test_without_jitter_each_attempt_follows_the_table() -> None:
    due = [next_attempt_at(n, NOW, rng=lambda: 0.5) for n in range(1, MAX_ATTEMPTS)]
    assert due == [NOW + d for d in RETRY_DELAYS[1:]]


def test_nothing_is_due_after_the_last_attempt() -> None:
    assert next_attempt_at(MAX_ATTEMPTS, NOW) is None
    assert next_attempt_at(MAX_ATTEMPTS + 3, NOW, retry_after=timedelta(seconds=1)) is None


def test_the_first_attempt_is_due_at_once_and_negative_counts_are_refused() -> None:
    assert next_attempt_at(0, NOW) == NOW
    with pytest.raises(ValueError, match="attempts_made"):
        next_attempt_at(-1, NOW)


@given(attempts=st.integers(min_value=1, max_value=MAX_ATTEMPTS - 1), r=unit)
def test_each_delay_is_within_the_jitter_bounds(attempts: int, r: float) -> None:
    due = next_attempt_at(attempts, NOW, rng=lambda: r)
    assert due is not None
    base = RETRY_DELAYS[attempts]
    assert base * (1 - JITTER) <= due - NOW <= base * (1 + JITTER)


@given(rs=st.lists(unit, min_size=MAX_ATTEMPTS - 1, max_size=MAX_ATTEMPTS - 1))
def test_the_whole_schedule_stays_within_ten_percent_of_27h35m(rs: list[float]) -> None:
    when, total = NOW, timedelta(0)
    for attempts, r in enumerate(rs, start=1):
        due = next_attempt_at(attempts, when, rng=functools.partial(float, r))
        assert due is not None and due >= when
        total += due - when
        when = due
    assert next_attempt_at(MAX_ATTEMPTS, when) is None
    nominal = timedelta(hours=27, minutes=35, seconds=5)
    assert nominal * 0.9 <= total <= nominal * 1.1


@given(
    attempts=st.integers(min_value=1, max_value=MAX_ATTEMPTS - 1),
    r=unit,
    seconds=st.integers(min_value=0, max_value=10 * 86400),
)
def test_retry_after_postpones_but_never_advances_and_is_capped(
    attempts: int, r: float, seconds: int
) -> None:
    retry_after = timedelta(seconds=seconds)
    plain = next_attempt_at(attempts, NOW, rng=lambda: r)
    honoured = next_attempt_at(attempts, NOW, retry_after=retry_after, rng=lambda: r)
    assert plain is not None and honoured is not None
    assert honoured == max(plain, NOW + min(retry_after, RETRY_AFTER_CAP))


def test_a_long_retry_after_is_capped_at_24_hours() -> None:
    due = next_attempt_at(1, NOW, retry_after=timedelta(days=3), rng=lambda: 0.5)
    assert due == NOW + timedelta(hours=24)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 0 ", timedelta(0)),
        ("Mon, 04 May 2026 12:05:00 GMT", timedelta(minutes=5)),
        ("Monday, 04-May-26 12:00:30 GMT", timedelta(seconds=30)),  # RFC 850, still valid
        ("Mon May  4 13:00:00 2026", timedelta(hours=1)),  # asctime
        ("99999999999999999999", timedelta(days=365)),  # bounded, not an overflow
    ],
)
def test_retry_after_seconds_and_http_dates(value: str, expected: timedelta) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "  ", "-5", "1.5", "soon", "5s", "Mon, 04 May 2026 11:00:00 GMT", "Mon, 99 Foo"],
)
def test_retry_after_junk_negative_and_past_dates_are_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@given(st.text(max_size=40))
def test_retry_after_never_raises(value: str) -> None:
    parsed = parse_retry_after(value, NOW)
    assert parsed is None or parsed >= timedelta(0)
