"""Scoring datasets: CSV headers to targets, cell values to a LeadProfile, the history outcome rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.datasets import (
    DatasetError,
    HistoryLead,
    ReadCounts,
    StoredSubmission,
    Target,
    activities_before,
    as_of_moment,
    history_row,
    map_columns,
    normalize_country,
    outcome_from_history,
    parse_outcome,
    plain_number,
    profile_as_of,
    read_rows,
    slug,
)
from services.router.domain.model import ActivityPoint
from services.router.domain.scoring import load_scoring_rules, score
from services.router.domain.scoring_rows import ScoringRow

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def targets(headers: list[str], **kw: object) -> dict[str, str]:
    cmap = map_columns(headers, id_column=None, outcome_column=None, **kw)  # type: ignore[arg-type]
    return {c.header: c.target.name for c in cmap.columns}


def test_headers_map_case_and_separator_insensitively() -> None:
    assert targets(["Job Title", "job-title"], ignore=["job-title"]) == {"Job Title": "job_title"}
    assert targets(["job_title"]) == {"job_title": "job_title"}
    assert targets(["Title"]) == {"Title": "job_title"}
    assert targets(["Company.Domain"]) == {"Company.Domain": "company_domain"}
    assert targets(["E-mail Address"]) == {"E-mail Address": "email"}  # the ingest's aliases


def test_utm_custom_and_count_headers() -> None:
    got = targets(
        [
            "utm.source",
            "UTM_Medium",
            "utm campaign",
            "custom.seats",
            "Page Visit Count",
            "open_count",
        ]
    )
    assert got == {
        "utm.source": "utm.source",
        "UTM_Medium": "utm.medium",
        "utm campaign": "utm.campaign",
        "custom.seats": "custom.seats",
        "Page Visit Count": "page_visit_count",
        "open_count": "open_count",
    }


def test_unknown_headers_are_read_as_custom_slugs_and_noted() -> None:
    cmap = map_columns(
        ["Total Time Spent on Website", "Lead Source"], id_column=None, outcome_column=None
    )
    assert [c.target for c in cmap.columns] == [
        Target("custom", "total_time_spent_on_website"),
        Target("custom", "lead_source"),
    ]
    assert "column 'Lead Source' read as custom.lead_source" in cmap.notes()
    assert slug("  Weird -- Name!! ") == "weird_name"


def test_identifier_columns_are_left_out_unless_they_are_the_id() -> None:
    headers = ["Prospect ID", "Lead Number", "Code", "Seconds", "Notes", "Converted"]
    sample = [
        [f"7927b2df-{i:04d}", str(660000 + i), f"X{i:05d}", str(i * 7), f"call {i} back", "1"]
        for i in range(40)
    ]
    cmap = map_columns(headers, id_column=None, outcome_column="converted", sample=sample)
    assert set(cmap.identifiers) == {"Prospect ID", "Lead Number", "Code"}
    assert {c.header for c in cmap.columns} == {"Seconds", "Notes", "Converted"}
    cmap = map_columns(headers, id_column="prospect id", outcome_column="Converted", sample=sample)
    assert cmap.id_index == 0 and "Prospect ID" not in cmap.identifiers


def test_distinct_codes_are_identifiers_but_distinct_amounts_are_not() -> None:
    sample = [[f"00Q{i:04d}CBFF8AB", f"${i * 1_000 + 7:,}", f"{i}.5"] for i in range(40)]
    cmap = map_columns(["Ref", "Annual Revenue", "Seconds"], id_column=None, outcome_column=None,
                       sample=sample)  # fmt: skip
    assert cmap.identifiers == ("Ref",)
    assert [c.target.name for c in cmap.columns] == ["custom.annual_revenue", "custom.seconds"]
    uuids = [[f"1121a14d-8fde-4639-932a-29cf27cd{i:04x}"] for i in range(40)]
    assert map_columns(["Key Of Row"], id_column=None, outcome_column=None,
                       sample=uuids).identifiers == ("Key Of Row",)  # fmt: skip


def test_a_repeating_column_with_an_id_like_name_is_kept() -> None:
    sample = [["A" if i % 2 else "B"] for i in range(40)]
    cmap = map_columns(["Region Code"], id_column=None, outcome_column=None, sample=sample)
    assert cmap.identifiers == ()


def test_two_headers_for_one_target_are_an_error() -> None:
    with pytest.raises(DatasetError, match="'Phone' and 'Mobile' both read as phone"):
        map_columns(["Phone", "Mobile"], id_column=None, outcome_column=None)
    with pytest.raises(DatasetError, match="no outcome column 'won'"):
        map_columns(["Phone"], id_column=None, outcome_column="won")


def read(headers: list[str], rows: list[list[str]], **kw: object) -> tuple[list, ReadCounts]:  # type: ignore[type-arg]
    cmap = map_columns(headers, **{"id_column": None, "outcome_column": None, **kw})  # type: ignore[arg-type]
    counts = ReadCounts()
    return list(read_rows(cmap, rows, at=AT, counts=counts)), counts


@pytest.mark.parametrize("missing", ["", "NA", "n/a", "NaN", "null", "None", "-", "  "])
def test_missing_values_are_absent(missing: str) -> None:
    (row,), _ = read(
        ["Title", "custom.x", "utm_source", "City"], [[missing, missing, missing, "Oslo"]]
    )
    assert row.lead.job_title is None and row.lead.custom == {} and row.lead.utm == {}


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("$1,200,000", 1200000),
        ("1,200", 1200),
        ("12%", 12),
        ("€ 3.5", 3.5),
        ("-1,000", -1000),
        ("1.200,50", "1.200,50"),
        ("12 units", "12 units"),
        ("1,20", "1,20"),
        ("$", "$"),
    ],
)
def test_numbers_formatted_for_reading_are_numbers(cell: str, value: object) -> None:
    (row,), _ = read(["Annual Revenue"], [[cell]])
    assert row.lead.custom["annual_revenue"] == value


def test_an_exports_own_placeholders_are_missing_when_named() -> None:
    headers = ["Specialization", "City", "Lead Source"]
    cells = [["Select", "select ", "Google"]]
    (kept,), _ = read(headers, cells)
    assert kept.lead.custom == {"specialization": "Select", "lead_source": "Google"}
    assert kept.lead.city == "select"
    (row,), _ = read(headers, cells, missing=["Select"])
    assert row.lead.custom == {"lead_source": "Google"} and row.lead.city is None


def test_values_numbers_countries_and_ids() -> None:
    rows, _ = read(
        ["Country", "Seconds", "Revenue", "Company Size", "Website"],
        [
            ["Germany", "300", "1,200", "250", "https://www.acme.com/about"],
            ["us", "3.5", "-2", "11-50", "acme.io"],
            ["Narnia", "12abc", ".5", "lots", ""],
        ],
    )
    assert [r.id for r in rows] == ["row-2", "row-3", "row-4"]
    assert [r.lead.country for r in rows] == ["DE", "US", "Narnia"]
    assert [r.lead.custom["seconds"] for r in rows] == [300, 3.5, "12abc"]
    assert [r.lead.custom["revenue"] for r in rows] == [1200, -2, 0.5]
    assert [r.lead.company_size for r in rows] == ["201-500", "11-50", "lots"]
    assert [r.lead.company_domain for r in rows] == ["acme.com", "acme.io", None]
    assert isinstance(rows[0].lead.custom["seconds"], int)


def test_counts_become_fresh_activities_and_bad_counts_are_problems() -> None:
    rows, counts = read(
        ["Open Count", "click_count"],
        [["3", "0"], ["2.0", "1"], ["-1", "1"], ["two", ""], ["1e9", ""], ["20000", ""]],
    )
    assert [len(r.activities) for r in rows] == [3, 3]
    assert all(a.at == AT and a.kind in ("open", "click") for r in rows for a in r.activities)
    assert counts.read == 2 and counts.skipped == 4
    assert [(p.line, p.value) for p in counts.problems] == [
        (4, "-1"),
        (5, "two"),
        (6, "1e9"),
        (7, "20000"),
    ]


def test_outcomes_and_unparseable_outcomes() -> None:
    values = ["1", "0", "TRUE", "false", "Yes", "no", "y", "N", "Converted", "Not Converted"]
    values += ["won", "Lost", "", "NA", "maybe"]
    rows, counts = read(
        ["id", "Status"],
        [[str(i), v] for i, v in enumerate(values)],
        id_column="ID",
        outcome_column="status",
    )
    assert [r.outcome for r in rows] == [True, False] * 6 + [None, None]
    assert [(p.line, p.value) for p in counts.problems] == [(16, "maybe")]
    assert rows[0].id == "0"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Closed - Converted", True),
        ("Closed - Not Converted", False),
        ("Closed Won", True),
        ("closed_lost", False),
        ("Open - Not Contacted", None),
        ("Working - Contacted", None),
        ("Unqualified", False),
    ],
)
def test_crm_lead_statuses(status: str, expected: bool | None) -> None:
    assert parse_outcome(status) is expected


def test_blank_lines_are_skipped_but_keep_line_numbers() -> None:
    rows, _ = read(
        ["Title"],
        [
            ["CTO"],
            [],
            [
                "",
            ],
            ["VP"],
        ],
    )
    assert [r.id for r in rows] == ["row-2", "row-5"]


@given(st.text(max_size=12))
def test_plain_number_round_trips_only_plain_decimals(text: str) -> None:
    number = plain_number(text)
    if number is not None:
        assert float(text) == number
        assert "," not in text and "e" not in text.lower()


@given(st.text(max_size=20))
def test_outcome_parsing_never_raises_anything_but_value_error(text: str) -> None:
    try:
        result = parse_outcome(text)
    except ValueError:
        return
    assert result in (True, False, None)


@given(st.lists(st.text(min_size=1, max_size=15), min_size=1, max_size=8, unique=True))
def test_any_headers_map_or_fail_clearly(headers: list[str]) -> None:
    try:
        cmap = map_columns(headers, id_column=None, outcome_column=None)
    except DatasetError as exc:
        assert "both read as" in str(exc)
        return
    names = [c.target.name for c in cmap.columns]
    assert len(names) == len(set(names))
    unnamed = {headers[n - 1] for n in cmap.unnamed}  # no header: left out
    assert {c.header for c in cmap.columns} | set(cmap.identifiers) | unnamed == set(headers)


def test_country_codes_and_names() -> None:
    assert normalize_country("gb") == "GB"
    assert normalize_country("United Kingdom") == "GB"
    assert normalize_country("  united   states ") == "US"
    assert normalize_country("Atlantis") == "Atlantis"


# --- the history's outcome rule ---------------------------------------------------------

RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = RECEIVED + timedelta(days=200)


def outcome(**kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "status": "assigned",
        "received_at": RECEIVED,
        "sales_statuses": [],
        "stages": [],
        "now": NOW,
    }
    return outcome_from_history(**{**args, **kw})  # type: ignore[arg-type]


def test_converted_qualified_or_opportunity_is_positive_from_the_first_report() -> None:
    day = timedelta(days=1)
    got = outcome(
        sales_statuses=[("working", RECEIVED + day), ("qualified", RECEIVED + 5 * day)],
        stages=[("opportunity", RECEIVED + 3 * day)],
    )
    assert got is not None and got.outcome is True and got.cutoff == RECEIVED + 5 * day
    # the stage's time (when the router recorded it) only when no status says when
    got = outcome(stages=[("lead", RECEIVED), ("customer", RECEIVED + 3 * day)])
    assert got is not None and got.outcome is True and got.cutoff == RECEIVED + 3 * day
    got = outcome(sales_statuses=[("converted", RECEIVED + 9 * day)])
    assert got is not None and got.outcome and got.cutoff == RECEIVED + 9 * day
    # recycled first, converted later: a conversion
    got = outcome(sales_statuses=[("recycled", RECEIVED + day), ("converted", RECEIVED + 50 * day)])
    assert got is not None and got.outcome is True


def test_disqualified_recycled_or_stale_is_negative() -> None:
    day = timedelta(days=1)
    got = outcome(sales_statuses=[("disqualified", RECEIVED + 4 * day)])
    assert got is not None and got.outcome is False and got.cutoff == RECEIVED + 4 * day
    got = outcome(sales_statuses=[("recycled", RECEIVED + 7 * day)])
    assert got is not None and got.outcome is False
    got = outcome(negative_after_days=90)
    assert got is not None and got.outcome is False and got.cutoff == RECEIVED + 90 * day
    assert outcome(now=RECEIVED + 89 * day) is None  # too early to tell
    assert outcome(sales_statuses=[("working", RECEIVED + day)], now=RECEIVED + 10 * day) is None


@pytest.mark.parametrize("status", ["merged", "erased"])
def test_merged_and_erased_leads_are_left_out(status: str) -> None:
    assert outcome(status=status, sales_statuses=[("converted", RECEIVED)]) is None


def test_activities_after_the_outcome_do_not_leak() -> None:
    cutoff = RECEIVED + timedelta(days=10)
    acts = [ActivityPoint("open", RECEIVED + timedelta(days=d)) for d in (1, 9, 10, 11, 60)]
    assert [a.at for a in activities_before(acts, cutoff)] == [acts[0].at, acts[1].at]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["working", "qualified", "converted", "disqualified", "recycled"]),
            st.integers(0, 400),
        ),
        max_size=6,
    ),
    st.integers(1, 365),
)
def test_the_cutoff_is_never_after_the_deciding_report(
    reports: list[tuple[str, int]], after_days: int
) -> None:
    statuses = [(s, RECEIVED + timedelta(days=d)) for s, d in reports]
    got = outcome(sales_statuses=statuses, negative_after_days=after_days, now=NOW)
    decisive = [t for s, t in statuses if s != "working"]
    if got is None:
        assert not decisive and NOW < RECEIVED + timedelta(days=after_days)
        return
    if decisive:
        assert got.cutoff in decisive
    else:
        assert got.cutoff == RECEIVED + timedelta(days=after_days)


CELLS = st.one_of(
    st.sampled_from(["", "NA", "-", "3", "-1", "2.5", "yes", "no", "Germany", "1,200", "x"]),
    st.text(max_size=8),
)


@given(st.lists(st.lists(CELLS, min_size=0, max_size=7), max_size=12))
def test_any_rows_become_scoring_rows_or_problems(rows: list[list[str]]) -> None:
    headers = ["Title", "Country", "open_count", "custom.seats", "utm_source", "Notes", "Won"]
    cmap = map_columns(headers, id_column=None, outcome_column="won")
    counts = ReadCounts()
    read = list(read_rows(cmap, rows, at=AT, counts=counts))
    non_blank = [r for r in rows if any(c.strip() for c in r)]
    assert len(read) == counts.read and counts.read + counts.skipped == len(non_blank)
    assert all(a.at == AT for r in read for a in r.activities)


def test_named_outcome_values_decide_and_the_rest_is_unknown_or_the_other_side() -> None:
    headers = ["Title", "Lifecycle Status"]
    cells = [["CTO", "Customer"], ["VP", "Bad Timing"], ["Dev", "In Progress"], ["X", ""]]
    both, _ = read(
        headers, cells, outcome_column="Lifecycle Status",
        positive=["customer"], negative=["Bad  timing"],
    )  # fmt: skip
    assert [r.outcome for r in both] == [True, False, None, None]
    only_positive, _ = read(
        headers, cells, outcome_column="Lifecycle Status", positive=["Customer"]
    )
    assert [r.outcome for r in only_positive] == [True, False, False, None]
    with pytest.raises(DatasetError, match="both a positive and a negative"):
        read(headers, cells, outcome_column="Lifecycle Status", positive=["x"], negative=["X"])


def test_columns_without_a_header_are_left_out_and_said() -> None:
    cmap = map_columns(["Title", "", " ", ""], id_column=None, outcome_column=None)
    assert [c.header for c in cmap.columns] == ["Title"]
    assert cmap.notes() == [
        "column 2 has no header: left out",
        "column 3 has no header: left out",
        "column 4 has no header: left out",
    ]


# --- the history's as-of moment ---------------------------------------------------------

DAY = timedelta(days=1)
RULES = load_scoring_rules(
    Path(__file__).resolve().parents[3] / "deploy" / "config" / "scoring.yaml"
)


def history_lead(**kw: object) -> HistoryLead:
    args: dict[str, object] = {
        "id": "lead-1",
        "status": "assigned",
        "received_at": RECEIVED,
        "profile": {"job_title": "VP Sales"},
        "source_id": "web",
        "channel": "web",
        "is_name": False,
        "activities": [ActivityPoint("page_visit", RECEIVED + d * DAY) for d in (1, 2, 3)],
    }
    return HistoryLead(**{**args, **kw})  # type: ignore[arg-type]


def row_of(lead: HistoryLead, *, now: datetime = NOW, as_of_days: int = 14) -> ScoringRow | None:
    return history_row(lead, now=now, negative_after_days=90, as_of_days=as_of_days)


def test_same_activities_score_the_same_whatever_the_outcome() -> None:
    converted = row_of(history_lead(sales_statuses=[("converted", RECEIVED + 4 * DAY)]))
    never = row_of(history_lead())
    lost_late = row_of(history_lead(sales_statuses=[("disqualified", RECEIVED + 120 * DAY)]))
    assert converted is not None and never is not None and lost_late is not None
    assert (converted.outcome, never.outcome, lost_late.outcome) == (True, False, False)
    assert converted.at == never.at == lost_late.at == RECEIVED + 14 * DAY
    scores = {score(r.lead, r.activities, RULES, r.at).total for r in (converted, never, lost_late)}
    assert len(scores) == 1


def test_no_activity_after_the_outcome_or_the_as_of_moment_counts() -> None:
    acts = [ActivityPoint("click", RECEIVED + d * DAY) for d in (1, 5, 6, 13, 14, 20)]
    won = row_of(history_lead(activities=acts, sales_statuses=[("converted", RECEIVED + 6 * DAY)]))
    assert won is not None and won.at == RECEIVED + 14 * DAY  # scored at as-of, not at the sale
    assert [a.at for a in won.activities] == [RECEIVED + DAY, RECEIVED + 5 * DAY]
    never = row_of(history_lead(activities=acts))
    assert never is not None and [a.at for a in never.activities] == [
        RECEIVED + d * DAY for d in (1, 5, 6, 13)
    ]
    at_arrival = row_of(history_lead(activities=acts), as_of_days=0)
    assert at_arrival is not None and at_arrival.at == RECEIVED and at_arrival.activities == ()


def test_the_as_of_moment_is_capped_at_now_and_recent_leads_are_left_out() -> None:
    assert as_of_moment(RECEIVED, 14, RECEIVED + 14 * DAY) == RECEIVED + 14 * DAY
    assert as_of_moment(RECEIVED, 14, RECEIVED + 13 * DAY) is None
    assert as_of_moment(RECEIVED, 0, RECEIVED) == RECEIVED
    converted = [("converted", RECEIVED + DAY)]
    recent = history_lead(sales_statuses=converted)
    assert row_of(recent, now=RECEIVED + 13 * DAY) is None  # its outcome is known, not its moment
    kept = row_of(recent, now=RECEIVED + 14 * DAY)
    assert kept is not None and kept.at == RECEIVED + 14 * DAY


@given(
    st.integers(0, 400),
    st.integers(0, 60),
    st.lists(st.integers(0, 400), max_size=8),
    st.sampled_from([None, "converted", "qualified", "disqualified", "recycled"]),
    st.integers(1, 200),
)
def test_the_row_never_sees_past_the_outcome_or_as_of(
    age: int, as_of_days: int, days: list[int], status: str | None, decided: int
) -> None:
    now = RECEIVED + age * DAY
    statuses = [] if status is None else [(status, RECEIVED + decided * DAY)]
    lead = history_lead(
        activities=[ActivityPoint("click", RECEIVED + d * DAY) for d in days],
        sales_statuses=statuses,
    )
    row = row_of(lead, now=now, as_of_days=as_of_days)
    if age < as_of_days:
        assert row is None
        return
    if row is None:
        return  # the outcome is not known yet
    assert row.at == RECEIVED + as_of_days * DAY <= now
    end = min([row.at] + [t for _, t in statuses])
    assert all(a.at < end for a in row.activities)
    assert len(row.activities) == sum(1 for d in days if RECEIVED + d * DAY < end)


def test_the_profile_is_the_one_merged_by_the_as_of_moment() -> None:
    first = StoredSubmission(RECEIVED, {"job_title": "VP Sales", "company": ""}, order="a")
    filled = StoredSubmission(RECEIVED + 5 * DAY, {"company": "Acme", "job_title": "CEO"}, "b")
    later = StoredSubmission(RECEIVED + 30 * DAY, {"country": "DE"}, order="c")
    lead = history_lead(
        profile={"job_title": "VP Sales", "company": "Acme", "country": "DE"},
        submissions=[later, filled, first],
    )
    row = row_of(lead)
    assert row is not None
    # the first value of a field wins, later ones fill blanks; the later country is not known yet
    assert (row.lead.job_title, row.lead.company, row.lead.country) == ("VP Sales", "Acme", None)
    arrival = profile_as_of([later, filled, first], {"x": 1}, RECEIVED)
    assert arrival == {"job_title": "VP Sales", "company": ""}
    # no fields stored (old data): the merged profile now
    old = StoredSubmission(RECEIVED, None)
    assert profile_as_of([old], {"company": "Acme"}, RECEIVED + DAY) == {"company": "Acme"}
    assert profile_as_of([], {"company": "Acme"}, RECEIVED + DAY) == {"company": "Acme"}
