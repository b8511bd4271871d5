"""Routing simulation: history replayed through a candidate, checked by hand and by property."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.domain.assignment import Rep, RoutingRule, Team, route
from services.router.domain.business_hours import ALWAYS, WorkingHours
from services.router.domain.model import LeadProfile
from services.router.domain.scoring import Condition, Criterion, ScoringRules, Thresholds
from services.router.domain.simulation import (
    Actual,
    CandidateRouting,
    HistoricalLead,
    Release,
    SimulationReport,
    _Replay,
    simulate,
)
from services.router.settings import CONFIG_DIR
from services.router.simulation.candidate import CandidateError, load_candidate
from services.router.simulation.history import _fields_sql, needed_fields, parse_since

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday
# a job title makes an MQL (10 points), software on top makes it an SQL and hot (22)
SCORING = ScoringRules(
    criteria=(
        Criterion("title", "has a title", "most_important", 10, (Condition("title", "present", True),)),
        Criterion(
            "software", "software", "most_important", 12,
            (Condition("industry", "equals", "software"),),
        ),
    ),
    engagement_points={},
    engagement_cap=40,
    half_life_days=30.0,
    inactivity_days=90,
    inactivity_penalty=0,
    thresholds=Thresholds(warm=5, hot=20, mql=10, sql=20),
    version="test",
)  # fmt: skip


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def lid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def lead(
    n: int,
    country: str,
    actual: Actual,
    *,
    title: str | None = "Buyer",
    industry: str | None = None,
    purchased: bool = False,
    hours: float | None = None,
) -> HistoricalLead:
    profile = LeadProfile(
        job_title=title,
        country=country,
        industry=industry,
        source_id="website",
        channel="purchased_list" if purchased else "web",
        purchased_list=purchased,
    )
    return HistoricalLead(lid(n), at(n if hours is None else hours), profile, actual)


def rep(rep_id: str, team_id: str, weight: int = 1, capacity: int = 10_000, **kw: Any) -> Rep:
    return Rep(rep_id, team_id, rep_id.upper(), weight, capacity, **kw)


def routing(*reps: Rep, follow_the_sun: tuple[str, ...] = ()) -> CandidateRouting:
    teams = {t: Team(t, t.title(), ALWAYS()) for t in sorted({r.team_id for r in reps})}
    return CandidateRouting(
        teams=teams,
        reps=tuple(reps),
        rules=(
            RoutingRule("de", "north", countries=frozenset({"DE"})),
            RoutingRule("rest", "south"),
        ),
        follow_the_sun=follow_the_sun,
    )


def assigned(rep_id: str, team_id: str) -> Actual:
    return Actual("assigned", rep_id, team_id, "old")


NURTURED = Actual("nurture")

# 2 teams, 3 reps (weights 2/1/1, capacity 2), 12 leads, 3 releases: worked out by hand.
HISTORY = [
    lead(1, "DE", assigned("n1", "north")),  # n1 (current weights n1 -1, n2 1)
    lead(2, "DE", assigned("n2", "north")),  # n2
    lead(3, "DE", assigned("n1", "north")),  # n1: full
    lead(4, "DE", assigned("n2", "north")),  # n1 at capacity -> n2: full
    lead(5, "DE", assigned("n1", "north")),  # both at capacity -> queued
    lead(6, "US", NURTURED, title=None),  # below MQL: nurture
    lead(7, "US", assigned("s1", "south")),  # s1
    lead(8, "US", assigned("s1", "south")),  # s1: full
    lead(9, "US", assigned("n1", "north")),  # s1 at capacity -> queued
    # 9.5: lead 1 disqualified, n1 has room: lead 5 (older than 9) -> n1; 9 waits (south full)
    lead(10, "DE", assigned("n2", "north"), industry="software"),  # SQL, north full -> queued
    # 11: lead 7 converted, s1 has room: 10 goes first (SQL) but north is full; 9 -> s1
    lead(11, "DE", NURTURED, purchased=True, hours=12),  # purchased-list name: nurture
    lead(12, "DE", assigned("n2", "north"), hours=13),  # north full -> queued
    # 14: lead 2 recycled, n2 has room: 10 (SQL) -> n2 before 12, which stays queued
]
RELEASES = [
    Release(lid(1), at(9.5), "disqualified"),
    Release(lid(7), at(11), "converted"),
    Release(lid(2), at(14), "recycled"),
    Release(lid(3), at(15), "working"),  # working keeps the lead with its rep
]
CANDIDATE = routing(
    rep("n1", "north", 2, capacity=2), rep("n2", "north", 1, capacity=2), rep("s1", "south", 1, capacity=2)
)  # fmt: skip


def by_key(report: SimulationReport, what: str) -> dict[str, tuple[int, int]]:
    return {c.key: (c.actual, c.simulated) for c in getattr(report, what)}


def test_the_hand_checked_history() -> None:
    report = simulate(HISTORY, RELEASES, CANDIDATE, SCORING)

    assert report.leads == 12
    assert report.releases == 3  # "working" releases nothing
    assert by_key(report, "reps") == {"n1": (4, 3), "n2": (4, 3), "s1": (2, 3)}
    assert by_key(report, "teams") == {"north": (8, 6), "south": (2, 3)}
    assert by_key(report, "outcomes") == {
        "assigned": (10, 6),
        "queued": (0, 4),
        "nurture": (2, 2),
    }
    assert (report.queue_entries, report.dequeued, report.still_queued) == (4, 3, 1)
    hits = {
        h.rep_id: (h.at_capacity, h.at_daily_cap, h.at_weekly_cap) for h in report.capacity_hits
    }
    # n1: leads 4, 5, 10 and 12 at arrival, 10 when it left the queue; n2: 5, 10, 12 at
    # arrival and 5 when it left the queue; s1: 9 at arrival
    assert hits == {"n1": (5, 0, 0), "n2": (4, 0, 0), "s1": (1, 0, 0)}
    changed = {c.lead_id: c for c in report.changed}
    assert set(changed) == {str(lid(9)), str(lid(12))}
    nine = changed[str(lid(9))]
    assert (nine.actual_rep_id, nine.actual_team_id, nine.actual_outcome) == (
        "n1",
        "north",
        "assigned",
    )
    assert (nine.simulated_rep_id, nine.simulated_team_id, nine.simulated_outcome) == (
        "s1",
        "south",
        "queued",
    )
    assert nine.rule == "rest"
    twelve = changed[str(lid(12))]
    assert (twelve.simulated_rep_id, twelve.simulated_outcome, twelve.rule) == (
        None,
        "queued",
        "de",
    )
    north = next(f for f in report.fairness if f.team_id == "north")
    assert [(r.rep_id, r.assigned, r.weighted_share) for r in north.reps] == [
        ("n1", 3, 2 / 3),
        ("n2", 3, 1 / 3),
    ]
    assert north.max_deviation_pp == 16.67
    assert report.to_dict()["queue"] == {"entries": 4, "dequeued": 3, "still_queued": 1}


def test_without_releases_the_queue_only_grows() -> None:
    report = simulate(HISTORY, [], CANDIDATE, SCORING)

    assert by_key(report, "reps") == {"n1": (4, 2), "n2": (4, 2), "s1": (2, 2)}
    assert (report.queue_entries, report.dequeued, report.still_queued) == (4, 0, 4)


def test_a_release_before_its_lead_arrived_frees_the_rep_once_it_has() -> None:
    history = [lead(1, "DE", assigned("n1", "north")), lead(2, "DE", assigned("n1", "north"))]
    candidate = routing(rep("n1", "north", capacity=1), rep("s1", "south"))
    # recorded a minute before the lead's first submission (clocks disagree)
    report = simulate(
        history, [Release(lid(1), at(1) - timedelta(minutes=1), "qualified")], candidate, SCORING
    )

    assert by_key(report, "reps")["n1"] == (2, 2)
    assert report.releases == 1 and report.still_queued == 0


def test_doubling_one_weight_shifts_its_share() -> None:
    history = [lead(n, "DE", assigned("n1", "north")) for n in range(1, 301)]
    even = simulate(history, [], routing(rep("n1", "north", 1), rep("n2", "north", 1)), SCORING)
    doubled = simulate(history, [], routing(rep("n1", "north", 2), rep("n2", "north", 1)), SCORING)

    assert by_key(even, "reps") == {"n1": (300, 150), "n2": (0, 150)}
    assert by_key(doubled, "reps") == {"n1": (300, 200), "n2": (0, 100)}
    shares = {r.rep_id: round(r.share * 100, 2) for r in doubled.fairness[0].reps}
    assert shares == {"n1": 66.67, "n2": 33.33}
    assert doubled.fairness[0].max_deviation_pp == 0.0
    assert len(even.changed) == 150 and len(doubled.changed) == 100


def test_an_exact_round_robin_run_is_perfectly_fair() -> None:
    history = [lead(n, "DE", assigned("n1", "north")) for n in range(1, 13)]
    candidate = routing(rep("n1", "north", 2), rep("n2", "north", 1), rep("n3", "north", 1))
    report = simulate(history, [], candidate, SCORING)

    assert by_key(report, "reps") == {"n1": (12, 6), "n2": (0, 3), "n3": (0, 3)}
    assert report.fairness[0].max_deviation_pp == 0.0
    assert report.capacity_hits == ()


def test_daily_caps_are_counted_as_capacity_hits() -> None:
    history = [lead(n, "DE", assigned("n1", "north")) for n in range(1, 5)]
    candidate = routing(rep("n1", "north", daily_cap=2), rep("s1", "south"))
    report = simulate(history, [], candidate, SCORING)

    assert by_key(report, "reps")["n1"] == (4, 2)
    assert [(h.rep_id, h.at_daily_cap) for h in report.capacity_hits] == [("n1", 2)]
    assert report.still_queued == 2


def test_a_lead_queued_outside_hours_drains_when_hours_open() -> None:
    # open 09:00-17:00 UTC on weekdays: a lead at 02:00 waits, the one at 10:00 drains it
    day = WorkingHours.parse("UTC", {"mon-fri": "09:00-17:00"})
    history = [
        lead(1, "DE", assigned("n1", "north"), hours=2),
        lead(2, "DE", assigned("n1", "north"), hours=10),
    ]
    candidate = routing(rep("n1", "north", hours=day), rep("s1", "south"))
    report = simulate(history, [], candidate, SCORING)

    assert by_key(report, "outcomes")["queued"] == (0, 1)
    assert (report.queue_entries, report.dequeued, report.still_queued) == (1, 1, 0)
    assert by_key(report, "reps")["n1"] == (2, 2)
    assert report.changed == ()


def test_progress_follows_every_event() -> None:
    seen: list[tuple[int, int]] = []
    simulate(
        HISTORY, RELEASES, CANDIDATE, SCORING, progress=lambda n, total: seen.append((n, total))
    )
    assert seen[-1] == (15, 15)  # 12 arrivals and 3 releasing statuses


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    south=st.integers(1, 3),
    countries=st.lists(st.sampled_from(["DE", "US"]), min_size=1, max_size=120),
)
def test_without_limits_counts_follow_the_weights(
    weights: list[int], south: int, countries: list[str]
) -> None:
    reps = [rep(f"n{i}", "north", w) for i, w in enumerate(weights)]
    reps += [rep(f"s{i}", "south", 1) for i in range(south)]
    history = [lead(n, c, NURTURED) for n, c in enumerate(countries, 1)]
    report = simulate(history, [], routing(*reps), SCORING)

    counts = {c.key: c.simulated for c in report.reps}
    assert sum(counts.values()) == dict(by_key(report, "outcomes"))["assigned"][1] == len(history)
    for team in report.fairness:
        for share in team.reps:
            assert abs(share.assigned - team.assigned * share.weighted_share) < 1


# --- whether a queued rule can drain mirrors route() -------------------------------------

DAY = WorkingHours.parse("UTC", {"mon-fri": "09:00-17:00"})


@settings(max_examples=150, deadline=None)
@given(
    reps=st.lists(
        st.tuples(
            st.sampled_from(["north", "south", "east"]),
            st.booleans(),  # active
            st.booleans(),  # day hours (else always)
            st.integers(0, 2),  # capacity
            st.integers(0, 2),  # open leads
        ),
        max_size=6,
    ),
    east_day=st.booleans(),
    follow_the_sun=st.permutations(["north", "south", "east"]),
    fts_len=st.integers(0, 3),
    hour=st.integers(0, 23),
)
def test_a_rule_is_routable_exactly_when_route_assigns(
    reps: list[tuple[str, bool, bool, int, int]],
    east_day: bool,
    follow_the_sun: list[str],
    fts_len: int,
    hour: int,
) -> None:

    built = [
        rep(f"r{i}", team, 1, capacity, active=active, hours=DAY if day else ALWAYS(), open_leads=n)
        for i, (team, active, day, capacity, n) in enumerate(reps)
    ]
    teams = {
        "north": Team("north", "North", ALWAYS()),
        "south": Team("south", "South", ALWAYS()),
        "east": Team("east", "East", DAY if east_day else ALWAYS()),
    }
    rules = (
        RoutingRule("de", "north", countries=frozenset({"DE"})),
        RoutingRule("gone", "nowhere", countries=frozenset({"FR"})),
        RoutingRule("rest", "south"),
    )
    candidate = CandidateRouting(teams, tuple(built), rules, tuple(follow_the_sun[:fts_len]))
    replay = _Replay(candidate, {r.id: r for r in built})
    now = at(hour)
    eligible = replay.eligible(now)
    for index, country in enumerate(["DE", "FR", "US"]):
        decision = route(
            LeadProfile(country=country), rules, teams, built, candidate.follow_the_sun, now
        )
        assert replay.routable(index, eligible, now) == (decision.outcome == "assigned")


# --- the history reader's pure parts and the candidate file ------------------------------


def test_since_takes_a_number_and_a_unit() -> None:
    assert parse_since("30d") == timedelta(days=30)
    assert parse_since(" 12h ") == timedelta(hours=12)
    assert parse_since("2w") == timedelta(weeks=2)
    assert parse_since("90m") == timedelta(minutes=90)
    for bad in ("", "30", "0d", "-1d", "3y", "d"):
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad)


def test_only_the_fields_routing_and_scoring_test_are_read() -> None:
    fields = dict(needed_fields(SCORING))
    # routing's, and the title and industry the scoring conditions test: no name, email, phone
    assert fields == {
        "job_title": False,
        "company_size": False,
        "industry": False,
        "country": False,
        "region": False,
    }
    domain = Criterion(
        "edu", "edu", "negative", -5, (Condition("email_domain", "ends_with_any", (".edu",)),)
    )
    by_domain = dict(needed_fields(replace(SCORING, criteria=(domain,))))
    assert by_domain["email"] is True  # the domain only
    assert "regexp_replace(s.fields->>'email', '^.*@', '@')" in _fields_sql(by_domain.items())
    whole = Criterion("e", "e", "valid", 1, (Condition("email", "present", True),))
    assert dict(needed_fields(replace(SCORING, criteria=(domain, whole))))["email"] is False
    # a condition on a custom or utm field reads that map (and nothing else of the form)
    seats = Criterion("seats", "seats", "valid", 2, (Condition("custom.seats", "at_least", 10.0),))
    google = Criterion("g", "g", "valid", 1, (Condition("utm.source", "in", ("google",)),))
    nested = dict(needed_fields(replace(SCORING, criteria=(seats, google))))
    assert nested["custom"] is False and nested["utm"] is False
    assert "s.fields->'custom'" in _fields_sql(nested.items())


def test_the_candidate_file_becomes_domain_values_or_one_sentence(tmp_path: Any) -> None:
    shipped = load_candidate(CONFIG_DIR / "routing.yaml")
    assert [r.name for r in shipped.rules][-1] == "emea"
    assert shipped.rules[-1].countries is None  # `when: {}` matches any lead
    assert shipped.follow_the_sun == ("emea", "amer", "apac")
    lena = next(r for r in shipped.reps if r.id == "rep-lena")
    assert (lena.weight, lena.capacity, lena.open_leads, lena.hours.tz) == (
        3,
        60,
        0,
        "Europe/Berlin",
    )
    assert lena.hours.holidays is not None  # DE-BE public holidays

    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIG_DIR / "routing.yaml").read_text().replace("weight: 3", "weight: 0", 1))
    with pytest.raises(CandidateError) as caught:
        load_candidate(bad)
    message = str(caught.value)
    assert "\n" not in message and "reps.0.weight" in message
    with pytest.raises(CandidateError, match="not found"):
        load_candidate(tmp_path / "missing.yaml")
