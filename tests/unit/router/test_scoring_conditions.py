"""Scoring conditions on numbers, utm and custom fields, and engagement counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.intake import profile_of
from services.router.domain.model import ActivityPoint, LeadProfile
from services.router.domain.scoring import (
    Condition,
    ScoringConfigError,
    engagement_counts,
    field_value,
    is_condition_field,
    parse_scoring_rules,
    score,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

RULES = b"""
thresholds: {warm: 10, hot: 20, mql: 12, sql: 25}
engagement:
  points: {page_visit: 2}
  cap: 10
  half_life_days: 30
inactivity: {after_days: 90, penalty: 0}
criteria:
  - id: many_visits
    label: Visited the website 5 times or more
    band: very_important
    points: 7
    conditions:
      - field: page_visit_count
        at_least: 5
  - id: time_on_site
    label: 300 to 1200 seconds on the website
    band: valid
    points: 3
    conditions:
      - field: custom.total_time_spent_on_website
        between: [300, 1200]
  - id: from_google
    label: Came from Google ads
    band: valid
    points: 2
    conditions:
      - field: utm.source
        in: ["google"]
  - id: big_team
    label: Ten seats exactly
    band: valid
    points: 1
    conditions:
      - field: custom.seats
        equals: "10"
  - id: spring_campaign
    label: Spring campaign
    band: valid
    points: 4
    conditions:
      - field: campaign
        equals: spring-26
  - id: few_bounces
    label: At most one bounce
    band: negative
    points: -2
    conditions:
      - field: bounce_count
        at_most: 0.5
"""


def visits(n: int) -> list[ActivityPoint]:
    return [ActivityPoint(kind="page_visit", at=NOW - timedelta(days=1)) for _ in range(n)]


def test_a_file_with_every_new_condition_loads_and_scores() -> None:
    rules = parse_scoring_rules(RULES)
    lead = LeadProfile(
        campaign="Spring-26",
        utm={"source": "Google"},
        custom={"total_time_spent_on_website": 640, "seats": 10.0},
    )
    result = score(lead, visits(5), rules, NOW)
    by_id = {item.criterion: item for item in result.breakdown}
    assert set(by_id) == {
        "many_visits",
        "time_on_site",
        "from_google",
        "big_team",
        "spring_campaign",
        "few_bounces",
        "engagement.page_visit",
    }
    assert by_id["many_visits"].detail == "page_visit_count 5 is at least 5"
    assert by_id["time_on_site"].detail == (
        "custom.total_time_spent_on_website 640 is between 300 and 1200"
    )
    assert by_id["from_google"].detail == "utm.source 'Google' is 'google'"
    assert result.fit == 7 + 3 + 2 + 1 + 4 - 2
    assert result.total == sum(item.points for item in result.breakdown)


def test_numbers_written_as_text_compare_as_numbers_and_others_never_match() -> None:
    between = Condition("custom.revenue", "between", (10.0, 50.0))
    assert between.matches(LeadProfile(custom={"revenue": "12.5"}))
    assert between.matches(LeadProfile(custom={"revenue": 50}))
    assert not between.matches(LeadProfile(custom={"revenue": "1,200"}))  # not a plain decimal
    assert not between.matches(LeadProfile(custom={"revenue": "lots"}))
    assert not between.matches(LeadProfile(custom={"revenue": True}))
    assert not between.matches(LeadProfile())
    assert Condition("custom.plan", "present", False).matches(LeadProfile(custom={"plan": " "}))


def test_counts_are_zero_without_activities_and_count_every_activity() -> None:
    at_most = Condition("click_count", "at_most", 0.0)
    assert at_most.matches(LeadProfile(), {})
    counts = engagement_counts(
        [ActivityPoint("click", NOW), ActivityPoint("click", NOW + timedelta(days=3))], NOW
    )
    assert counts == {"click": 2}
    assert field_value(LeadProfile(), counts, "click_count") == 2.0
    assert not at_most.matches(LeadProfile(), counts)


def test_equals_and_in_compare_numbers_as_numbers_and_text_as_text() -> None:
    assert Condition("custom.seats", "equals", "10").matches(LeadProfile(custom={"seats": 10.0}))
    assert Condition("custom.seats", "in", ("5", "10.0")).matches(LeadProfile(custom={"seats": 10}))
    assert not Condition("custom.seats", "equals", "ten").matches(LeadProfile(custom={"seats": 10}))
    assert Condition("custom.tier", "equals", "gold").matches(LeadProfile(custom={"tier": "Gold"}))
    assert Condition("custom.trial", "equals", "true").matches(LeadProfile(custom={"trial": True}))


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("custom.lead_source", True),
        ("custom.Lead-Source.v2", True),
        ("custom.", False),
        ("custom.bad key", False),
        ("utm.source", True),
        ("utm.referrer", False),
        ("page_visit_count", True),
        ("purchase_count", False),
        ("campaign", True),
        ("utm", False),
        ("custom", False),
    ],
)
def test_condition_fields(name: str, known: bool) -> None:
    assert is_condition_field(name) is known


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("{field: custom.x, between: [5, 1]}", "between \\[5, 1\\]: low above high"),
        ("{field: custom.x, between: [5]}", "between needs two numbers"),
        ("{field: custom.x, at_least: ten}", "at_least"),
        ("{field: custom.x, at_least: true}", "at_least"),
        ("{field: custom.x, at_least: .nan}", "at_least"),
        ("{field: utm.referrer, equals: x}", "unknown field 'utm.referrer'"),
        ("{field: purchase_count, at_least: 1}", "unknown field 'purchase_count'"),
        ("{field: custom.x, at_least: 1, at_most: 3}", "needs exactly one operator"),
        ("{field: custom.x, above: ten}", "above"),
        ("{field: custom.x, above: true}", "above"),
        ("{field: custom.x, above: [1, 2]}", "above"),
        ("{field: custom.x, below: .nan}", "below"),
        ("{field: custom.x, below: .inf}", "below"),
        ('{field: custom.x, below: "3"}', "below"),
        ("{field: custom.x, above: 1, below: 3}", "needs exactly one operator"),
    ],
)
def test_bad_numeric_and_field_conditions_are_refused_by_name(condition: str, message: str) -> None:
    text = f"""
thresholds: {{warm: 10, hot: 20, mql: 12, sql: 25}}
engagement: {{points: {{}}, cap: 0, half_life_days: 30}}
inactivity: {{after_days: 90, penalty: 0}}
criteria:
  - id: c1
    band: valid
    points: 1
    conditions: [{condition}]
"""
    with pytest.raises(ScoringConfigError, match=message) as exc:
        parse_scoring_rules(text.encode(), origin="rules.yaml")
    assert "criterion 'c1'" in str(exc.value)


def test_the_stored_profile_carries_utm_custom_and_campaign() -> None:
    lead = profile_of(
        {
            "email": "a@b.io",
            "campaign": "spring",
            "utm": {"source": "google", "medium": None},
            "custom": {"seats": 12, "plan": "pro"},
        },
        source_id="web",
        channel="web",
        purchased_list=False,
    )
    assert lead.campaign == "spring"
    assert lead.utm == {"source": "google"}
    assert lead.custom == {"seats": 12, "plan": "pro"}
    empty = profile_of({"utm": None}, source_id=None, channel=None, purchased_list=False)
    assert empty.utm == {} and empty.custom == {}


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@given(low=finite, high=finite, value=finite)
def test_between_holds_exactly_inside_the_inclusive_bounds(
    low: float, high: float, value: float
) -> None:
    low, high = min(low, high), max(low, high)
    condition = Condition("custom.x", "between", (low, high))
    assert condition.matches(LeadProfile(custom={"x": value})) is (low <= value <= high)
    at_least = Condition("custom.x", "at_least", low)
    assert at_least.matches(LeadProfile(custom={"x": value})) is (value >= low)


@given(value=finite)
def test_a_number_and_its_decimal_text_score_alike(value: float) -> None:
    text = f"{value:.6f}"  # a plain decimal
    condition = Condition("custom.x", "at_least", float(text))
    assert condition.matches(LeadProfile(custom={"x": text}))
    assert condition.matches(LeadProfile(custom={"x": float(text)}))
    above = Condition("custom.x", "at_least", float(text) + 1)
    assert not above.matches(LeadProfile(custom={"x": text}))


def test_numbers_formatted_for_reading_compare_as_numbers() -> None:
    revenue = Condition("custom.revenue", "at_least", 1_000_000.0)
    assert revenue.matches(LeadProfile(custom={"revenue": "$1,200,000"}))
    assert revenue.matches(LeadProfile(custom={"revenue": "1,200,000"}))
    assert not revenue.matches(LeadProfile(custom={"revenue": "1.200.000,00"}))
    share = Condition("custom.share", "between", (10.0, 20.0))
    assert share.matches(LeadProfile(custom={"share": "12%"}))
    assert not share.matches(LeadProfile(custom={"share": "12 units"}))


@pytest.mark.parametrize("placeholder", ["N/A", "na", " NULL ", "none", "-", "nan"])
def test_placeholders_in_custom_and_utm_fields_are_missing(placeholder: str) -> None:
    lead = LeadProfile(custom={"plan": placeholder}, utm={"source": placeholder})
    assert Condition("custom.plan", "present", False).matches(lead)
    assert Condition("utm.source", "present", False).matches(lead)
    assert not Condition("custom.plan", "in", (placeholder.strip(),)).matches(lead)


def test_lead_fields_are_validated_at_intake_and_na_is_namibia() -> None:
    namibia = LeadProfile(country="NA")
    assert Condition("country", "in", ("NA", "ZA")).matches(namibia)
    assert Condition("country", "present", True).matches(namibia)


def test_an_integer_too_large_for_a_float_is_not_a_number() -> None:
    lead = LeadProfile(custom={"budget": 10**400})
    assert field_value(lead, {}, "custom.budget") is None
    assert not Condition("custom.budget", "at_least", 1.0).matches(lead)


STRICT_RULES = b"""
thresholds: {warm: 10, hot: 20, mql: 12, sql: 25}
engagement: {points: {}, cap: 0, half_life_days: 30}
inactivity: {after_days: 90, penalty: 0}
criteria:
  - id: more_than_four
    label: More than four seats
    band: valid
    points: 3
    conditions:
      - field: custom.seats
        above: 4
  - id: five_to_twelve
    label: Seats over 4 up to 12
    band: valid
    points: 2
    conditions:
      - field: custom.seats
        above: 4
      - field: custom.seats
        at_most: 12
  - id: under_one
    label: Less than a full seat
    band: negative
    points: -1
    conditions:
      - field: custom.seats
        below: 1.0e-05
"""


def test_above_and_below_are_strict_and_explained_in_the_breakdown() -> None:
    rules = parse_scoring_rules(STRICT_RULES)
    conditions = {c.id: c.conditions for c in rules.criteria}
    assert conditions["more_than_four"] == (Condition("custom.seats", "above", 4.0),)
    assert conditions["under_one"] == (Condition("custom.seats", "below", 1e-05),)

    def matched(seats: object) -> dict[str, str]:
        lead = LeadProfile(custom={"seats": seats})
        return {i.criterion: i.detail for i in score(lead, (), rules, NOW).breakdown}

    assert matched(4) == {}
    assert matched("4.0") == {}
    assert matched(5) == {
        "more_than_four": "custom.seats 5 is above 4",
        "five_to_twelve": "custom.seats 5 is above 4; custom.seats 5 is at most 12",
    }
    assert set(matched(12)) == {"more_than_four", "five_to_twelve"}
    assert set(matched(12.5)) == {"more_than_four"}
    assert matched(0) == {"under_one": "custom.seats 0 is below 1e-05"}
    assert matched(1e-05) == {}
    assert matched("lots") == {}
    assert matched(None) == {}
    close = Condition("custom.seats", "above", 1.00000002)
    assert close.explain(LeadProfile(custom={"seats": 1.00000003})) == (
        "custom.seats 1.00000003 is above 1.00000002"
    )
    big = Condition("custom.seats", "at_most", 1234567.0)
    assert big.explain(LeadProfile(custom={"seats": 1234566.5})) == (
        "custom.seats 1234566.5 is at most 1234567"
    )
    below = Condition("custom.seats", "below", 1.0)
    assert not below.matches(LeadProfile(custom={"seats": True}))  # a flag is no number
    with pytest.raises(ValueError, match="bad value True for above"):
        Condition("custom.seats", "above", True)
    with pytest.raises(ValueError, match="for below"):
        Condition("custom.seats", "below", math.inf)


@given(cut=finite, value=st.one_of(finite, st.floats(allow_nan=False, allow_infinity=False)))
def test_a_cut_splits_the_numbers_in_two_with_nothing_between(cut: float, value: float) -> None:
    lead = LeadProfile(custom={"x": value})
    above = Condition("custom.x", "above", cut).matches(lead)
    at_most = Condition("custom.x", "at_most", cut).matches(lead)
    below = Condition("custom.x", "below", cut).matches(lead)
    at_least = Condition("custom.x", "at_least", cut).matches(lead)
    assert above is (value > cut) and below is (value < cut)
    assert above != at_most  # exactly one of the two
    assert below != at_least


def test_profiles_that_differ_only_in_custom_or_utm_values_hash_apart() -> None:
    """Caches keyed by a profile (the routing replay's scores) rely on it."""
    seats = [LeadProfile(custom={"seats": n}) for n in range(50)]
    assert len({hash(p) for p in seats}) == 50
    assert hash(LeadProfile(utm={"source": "a"})) != hash(LeadProfile(utm={"source": "b"}))
    assert hash(LeadProfile(custom={"seats": 3})) == hash(LeadProfile(custom={"seats": 3}))
