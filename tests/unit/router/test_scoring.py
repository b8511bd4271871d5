"""Scoring: fit criteria, engagement with decay and cap, thresholds, the rules file."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.domain.model import ActivityPoint, LeadProfile
from services.router.domain.scoring import (
    Condition,
    Criterion,
    ScoringConfigError,
    ScoringRules,
    ScoringRulesSource,
    Thresholds,
    load_scoring_rules,
    score,
)

SHIPPED_RULES = Path(__file__).resolve().parents[3] / "deploy" / "config" / "scoring.yaml"
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
TEMPERATURE_RANK = {"cold": 0, "warm": 1, "hot": 2}
STAGE_RANK = {"none": 0, "mql": 1, "sql": 2}


@cache
def shipped() -> ScoringRules:
    return load_scoring_rules(SHIPPED_RULES)


def rules_with(*criteria: Criterion, cap: int = 40, penalty: int = -10) -> ScoringRules:
    return ScoringRules(
        criteria=criteria,
        engagement_points={"open": 1, "click": 3, "page_visit": 2, "reply": 10, "meeting": 15},
        engagement_cap=cap,
        half_life_days=30.0,
        inactivity_days=90,
        inactivity_penalty=penalty,
        thresholds=Thresholds(warm=25, hot=50, mql=30, sql=55),
        version="test",
    )


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


VP = LeadProfile(
    email="dana.reyes@northwind.io",
    phone="+14155550123",
    company="Northwind",
    company_domain="northwind.io",
    job_title="VP Sales",
    company_size="501-1000",
    industry="Software",
    country="US",
)
STUDENT = LeadProfile(
    email="sam@student.uni.edu", job_title="Student", industry="Education", country="US"
)

# --- Conditions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("VP Sales", True),
        ("vp, sales", True),
        ("Sales VP", True),
        ("SVP/VP of Operations", True),
        ("MVP Engineer", False),
        ("Evpn specialist", False),
    ],
)
def test_short_tokens_match_whole_words(title: str, expected: bool) -> None:
    cond = Condition(field="title", op="contains_any", value=("vp",))
    assert cond.matches(LeadProfile(job_title=title)) is expected


def test_cto_does_not_match_director_and_intern_not_international() -> None:
    senior = Condition(field="job_title", op="contains_any", value=("cto", "intern"))
    assert not senior.matches(LeadProfile(job_title="Director of International Sales"))
    assert senior.matches(LeadProfile(job_title="CTO"))
    assert senior.matches(LeadProfile(job_title="Marketing Intern"))


def test_long_tokens_match_inside_words() -> None:
    cond = Condition(field="title", op="contains_any", value=("founder",))
    assert cond.matches(LeadProfile(job_title="Co-Founder & CEO"))
    assert cond.matches(LeadProfile(job_title="cofounder"))


def test_equals_and_in_ignore_case_and_whole_value() -> None:
    assert Condition("country", "equals", "us").matches(LeadProfile(country="US"))
    assert Condition("country", "in", ("de", "US")).matches(LeadProfile(country="us"))
    assert not Condition("industry", "equals", "soft").matches(LeadProfile(industry="Software"))


def test_email_domain_is_derived_and_ends_with() -> None:
    cond = Condition("email_domain", "ends_with_any", (".edu", ".ac.uk"))
    assert cond.matches(LeadProfile(email="Kim@Cs.Oxford.AC.UK"))
    assert not cond.matches(LeadProfile(email="kim@educate.com"))
    assert not cond.matches(LeadProfile())


def test_present_true_and_false() -> None:
    has_phone = Condition("phone", "present", True)
    no_phone = Condition("phone", "present", False)
    assert has_phone.matches(LeadProfile(phone="+14155550123"))
    assert no_phone.matches(LeadProfile(phone="  "))
    assert not has_phone.matches(LeadProfile())


def test_missing_field_matches_no_text_operator() -> None:
    conditions = [
        Condition("industry", "equals", "x"),
        Condition("industry", "in", ("x",)),
        Condition("industry", "contains_any", ("x",)),
        Condition("industry", "ends_with_any", ("x",)),
    ]
    assert not any(c.matches(LeadProfile()) for c in conditions)


def test_condition_rejects_unknown_field_and_bad_value() -> None:
    with pytest.raises(ValueError, match="unknown field 'salary'"):
        Condition("salary", "equals", "x")
    with pytest.raises(ValueError, match="bad value"):
        Condition("country", "in", "US")


def test_criterion_rejects_points_outside_band() -> None:
    cond = Condition("country", "equals", "US")
    with pytest.raises(ValueError, match="outside band valid"):
        Criterion("x", "x", "valid", 5, (cond,))
    with pytest.raises(ValueError, match="outside band negative"):
        Criterion("x", "x", "negative", 3, (cond,))


# --- Scores -------------------------------------------------------------------------------


def test_senior_vp_at_mid_size_company_beats_a_student() -> None:
    vp, student = score(VP, [], shipped(), NOW), score(STUDENT, [], shipped(), NOW)
    assert vp.total > student.total
    assert student.total < 0
    assert vp.temperature == "warm" and vp.stage == "mql"
    assert student.temperature == "cold" and student.stage == "none"
    ids = {item.criterion for item in vp.breakdown}
    assert {"senior_title", "target_company_size", "target_industry", "target_country"} <= ids


def test_breakdown_explains_why() -> None:
    item = next(i for i in score(VP, [], shipped(), NOW).breakdown if i.criterion == "senior_title")
    assert item.kind == "fit" and item.band == "most_important" and item.points == 15
    assert item.detail == "job_title 'VP Sales' contains 'vp'"


def test_breakdown_never_quotes_personal_data() -> None:
    rules = rules_with(
        Criterion("has_email", "email", "valid", 1, (Condition("email", "present", True),))
    )
    (item,) = score(VP, [], rules, NOW).breakdown
    assert "dana" not in item.detail and item.detail == "email is present"


def test_negative_criteria_reduce_the_score() -> None:
    competitor = Criterion(
        "competitor",
        "competitor",
        "negative",
        -50,
        (Condition("company_domain", "in", ("rival.com",)),),
    )
    country = Criterion("country", "country", "valid", 3, (Condition("country", "equals", "US"),))
    rules = rules_with(country, competitor)
    customer = LeadProfile(company_domain="acme.com", country="US")
    rival = LeadProfile(company_domain="rival.com", country="US")
    assert score(customer, [], rules, NOW).total == 3
    assert score(rival, [], rules, NOW).total == 3 - 50


def test_shipped_free_mail_and_competitor_are_negative() -> None:
    gmail = score(LeadProfile(email="pat@gmail.com"), [], shipped(), NOW)
    assert [(i.criterion, i.points) for i in gmail.breakdown] == [("free_mail", -3)]
    rival = score(LeadProfile(company_domain="hubspot.com"), [], shipped(), NOW)
    assert any(i.criterion == "competitor" and i.points < 0 for i in rival.breakdown)


def test_engagement_halves_per_half_life() -> None:
    rules = rules_with()
    assert score(VP, [ActivityPoint("meeting", NOW)], rules, NOW).engagement == 15
    assert score(VP, [ActivityPoint("meeting", ago(30))], rules, NOW).engagement == 8  # 7.5
    assert score(VP, [ActivityPoint("meeting", ago(60))], rules, NOW).engagement == 4  # 3.75


def test_unlisted_activity_kinds_earn_nothing_and_future_counts_as_now() -> None:
    rules = rules_with()
    assert score(VP, [ActivityPoint("touch", NOW)], rules, NOW).breakdown == ()
    assert score(VP, [ActivityPoint("reply", NOW + timedelta(days=3))], rules, NOW).engagement == 10


def test_engagement_is_capped_with_an_explaining_item() -> None:
    rules = rules_with(cap=20)
    result = score(VP, [ActivityPoint("meeting", NOW)] * 3, rules, NOW)
    assert result.engagement == 20
    cap = next(i for i in result.breakdown if i.criterion == "engagement_cap")
    assert cap.points == 20 - 45 and "capped at 20" in cap.detail


def test_inactivity_penalty_after_the_configured_days() -> None:
    rules = rules_with()
    stale = score(VP, [ActivityPoint("reply", ago(120))], rules, NOW)
    assert [i.criterion for i in stale.breakdown if i.kind == "decay"] == ["inactivity"]
    assert stale.total == stale.fit + stale.engagement - 10
    fresh = score(VP, [ActivityPoint("reply", ago(120)), ActivityPoint("open", ago(5))], rules, NOW)
    assert all(i.kind != "decay" for i in fresh.breakdown)
    # no engaging activity at all: no penalty (documented)
    assert all(
        i.kind != "decay"
        for i in score(VP, [ActivityPoint("touch", ago(400))], rules, NOW).breakdown
    )


def test_naive_datetimes_are_utc() -> None:
    naive_now = NOW.replace(tzinfo=None)
    a = score(VP, [ActivityPoint("click", ago(10).replace(tzinfo=None))], rules_with(), naive_now)
    b = score(VP, [ActivityPoint("click", ago(10))], rules_with(), NOW)
    assert a == b


def test_to_dict_is_json() -> None:
    result = score(VP, [ActivityPoint("click", ago(2))], shipped(), NOW)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["total"] == result.total and data["rules_version"] == shipped().version
    assert sum(item["points"] for item in data["breakdown"]) == data["total"]


# --- Properties ---------------------------------------------------------------------------

texts = st.one_of(st.none(), st.text(max_size=30))
leads = st.builds(
    LeadProfile,
    email=st.one_of(
        st.none(),
        st.sampled_from(["a@gmail.com", "b@uni.edu", "c@northwind.io", "d@hubspot.com", "bad"]),
    ),
    phone=st.one_of(st.none(), st.just("+14155550123")),
    company_domain=st.one_of(st.none(), st.sampled_from(["northwind.io", "hubspot.com"])),
    job_title=st.one_of(
        texts, st.sampled_from(["VP Sales", "CTO", "Student", "Director", "MVP dev", "Intern"])
    ),
    company_size=st.one_of(
        st.none(), st.sampled_from(["1-10", "51-200", "201-500", "501-1000", "5001+"])
    ),
    industry=st.one_of(texts, st.sampled_from(["Software", "Fintech", "Education"])),
    country=st.one_of(st.none(), st.sampled_from(["US", "DE", "NO", "BR"])),
)
ENGAGING = {"open", "click", "page_visit", "reply", "meeting"}
kinds = st.sampled_from(["open", "click", "page_visit", "reply", "meeting", "touch", "bounce"])
ages = st.floats(min_value=-5, max_value=800, allow_nan=False)
activity_lists = st.lists(
    st.builds(lambda k, d: ActivityPoint(k, ago(d)), kinds, ages), max_size=30
)


@given(leads, activity_lists)
def test_breakdown_sums_to_total(lead: LeadProfile, activities: list[ActivityPoint]) -> None:
    result = score(lead, activities, shipped(), NOW)
    assert sum(i.points for i in result.breakdown) == result.total
    assert sum(i.points for i in result.breakdown if i.kind == "fit") == result.fit
    assert sum(i.points for i in result.breakdown if i.kind == "engagement") == result.engagement
    assert all(i.points != 0 for i in result.breakdown)
    assert 0 <= result.engagement <= shipped().engagement_cap
    assert result.rules_version == shipped().version


@given(kinds, ages, ages)
def test_older_activity_never_scores_more(kind: str, age1: float, age2: float) -> None:
    newer, older = sorted([age1, age2])
    rules = rules_with(penalty=0)
    new = score(LeadProfile(), [ActivityPoint(kind, ago(newer))], rules, NOW)
    old = score(LeadProfile(), [ActivityPoint(kind, ago(older))], rules, NOW)
    assert old.engagement <= new.engagement


@given(leads, activity_lists.filter(lambda xs: any(a.kind in ENGAGING for a in xs)), kinds, ages)
def test_another_activity_never_lowers_the_score(
    lead: LeadProfile, activities: list[ActivityPoint], kind: str, age: float
) -> None:
    # From a history with engagement: a first, long-past engagement can bring the
    # inactivity penalty to a lead that never engaged (documented in the module).
    before = score(lead, activities, shipped(), NOW)
    after = score(lead, [*activities, ActivityPoint(kind, ago(age))], shipped(), NOW)
    assert after.total >= before.total


@settings(max_examples=50)
@given(st.lists(st.sampled_from(["meeting", "reply"]), min_size=1, max_size=40))
def test_engagement_never_exceeds_the_cap(kinds_: list[str]) -> None:
    result = score(LeadProfile(), [ActivityPoint(k, NOW) for k in kinds_], shipped(), NOW)
    assert result.engagement == min(
        shipped().engagement_cap, sum(15 if k == "meeting" else 10 for k in kinds_)
    )


@given(st.integers(-200, 200), st.integers(-200, 200))
def test_temperature_and_stage_are_monotone_in_total(a: int, b: int) -> None:
    low, high = sorted([a, b])
    t = shipped().thresholds
    assert TEMPERATURE_RANK[t.temperature(low)] <= TEMPERATURE_RANK[t.temperature(high)]
    assert STAGE_RANK[t.stage(low)] <= STAGE_RANK[t.stage(high)]


def test_threshold_edges() -> None:
    t = shipped().thresholds
    assert [t.temperature(n) for n in (24, 25, 49, 50)] == ["cold", "warm", "warm", "hot"]
    assert [t.stage(n) for n in (29, 30, 54, 55)] == ["none", "mql", "mql", "sql"]


# --- The rules file -----------------------------------------------------------------------

VALID = """\
thresholds: {warm: 25, hot: 50, mql: 30, sql: 55}
engagement:
  points: {open: 1, click: 3}
  cap: 40
  half_life_days: 30
inactivity: {after_days: 90, penalty: -10}
criteria:
  - id: senior_title
    label: Senior title
    band: most_important
    points: 15
    conditions:
      - {field: title, contains_any: [vp, cto]}
"""


def test_shipped_rules_load() -> None:
    rules = shipped()
    assert len(rules.criteria) >= 8
    assert {c.band for c in rules.criteria} == {
        "most_important",
        "very_important",
        "valid",
        "negative",
    }
    assert rules.engagement_cap == 40 and rules.half_life_days == 30
    assert (rules.inactivity_days, rules.inactivity_penalty) == (90, -10)
    assert rules.thresholds == Thresholds(warm=25, hot=50, mql=30, sql=55)
    country = next(c for c in rules.criteria if c.id == "target_country")
    value = country.conditions[0].value
    assert isinstance(value, tuple) and "NO" in value  # quoted, not read as a boolean


def test_version_is_a_hash_of_the_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(VALID)
    b.write_text(VALID + "# a comment\n")
    assert load_scoring_rules(a).version == load_scoring_rules(a).version
    assert load_scoring_rules(a).version != load_scoring_rules(b).version


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "points: 15",
            "points: 20",
            "criterion 'senior_title': points 20 outside band most_important (10-15)",
        ),
        (
            "band: most_important\n    points: 15",
            "band: negative\n    points: 5",
            "criterion 'senior_title': points 5 outside band negative",
        ),
        ("band: most_important", "band: crucial", "criterion 'senior_title': band:"),
        ("points: 15", "points: ten", "criterion 'senior_title': points:"),
        (
            "field: title,",
            "field: salary,",
            "criterion 'senior_title': condition #1 (salary): unknown field 'salary'",
        ),
        (
            "contains_any: [vp, cto]",
            "starts_with: [vp]",
            "criterion 'senior_title': condition #1 (title): field 'title': unknown operator 'starts_with'",
        ),
        (
            "contains_any: [vp, cto]",
            "contains_any: [vp], equals: cto",
            "field 'title': needs exactly one operator, found contains_any, equals",
        ),
        ("contains_any: [vp, cto]", "in: [US, NO]", "YAML reads yes/no/on/off/NO as booleans"),
        (
            "      - {field: title, contains_any: [vp, cto]}\n",
            "",
            "criterion 'senior_title': conditions:",
        ),
        (
            "label: Senior title",
            "label: Senior title\n    weight: 3",
            "criterion 'senior_title': weight: unknown setting",
        ),
        ("warm: 25", "warm: 60", "thresholds: warm (60) must be below hot (50)"),
        ("mql: 30", "mql: 55", "thresholds: mql (55) must be below sql (55)"),
        ("half_life_days: 30", "half_life_days: 0", "engagement.half_life_days"),
        ("penalty: -10", "penalty: 5", "inactivity.penalty"),
        ("open: 1", "open: -1", "engagement.points.open"),
        ("id: senior_title", "id: Senior Title", "criterion 'Senior Title': id:"),
    ],
)
def test_loader_names_the_problem(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in VALID
    path = tmp_path / "scoring.yaml"
    path.write_text(VALID.replace(old, new))
    with pytest.raises(ScoringConfigError) as exc:
        load_scoring_rules(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_loader_rejects_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(VALID + VALID[VALID.index("  - id:") :])
    with pytest.raises(ScoringConfigError, match="criterion 'senior_title' is defined twice"):
        load_scoring_rules(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "expected a mapping"),
        ("thresholds: [", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        (VALID + "extra: 1\n", "extra: unknown setting"),
        (
            VALID.replace("inactivity: {after_days: 90, penalty: -10}\n", ""),
            "inactivity: Field required",
        ),
    ],
)
def test_loader_rejects_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(content)
    with pytest.raises(ScoringConfigError, match=message):
        load_scoring_rules(path)


def test_loader_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScoringConfigError, match="cannot read"):
        load_scoring_rules(tmp_path / "nope.yaml")


# --- Reloading ----------------------------------------------------------------------------


def test_source_fails_loudly_on_a_bad_first_load(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(VALID.replace("points: 15", "points: 20"))
    with pytest.raises(ScoringConfigError, match="outside band"):
        ScoringRulesSource(path)


def test_source_reloads_changes_and_keeps_old_rules_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(VALID)
    source = ScoringRulesSource(path)
    first = source.rules
    assert source.reload_if_changed() is False
    os.utime(path)  # touched, same content
    assert source.reload_if_changed() is False

    path.write_text(VALID.replace("points: 15", "points: 12"))
    assert source.reload_if_changed() is True
    second = source.rules
    assert second.criteria[0].points == 12 and second.version != first.version

    path.write_text(VALID.replace("points: 15", "points: 99"))
    with pytest.raises(ScoringConfigError, match="points 99 outside band"):
        source.reload_if_changed()
    assert source.rules is second
    assert source.last_error is not None
    assert source.reload_if_changed() is False  # the same broken content is reported once
    assert source.rules is second

    path.unlink()
    with pytest.raises(ScoringConfigError, match="cannot read"):
        source.reload_if_changed()
    assert source.rules is second

    path.write_text(VALID)
    assert source.reload_if_changed() is True
    assert source.rules == first and source.last_error is None


def test_source_reverting_to_the_rules_in_force_clears_the_error(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text(VALID)
    source = ScoringRulesSource(path)
    path.write_text("criteria: [")
    with pytest.raises(ScoringConfigError):
        source.reload_if_changed()
    path.write_text(VALID)
    assert source.reload_if_changed() is False
    assert source.last_error is None
