"""Assignment: rules pick a team, smooth weighted round robin picks an eligible rep."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.domain.assignment import (
    Decision,
    Rep,
    RoutingRule,
    Team,
    choose_rep,
    eligibility,
    route,
)
from services.router.domain.business_hours import ALWAYS, WorkingHours
from services.router.domain.model import LeadProfile

NOW = datetime(2024, 5, 15, 14, 0, tzinfo=UTC)  # Wednesday: 10:00 in New York, 23:00 in Tokyo
NY_DAY = WorkingHours.parse("America/New_York", {"mon-fri": "09:00-17:00"})
TOKYO_DAY = WorkingHours.parse("Asia/Tokyo", {"mon-fri": "09:00-18:00"})
BERLIN_DAY = WorkingHours.parse("Europe/Berlin", {"mon-fri": "08:00-18:00"})  # 16:00 there: open


def rep(rep_id: str, team_id: str = "emea", **overrides: Any) -> Rep:
    values: dict[str, Any] = {"name": rep_id.title(), "weight": 1, "capacity": 10}
    values.update(overrides)
    return Rep(id=rep_id, team_id=team_id, **values)


def team(team_id: str, hours: WorkingHours | None = None) -> Team:
    return Team(id=team_id, name=team_id.upper(), hours=hours or ALWAYS())


def away(hours: int = 1) -> tuple[tuple[datetime, datetime], ...]:
    return ((NOW - timedelta(hours=hours), NOW + timedelta(hours=hours)),)


# --- eligibility ---


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        (
            {"active": False, "out_of_office": away(), "hours": TOKYO_DAY, "open_leads": 10},
            "inactive",
        ),
        ({"out_of_office": away(), "hours": TOKYO_DAY, "open_leads": 10}, "out_of_office"),
        ({"hours": TOKYO_DAY, "open_leads": 10}, "off_hours"),
        ({"open_leads": 10}, "at_capacity"),
        ({"open_leads": 9}, None),
        ({"capacity": 0}, "at_capacity"),
        ({"hours": NY_DAY}, None),
    ],
)
def test_eligibility_gives_the_first_failing_reason(
    overrides: dict[str, Any], reason: str | None
) -> None:
    assert eligibility(rep("ana", **overrides), NOW) == reason


def test_out_of_office_is_half_open() -> None:
    leave = ((NOW, NOW + timedelta(days=2)),)
    assert eligibility(rep("ana", out_of_office=leave), NOW) == "out_of_office"
    assert eligibility(rep("ana", out_of_office=leave), NOW + timedelta(days=2)) is None
    assert eligibility(rep("ana", out_of_office=leave), NOW - timedelta(seconds=1)) is None


def test_rep_and_team_validation() -> None:
    with pytest.raises(ValueError, match="weight"):
        rep("ana", weight=0)
    with pytest.raises(ValueError, match="capacity"):
        rep("ana", capacity=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        rep("ana", out_of_office=((datetime(2024, 5, 1), datetime(2024, 5, 2)),))
    with pytest.raises(ValueError, match="manager"):
        Team(id="t", name="T", escalation="notify_manager")
    with pytest.raises(ValueError, match="warning_minutes"):
        Team(id="t", name="T", sla_minutes=30, warning_minutes=45)


# --- smooth weighted round robin ---


def run(team_: Team, reps: list[Rep], picks: int) -> list[str | None]:
    """Pick ``picks`` times, storing the returned weights as the service would."""
    chosen: list[str | None] = []
    for _ in range(picks):
        pick = choose_rep(team_, reps, NOW)
        chosen.append(pick.rep_id)
        reps = [replace(r, current_weight=pick.weights.get(r.id, r.current_weight)) for r in reps]
    return chosen


def test_nginx_sequence() -> None:
    reps = [rep("a", weight=5), rep("b", weight=1), rep("c", weight=1)]
    assert run(team("emea"), reps, 7) == ["a", "a", "b", "a", "c", "a", "a"]


def test_pick_reports_weights_and_candidates() -> None:
    reps = [rep("b", weight=2, current_weight=1), rep("a", weight=3, current_weight=-1)]
    pick = choose_rep(team("emea"), reps, NOW)
    assert pick.rep_id == "b"  # 1+2=3 > -1+3=2
    assert pick.tie_break == "highest current weight"
    assert pick.weights == {"a": 2, "b": 3 - 5}
    assert [(c.rep_id, c.current_weight, c.effective_weight) for c in pick.candidates] == [
        ("a", -1, 2),
        ("b", 1, 3),
    ]


def test_tie_goes_to_fewer_open_leads_then_rep_id() -> None:
    pick = choose_rep(team("emea"), [rep("a", open_leads=3), rep("b", open_leads=1)], NOW)
    assert pick.rep_id == "b"
    assert pick.tie_break == "tie on current weight 1 between a, b: fewer open leads"
    pick = choose_rep(team("emea"), [rep("b", open_leads=2), rep("a", open_leads=2)], NOW)
    assert pick.rep_id == "a"
    assert pick.tie_break == "tie on current weight 1 between a, b: rep id order"
    pick = choose_rep(team("emea"), [rep("a", active=False), rep("b")], NOW)
    assert (pick.rep_id, pick.tie_break) == ("b", "only eligible rep")


def test_skips_every_kind_of_unavailable_rep() -> None:
    reps = [
        rep("ana", active=False),
        rep("ben", out_of_office=away()),
        rep("cat", hours=TOKYO_DAY),
        rep("dan", open_leads=10),
        rep("eve"),
        rep("fay", weight=9),
        rep("zed", team_id="apac"),
    ]
    pick = choose_rep(team("emea"), reps, NOW, exclude=frozenset({"fay"}))
    assert pick.rep_id == "eve"
    assert {c.rep_id: c.reason for c in pick.candidates} == {
        "ana": "inactive",
        "ben": "out_of_office",
        "cat": "off_hours",
        "dan": "at_capacity",
        "eve": None,
        "fay": "excluded",
    }
    assert all(c.effective_weight is None for c in pick.candidates if not c.eligible)
    assert pick.weights == {"eve": 0}  # only eligible reps' state changes


def test_nobody_eligible() -> None:
    pick = choose_rep(team("emea"), [rep("ana", hours=TOKYO_DAY)], NOW)
    assert (pick.rep_id, pick.tie_break, pick.weights) == (None, None, {})
    assert [c.reason for c in pick.candidates] == ["off_hours"]


weights_lists = st.lists(st.integers(1, 10), min_size=1, max_size=8)


@settings(deadline=None)
@given(weights_lists, st.integers(1, 200))
def test_round_robin_is_fair_over_any_number_of_picks(weights: list[int], picks: int) -> None:
    reps = [rep(f"rep-{i}", weight=w) for i, w in enumerate(weights)]
    counts = Counter(run(team("emea"), reps, picks))
    total = sum(weights)
    for r in reps:
        assert abs(counts[r.id] - picks * r.weight / total) <= 1, (r.id, counts)


@given(weights_lists, st.lists(st.integers(-20, 20), min_size=8, max_size=8), st.randoms())
def test_choice_does_not_depend_on_input_order(
    weights: list[int], current: list[int], rnd: Any
) -> None:
    reps = [
        rep(f"rep-{i}", weight=w, current_weight=c, open_leads=i % 2)
        for i, (w, c) in enumerate(zip(weights, current, strict=False))
    ]
    shuffled = list(reps)
    rnd.shuffle(shuffled)
    assert choose_rep(team("emea"), reps, NOW) == choose_rep(team("emea"), shuffled, NOW)


@given(
    weights_lists,
    st.lists(st.sampled_from(["ok", "away", "capped", "off"]), min_size=8, max_size=8),
)
def test_state_is_conserved_and_only_eligible_reps_move(
    weights: list[int], states: list[str]
) -> None:
    overrides = {
        "ok": {},
        "away": {"out_of_office": away()},
        "capped": {"open_leads": 10},
        "off": {"hours": TOKYO_DAY},
    }
    reps = [
        rep(f"rep-{i}", weight=w, **overrides[s])
        for i, (w, s) in enumerate(zip(weights, states, strict=False))
    ]
    pick = choose_rep(team("emea"), reps, NOW)
    eligible = {c.rep_id for c in pick.candidates if c.eligible}
    assert set(pick.weights) == eligible
    assert sum(pick.weights.values()) == 0  # from all-zero state, smooth WRR sums to zero
    assert (pick.rep_id is None) == (not eligible)


# --- rules ---


def test_rule_matching_is_case_insensitive_and_none_means_any() -> None:
    rule = RoutingRule(
        name="dach-enterprise",
        team_id="emea",
        countries=frozenset({"DE", "at", " ch "}),
        company_sizes=frozenset({"1001-5000", "5001+"}),
    )
    assert rule.matches(LeadProfile(country="de", company_size="5001+", industry="retail"))
    assert rule.matches(LeadProfile(country="CH", company_size="1001-5000"))
    assert not rule.matches(LeadProfile(country="FR", company_size="5001+"))
    assert not rule.matches(LeadProfile(country="DE"))  # size unknown: a set criterion fails
    catch_all = RoutingRule(name="everything", team_id="emea")
    assert catch_all.matches(LeadProfile())


def test_rule_criteria_are_checked() -> None:
    with pytest.raises(ValueError, match="use None"):
        RoutingRule(name="r", team_id="t", countries=frozenset())
    with pytest.raises(ValueError, match="not one string"):
        RoutingRule(name="r", team_id="t", channels="web")  # type: ignore[arg-type]


def test_every_criterion_is_used() -> None:
    lead = LeadProfile(
        country="US",
        region="West",
        company_size="51-200",
        industry="SaaS",
        channel="web",
        source_id="website",
    )
    full = {
        "countries": frozenset({"us"}),
        "regions": frozenset({"west"}),
        "company_sizes": frozenset({"51-200"}),
        "industries": frozenset({"saas"}),
        "channels": frozenset({"WEB"}),
        "source_ids": frozenset({"website"}),
    }
    assert RoutingRule(name="all", team_id="t", **full).matches(lead)
    for criterion in full:
        other = {**full, criterion: frozenset({"something-else"})}
        assert not RoutingRule(name="one-off", team_id="t", **other).matches(lead), criterion


# --- route ---

RULES = [
    RoutingRule(
        name="us-enterprise",
        team_id="amer-ent",
        countries=frozenset({"us"}),
        company_sizes=frozenset({"5001+"}),
    ),
    RoutingRule(name="us", team_id="amer", countries=frozenset({"US", "CA"})),
    RoutingRule(name="europe", team_id="emea", countries=frozenset({"DE", "FR"})),
]
TEAMS = {
    "amer-ent": team("amer-ent", NY_DAY),
    "amer": team("amer", NY_DAY),
    "emea": team("emea", BERLIN_DAY),
    "apac": team("apac", TOKYO_DAY),
}


def test_first_matching_rule_wins() -> None:
    reps = [rep("ent-1", "amer-ent"), rep("us-1", "amer")]
    big = route(LeadProfile(country="US", company_size="5001+"), RULES, TEAMS, reps, [], NOW)
    small = route(LeadProfile(country="US", company_size="11-50"), RULES, TEAMS, reps, [], NOW)
    assert (big.rule, big.team_id, big.rep_id) == ("us-enterprise", "amer-ent", "ent-1")
    assert (small.rule, small.team_id, small.rep_id) == ("us", "amer", "us-1")
    assert big.outcome == "assigned"
    assert big.explanation["follow_the_sun"] is False
    assert big.explanation["queue"] is None
    assert big.weights == {"ent-1": 0}


def test_no_rule_matches_queues_with_reason() -> None:
    decision = route(LeadProfile(country="BR"), RULES, TEAMS, [rep("us-1", "amer")], [], NOW)
    assert (decision.outcome, decision.team_id, decision.rep_id, decision.rule) == (
        "queued",
        None,
        None,
        None,
    )
    assert "No routing rule matched" in decision.reason
    assert decision.explanation == {
        "rule": None,
        "teams_tried": [],
        "follow_the_sun": False,
        "queue": "unassigned",
    }


def test_follow_the_sun_goes_to_an_open_team_with_an_eligible_rep() -> None:
    reps = [
        rep("de-1", "emea", hours=TOKYO_DAY),  # not working now
        rep("de-2", "emea", out_of_office=away()),
        rep("jp-1", "apac"),  # apac is closed: never considered
        rep("us-1", "amer", open_leads=10),  # amer open but its only rep is capped
        rep("ent-1", "amer-ent", weight=3),
        rep("ent-2", "amer-ent"),
    ]
    decision = route(
        LeadProfile(country="de"),
        RULES,
        TEAMS,
        reps,
        ["emea", "apac", "amer", "amer-ent"],
        NOW,
    )
    assert (decision.outcome, decision.team_id, decision.rep_id) == (
        "assigned",
        "amer-ent",
        "ent-1",
    )
    assert decision.rule == "europe"
    assert decision.weights == {"ent-1": 3 - 4, "ent-2": 1}
    tried = decision.explanation["teams_tried"]
    assert [t["team"] for t in tried] == ["emea", "apac", "amer", "amer-ent"]
    assert tried[1]["skipped"] == "outside business hours"
    assert [(c["rep_id"], c["reason"]) for c in tried[0]["candidates"]] == [
        ("de-1", "off_hours"),
        ("de-2", "out_of_office"),
    ]
    assert [(c["rep_id"], c["reason"]) for c in tried[2]["candidates"]] == [("us-1", "at_capacity")]
    assert tried[3]["pick"] == "ent-1"
    assert tried[3]["tie_break"] == "highest current weight"
    assert decision.explanation["follow_the_sun"] is True
    assert "follow-the-sun" in decision.reason


def test_fallback_queue_when_nobody_is_eligible() -> None:
    reps = [rep("de-1", "emea", active=False), rep("us-1", "amer", open_leads=10)]
    decision = route(
        LeadProfile(country="DE"),
        RULES,
        TEAMS,
        reps,
        ["amer", "nowhere"],
        NOW,
        fallback_queue="night-desk",
    )
    assert (decision.outcome, decision.team_id, decision.rep_id) == ("queued", "emea", None)
    assert decision.weights == {}
    assert decision.explanation["queue"] == "night-desk"
    assert [t["skipped"] for t in decision.explanation["teams_tried"]] == [
        None,
        None,
        "unknown team",
    ]
    assert "queued to 'night-desk'" in decision.reason


def test_rule_pointing_at_a_missing_team_queues() -> None:
    rules = [RoutingRule(name="ghost", team_id="gone")]
    decision = route(LeadProfile(), rules, TEAMS, [], [], NOW)
    assert (decision.outcome, decision.team_id) == ("queued", "gone")
    assert "unknown team" in decision.reason


def test_exclude_moves_a_reassigned_lead_to_someone_else() -> None:
    reps = [rep("de-1", "emea", weight=5), rep("de-2", "emea")]
    first = route(LeadProfile(country="DE"), RULES, TEAMS, reps, [], NOW)
    again = route(
        LeadProfile(country="DE"), RULES, TEAMS, reps, [], NOW, exclude=frozenset({"de-1"})
    )
    assert (first.rep_id, again.rep_id) == ("de-1", "de-2")
    reasons = {c["rep_id"]: c["reason"] for c in again.explanation["teams_tried"][0]["candidates"]}
    assert reasons == {"de-1": "excluded", "de-2": None}


team_states = st.lists(
    st.tuples(
        st.sampled_from(["amer", "emea", "apac"]),
        st.sampled_from(["ok", "away", "capped", "inactive", "off"]),
    ),
    max_size=12,
)


@given(team_states, st.permutations(["amer", "emea", "apac"]), st.sampled_from(["US", "DE", "BR"]))
def test_explanation_lists_every_candidate_and_is_json(
    states: list[tuple[str, str]], sun: list[str], country: str
) -> None:
    overrides: dict[str, dict[str, Any]] = {
        "ok": {},
        "away": {"out_of_office": away()},
        "capped": {"open_leads": 10},
        "inactive": {"active": False},
        "off": {"hours": TOKYO_DAY},
    }
    reps = [rep(f"r{i}", t, **overrides[s]) for i, (t, s) in enumerate(states)]
    decision: Decision = route(LeadProfile(country=country), RULES, TEAMS, reps, sun, NOW)
    json.dumps(decision.explanation)
    for tried in decision.explanation["teams_tried"]:
        if tried["skipped"] is None:
            members = sorted(r.id for r in reps if r.team_id == tried["team"])
            assert [c["rep_id"] for c in tried["candidates"]] == members
    if decision.outcome == "assigned":
        assert decision.rep_id == decision.explanation["teams_tried"][-1]["pick"]
        assert decision.rep_id in decision.weights
    else:
        assert decision.explanation["queue"] == "unassigned"
        assert all(t["pick"] is None for t in decision.explanation["teams_tried"])
