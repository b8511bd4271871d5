"""Reactivation segments: dimensions and filters from query parameters, the keyset cursor,
exported rows and CSV cells; report windows."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.params import InvalidParameter, only_known, parse_instant, window
from services.router.domain.segments import (
    EXPORT_FIELDS,
    Cursor,
    Dimension,
    LeadSummary,
    SegmentFilters,
    csv_cell,
    csv_record,
    decode_cursor,
    encode_cursor,
    export_row,
    ordered_counts,
    parse_dimension,
    parse_filters,
)

NOW = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
CUSTOM = ("product_interest",)


@contextmanager
def invalid(param: str) -> Iterator[None]:
    with pytest.raises(InvalidParameter) as info:
        yield
    assert info.value.param == param, info.value.message


# --- dimensions and filters ----------------------------------------------------------------


def test_dimensions() -> None:
    assert parse_dimension("inactivity", CUSTOM) == Dimension("inactivity")
    assert parse_dimension("form", CUSTOM) == Dimension("form")
    assert parse_dimension("custom.product_interest", CUSTOM) == Dimension(
        "custom", "product_interest"
    )
    assert Dimension("custom", "product_interest").param == "custom.product_interest"
    with invalid("by"):
        parse_dimension("custom.plan", CUSTOM)  # not configured
    with invalid("by"):
        parse_dimension("custom.product_interest", ())
    with invalid("by"):
        parse_dimension("country", CUSTOM)


def test_filters_repeat_as_any_of_and_keep_the_endpoints_own_parameters_out() -> None:
    filters = parse_filters(
        [
            ("stage", "mql"),
            ("stage", "sql"),
            ("stage", "mql"),
            ("inactivity", "over_1_year"),
            ("campaign", "(none)"),
            ("custom.product_interest", " crm "),
            ("limit", "10"),
        ],
        CUSTOM,
        others=("limit",),
    )
    assert filters == SegmentFilters(
        inactivity=("over_1_year",),
        stages=("mql", "sql"),
        campaigns=("(none)",),
        custom=(("product_interest", ("crm",)),),
    )


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ([("stage", "prospect")], "stage"),
        ([("inactivity", "2_years")], "inactivity"),
        ([("campaign", "  ")], "campaign"),
        ([("form", "x" * 201)], "form"),
        ([("campaign", "spring\x00")], "campaign"),
        ([("form", "f\x07")], "form"),
        ([("custom.plan", "pro")], "custom.plan"),
        ([("campain", "spring")], "campain"),  # a typo never widens an export
        ([("limit", "10")], "limit"),  # not one of this endpoint's parameters
    ],
)
def test_bad_filters_name_their_parameter(params: list[tuple[str, str]], param: str) -> None:
    with invalid(param):
        parse_filters(params, CUSTOM)


def test_counts_keep_segments_and_stages_in_order_and_interest_by_size() -> None:
    assert ordered_counts(Dimension("inactivity"), {"over_1_year": 2}) == [
        ("under_3_months", 0),
        ("3_to_12_months", 0),
        ("over_1_year", 2),
    ]
    stages = ordered_counts(Dimension("stage"), {"sql": 1, "zombie": 1})
    assert stages[0] == ("name", 0) and stages[3] == ("sql", 1) and stages[-1] == ("zombie", 1)
    assert ordered_counts(Dimension("campaign"), {"b": 2, "a": 2, "(none)": 5}) == [
        ("(none)", 5),
        ("a", 2),
        ("b", 2),
    ]


# --- cursor --------------------------------------------------------------------------------


@given(st.uuids(), st.datetimes(timezones=st.just(UTC)))
def test_cursor_round_trips(after: uuid.UUID, as_of: datetime) -> None:
    filters = SegmentFilters(stages=("mql",))
    cursor = Cursor(after=after, as_of=as_of, filters=filters.fingerprint())
    text = encode_cursor(cursor)
    assert "=" not in text and "/" not in text and "+" not in text  # URL-safe as it comes
    assert decode_cursor(text, filters) == cursor


def test_a_cursor_only_serves_the_filters_it_was_made_for() -> None:
    mine = SegmentFilters(stages=("mql", "sql"))
    same = SegmentFilters(stages=("sql", "mql"))  # order does not matter
    text = encode_cursor(Cursor(uuid.uuid4(), NOW, mine.fingerprint()))
    assert decode_cursor(text, same).as_of == NOW
    with invalid("cursor"):
        decode_cursor(text, SegmentFilters(stages=("mql",)))


@pytest.mark.parametrize("text", ["", "not-a-cursor", "e30", "eyJ2IjoyfQ", "!!!"])
def test_a_cursor_not_made_here_is_refused(text: str) -> None:
    with invalid("cursor"):
        decode_cursor(text, SegmentFilters())


def test_a_tampered_cursor_is_refused_naming_cursor() -> None:
    filters = SegmentFilters()
    good = {
        "v": 1,
        "after": str(uuid.uuid4()),
        "as_of": NOW.isoformat(),
        "f": filters.fingerprint(),
    }

    def tampered(payload: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    assert decode_cursor(tampered(good), filters).as_of == NOW
    for text in (
        tampered({**good, "after": ["x"]}),
        tampered({**good, "after": 123}),
        tampered({**good, "as_of": "0001-01-01T00:00:00+05:00"}),  # before year 1 in UTC
        tampered({**good, "as_of": 5}),
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),  # deep nesting
        "A" * 10_000,
    ):
        with invalid("cursor"):
            decode_cursor(text, filters)


# --- exported rows -------------------------------------------------------------------------


def summary(**fields) -> LeadSummary:  # type: ignore[no-untyped-def]
    base = dict(
        id=uuid.UUID(int=1), stage="mql", status="nurture", owner=None, team=None,
        source="website", channel="web", received_at=NOW - timedelta(days=400),
        last_activity_at=None, email="ada@example.com", first_name="Ada", last_name=None,
        company="=HYPERLINK(\"x\")", country="DE", campaign=None,
    )  # fmt: skip
    return LeadSummary(**{**base, **fields})


def test_export_row_measures_inactivity_from_the_last_activity_else_arrival() -> None:
    row = export_row(summary(), NOW)
    assert list(row) == list(EXPORT_FIELDS)
    assert row["segment"] == "over_1_year" and row["name"] == "Ada"
    active = export_row(summary(last_activity_at=NOW - timedelta(days=100)), NOW)
    assert active["segment"] == "3_to_12_months"
    assert active["last_activity_at"] == NOW - timedelta(days=100)
    assert export_row(summary(first_name=None), NOW)["name"] is None


def test_csv_cells_never_start_a_formula() -> None:
    assert csv_cell(None) == ""
    assert csv_cell("Acme") == "Acme"
    for text in ("=1+1", "+49 30", "-2", "@SUM(A1)", "\tx"):
        assert csv_cell(text) == "'" + text
    assert csv_cell(-5) == "-5" and csv_cell(-0.5) == "-0.5" and csv_cell(70) == "70"
    record = csv_record(export_row(summary(), NOW))
    assert record[EXPORT_FIELDS.index("company")] == '\'=HYPERLINK("x")'
    assert record[EXPORT_FIELDS.index("owner")] == ""
    assert record[EXPORT_FIELDS.index("received_at")] == "2025-10-27T16:30:00Z"


# --- windows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2026-11-01T00:00:00Z", "2026-11-01T01:00:00+01:00", "2026-11-01T01:00:00 01:00"],
)
def test_instants_need_an_offset_and_a_plus_lost_in_a_url_is_read_back(text: str) -> None:
    assert parse_instant("from", text) == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-11-01T00:00:00", "2026-11-01", "yesterday", ""])
def test_instants_without_offset_or_unreadable_are_refused(text: str) -> None:
    with invalid("from"):
        parse_instant("from", text)


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+00:01"]
)
def test_instants_beyond_year_1_or_9999_in_utc_are_refused(text: str) -> None:
    with invalid("received_from"):
        parse_instant("received_from", text)


def test_a_window_near_year_1_is_refused_not_overflowed() -> None:
    with invalid("to"):
        window(None, "0001-01-05T00:00:00Z", NOW)
    assert window(None, "9999-12-31T23:59:59Z", NOW).start.year == 9999


def test_window_defaults_to_the_30_days_before_to() -> None:
    assert window(None, None, NOW) == type(window(None, None, NOW))(NOW - timedelta(days=30), NOW)
    to = "2026-06-01T00:00:00Z"
    assert window(None, to, NOW).start == datetime(2026, 5, 2, tzinfo=UTC)
    assert window("2026-11-30T00:00:00Z", None, NOW).end == NOW
    with invalid("to"):
        window("2026-06-01T00:00:00Z", "2026-06-01T00:00:00Z", NOW)


def test_unknown_parameters_are_named() -> None:
    only_known(["from", "by"], ("from", "to", "by"))
    with invalid("grup"):
        only_known(["from", "grup"], ("from", "to", "by"))
