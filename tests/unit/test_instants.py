"""Client-given instants: offset required, UTC, within years 1..9999 in UTC, '+' as space."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.instants import in_utc, parse_instant


def test_a_plus_sent_as_a_space_is_read_as_a_plus() -> None:
    assert parse_instant("2026-11-01T00:00:00 01:00") == datetime(2026, 10, 31, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0001-01-01T00:00:00+14:00", "out of range"),
        ("9999-12-31T23:59:59-14:00", "out of range"),
        ("2026-11-01T00:00:00", "offset"),
        ("yesterday", "ISO 8601"),
    ],
)
def test_bad_instants_say_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_instant(text)


@given(st.datetimes(timezones=st.just(timezone(timedelta(hours=14)))))
def test_in_utc_is_the_same_instant_or_a_value_error(at: datetime) -> None:
    try:
        utc = in_utc(at)
    except ValueError:
        return
    assert utc == at and utc.tzinfo is UTC
