"""Routing changes tried on history: stored arrivals replayed through candidate teams, reps,
rules and scoring with the router's own pure functions, and compared with what happened.

Pure: ``leadflow routing simulate`` reads the history (``services/router/simulation``),
calls :func:`simulate` and prints the :class:`SimulationReport`. Nothing is written.

The replay, in time order:

- each lead arrives once, at its first submission, with the fields as first submitted
  (later submissions of a known lead are sticky in the router and change no owner);
- it is scored with the candidate scoring (no engagement yet: the first decision's score)
  and a purchased-list name or a lead below MQL stays with nurture, as in the router;
- otherwise :func:`route` decides against the simulated reps: the candidate's reps as
  written there, starting with no open leads and fresh round-robin state; the owner
  takes it (:func:`took_lead`), a lead nobody may take waits in the fallback queue;
- a recorded disposition that ended the lead's ownership in history (qualified,
  converted, disqualified, recycled) ends it at the same time in the replay: the
  simulated owner's slot is freed (a queued lead leaves the queue), and the queue drains
  in the router's order (SQL first, then hot, then oldest) to reps eligible then;
- the queue is also drained whenever the simulated clock moves (to the next arrival or
  release), as the router's periodic drain does: a lead queued at night gets a rep at
  the first event after hours open. At one instant, releases come before arrivals.
- a release recorded before the lead's first submission (clocks disagree) applies as
  soon as the lead has arrived; later submissions and re-routings of a released lead
  are not replayed.
"""

from __future__ import annotations

import heapq
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from services.router.domain.assignment import (
    AT_CAPACITY,
    AT_DAILY_CAP,
    AT_WEEKLY_CAP,
    Decision,
    Rep,
    RoutingRule,
    Team,
    route,
    took_lead,
)
from services.router.domain.caps import cap_reached
from services.router.domain.lifecycle import SalesStatus
from services.router.domain.model import LeadProfile
from services.router.domain.scoring import Score, ScoringRules, score

ASSIGNED = "assigned"
QUEUED = "queued"
NURTURE = "nurture"
OUTCOMES = (ASSIGNED, QUEUED, NURTURE)
# The sales statuses whose applied report ends a lead's ownership (frees the rep's slot):
# qualified makes it an opportunity (outside the lead cap); "working" keeps it with the rep.
RELEASING = frozenset(
    {
        SalesStatus.qualified,
        SalesStatus.converted,
        SalesStatus.disqualified,
        SalesStatus.recycled,
    }
)
CAPACITY_REASONS = (AT_CAPACITY, AT_DAILY_CAP, AT_WEEKLY_CAP)


@dataclass(frozen=True)
class Actual:
    """What happened to a lead: its first routing decision and its first owner."""

    outcome: str | None  # assigned | queued | nurture; None when no decision is recorded
    rep_id: str | None = None  # the first rep it was assigned to (also after a queue)
    team_id: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class HistoricalLead:
    lead_id: uuid.UUID
    received_at: datetime  # its first submission's
    profile: LeadProfile  # the fields as first submitted, with the lead's source and channel
    actual: Actual


@dataclass(frozen=True)
class Release:
    """An applied sales status that ended a lead's ownership at ``at`` (see RELEASING)."""

    lead_id: uuid.UUID
    at: datetime
    status: str


@dataclass(frozen=True)
class CandidateRouting:
    """Teams, reps, rules, follow-the-sun order and fallback queue to try, as domain values."""

    teams: Mapping[str, Team]
    reps: tuple[Rep, ...]
    rules: tuple[RoutingRule, ...]
    follow_the_sun: tuple[str, ...] = ()
    fallback_queue: str = "unassigned"


@dataclass(frozen=True)
class Count:
    """Leads per rep, team or outcome: what happened and what the candidate would do."""

    key: str
    actual: int
    simulated: int
    team_id: str | None = None  # for a rep: its team in the candidate (else as it happened)

    @property
    def delta(self) -> int:
        return self.simulated - self.actual

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta": self.delta}


@dataclass(frozen=True)
class CapacityHits:
    """How often a rep was passed over for being full, in the decisions the replay made."""

    rep_id: str
    at_capacity: int
    at_daily_cap: int
    at_weekly_cap: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RepShare:
    rep_id: str
    weight: int
    assigned: int
    share: float  # of the team's simulated assignments, 0..1
    weighted_share: float  # weight / sum of the weights of the team's active reps

    @property
    def deviation_pp(self) -> float:
        return round((self.share - self.weighted_share) * 100, 2)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "deviation_pp": self.deviation_pp}


@dataclass(frozen=True)
class TeamFairness:
    team_id: str
    assigned: int
    reps: tuple[RepShare, ...]

    @property
    def max_deviation_pp(self) -> float:
        return max((abs(r.deviation_pp) for r in self.reps), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "assigned": self.assigned,
            "max_deviation_pp": self.max_deviation_pp,
            "reps": [r.to_dict() for r in self.reps],
        }


@dataclass(frozen=True)
class ChangedLead:
    """A lead whose first owner would differ (lead id only: no personal data)."""

    lead_id: str
    actual_outcome: str | None
    actual_rep_id: str | None
    actual_team_id: str | None
    actual_rule: str | None  # the rule of its first decision
    simulated_outcome: str
    simulated_rep_id: str | None
    simulated_team_id: str | None
    rule: str | None  # the candidate rule the lead matched

    def to_dict(self) -> dict[str, Any]:
        # one per changed lead, up to every lead: spelled out, as asdict() is slow
        return {
            "lead_id": self.lead_id,
            "actual_outcome": self.actual_outcome,
            "actual_rep_id": self.actual_rep_id,
            "actual_team_id": self.actual_team_id,
            "actual_rule": self.actual_rule,
            "simulated_outcome": self.simulated_outcome,
            "simulated_rep_id": self.simulated_rep_id,
            "simulated_team_id": self.simulated_team_id,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class SimulationReport:
    leads: int
    releases: int  # releases applied to replayed leads
    reps: tuple[Count, ...]
    teams: tuple[Count, ...]
    outcomes: tuple[Count, ...]  # the first decision: assigned / queued / nurture
    queue_entries: int  # leads the candidate queued at arrival
    dequeued: int  # of those, later given a rep by a drain
    still_queued: int  # waiting at the end of the replay
    capacity_hits: tuple[CapacityHits, ...]
    fairness: tuple[TeamFairness, ...]
    changed: tuple[ChangedLead, ...]  # in arrival order

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "releases": self.releases,
            "reps": [c.to_dict() for c in self.reps],
            "teams": [c.to_dict() for c in self.teams],
            "outcomes": [c.to_dict() for c in self.outcomes],
            "queue": {
                "entries": self.queue_entries,
                "dequeued": self.dequeued,
                "still_queued": self.still_queued,
            },
            "capacity_hits": [c.to_dict() for c in self.capacity_hits],
            "fairness": [f.to_dict() for f in self.fairness],
            "changed_count": len(self.changed),
            "changed": [c.to_dict() for c in self.changed],
        }


Progress = Callable[[int, int], None]  # (events replayed, events in all)


@dataclass
class _Lead:
    """One lead's simulated life."""

    history: HistoricalLead
    outcome: str = NURTURE
    rule: str | None = None
    rep_id: str | None = None  # first owner
    team_id: str | None = None
    owner: str | None = None  # the rep it occupies now
    queued: bool = False
    arrived: bool = False
    closed: bool = False  # a release ended it (and any later one changes nothing)


@dataclass(order=True)
class _Waiting:
    """A queue entry, ordered as the router drains: SQL first, then hot, then oldest."""

    not_sql: bool
    not_hot: bool
    received_at: datetime
    seq: int
    lead: _Lead = field(compare=False)


@dataclass
class _Replay:
    routing: CandidateRouting
    reps: dict[str, Rep]
    hits: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # the queue, one heap per rule index (a lead's rule decides whether it can be routed)
    queue: dict[int, list[_Waiting]] = field(default_factory=dict)
    seq: int = 0
    queue_entries: int = 0
    dequeued: int = 0

    def decide(self, profile: LeadProfile, now: datetime) -> Decision:
        decision = route(
            profile,
            self.routing.rules,
            self.routing.teams,
            list(self.reps.values()),
            self.routing.follow_the_sun,
            now,
            fallback_queue=self.routing.fallback_queue,
        )
        for rep_id, weight in decision.weights.items():
            self.reps[rep_id] = replace(self.reps[rep_id], current_weight=weight)
        return decision

    def count_skips(self, decision: Decision) -> None:
        for tried in decision.explanation["teams_tried"]:
            for c in tried["candidates"]:
                if c["reason"] in CAPACITY_REASONS:
                    self.hits[c["rep_id"]][c["reason"]] += 1

    def take(self, lead: _Lead, decision: Decision, now: datetime) -> None:
        assert decision.rep_id is not None
        self.reps[decision.rep_id] = took_lead(self.reps[decision.rep_id], now)
        lead.owner = decision.rep_id
        lead.rep_id = decision.rep_id
        lead.team_id = decision.team_id

    def enqueue(self, lead: _Lead, rule_index: int, stage: str, temperature: str) -> None:
        self.seq += 1
        waiting = _Waiting(
            stage != "sql", temperature != "hot", lead.history.received_at, self.seq, lead
        )
        heapq.heappush(self.queue.setdefault(rule_index, []), waiting)
        lead.queued = True
        self.queue_entries += 1

    def release(self, lead: _Lead) -> None:
        lead.closed = True
        lead.queued = False  # its queue entry is dropped when it reaches the head
        if lead.owner is not None:
            rep = self.reps.get(lead.owner)
            if rep is not None:
                self.reps[rep.id] = replace(rep, open_leads=max(rep.open_leads - 1, 0))
            lead.owner = None

    def eligible(self, now: datetime) -> dict[str, set[str]]:
        """team id -> its reps that may take a lead at ``now`` (as ``why_skipped`` says)."""
        out: dict[str, set[str]] = defaultdict(set)
        for rep in self.reps.values():
            if _may_take(rep, now):
                out[rep.team_id].add(rep.id)
        return out

    def routable(self, index: int, eligible: Mapping[str, set[str]], now: datetime) -> bool:
        """Whether :func:`route` would assign a lead of rule ``index`` now: its team has an
        eligible rep, or a follow-the-sun team open now has one (as ``route`` tries them)."""
        team_id = self.routing.rules[index].team_id
        if team_id not in self.routing.teams:
            return False
        if eligible.get(team_id):
            return True
        for other in self.routing.follow_the_sun:
            if other == team_id or not eligible.get(other):
                continue
            team = self.routing.teams.get(other)
            if team is not None and team.hours.is_open(now):
                return True
        return False

    def drain(self, now: datetime) -> None:
        """Give queued leads a rep, best first, while any can be routed. Whether a lead can
        depends on its rule only (the team it names), so a rule whose team and follow-the-sun
        teams have nobody eligible is passed over without routing its leads."""
        for heap in self.queue.values():
            while heap and not heap[0].lead.queued:
                heapq.heappop(heap)
        if not any(self.queue.values()):
            return
        eligible = self.eligible(now)
        while True:
            best: int | None = None
            for index, heap in self.queue.items():
                if not heap or not self.routable(index, eligible, now):
                    continue
                if best is None or heap[0] < self.queue[best][0]:
                    best = index
            if best is None:
                return
            heap = self.queue[best]
            waiting = heapq.heappop(heap)
            while heap and not heap[0].lead.queued:
                heapq.heappop(heap)
            decision = self.decide(waiting.lead.history.profile, now)
            if decision.outcome != ASSIGNED:  # cannot be: routable() mirrors route()
                raise AssertionError(f"rule {decision.rule}: routable but not routed")
            self.count_skips(decision)
            waiting.lead.queued = False
            self.take(waiting.lead, decision, now)
            self.dequeued += 1
            assert decision.rep_id is not None
            rep = self.reps[decision.rep_id]
            if not _may_take(rep, now):
                eligible[rep.team_id].discard(rep.id)


def _may_take(rep: Rep, now: datetime) -> bool:
    """``why_skipped(rep, now) is None``, without the details (the holiday's name)."""
    if not rep.active:
        return False
    for start, end in rep.out_of_office:
        if start <= now < end:
            return False
    if not rep.hours.is_open(now) or rep.open_leads >= rep.capacity:
        return False
    return cap_reached(rep.daily_cap, rep.weekly_cap, rep.counts, rep.hours.tz, now) is None


def simulate(
    history: Sequence[HistoricalLead],
    releases: Sequence[Release],
    candidate: CandidateRouting,
    scoring: ScoringRules,
    progress: Progress | None = None,
) -> SimulationReport:
    """Replay ``history`` (and the ``releases`` recorded for it) through ``candidate`` and
    ``scoring``; compare each lead's simulated first owner with its actual one."""
    fresh = {
        rep.id: replace(rep, open_leads=0, current_weight=0, day_count=0, week_count=0)
        for rep in candidate.reps
    }
    replay = _Replay(candidate, fresh)
    rule_index = {rule.name: i for i, rule in enumerate(candidate.rules)}
    leads = {h.lead_id: _Lead(h) for h in history}
    known = [r for r in releases if r.lead_id in leads and r.status in RELEASING]
    # (time, 0 = release before 1 = arrival, order) -> the event
    events: list[tuple[datetime, int, int, HistoricalLead | Release]] = [
        (r.at, 0, i, r) for i, r in enumerate(known)
    ]
    events.extend((h.received_at, 1, i, h) for i, h in enumerate(history))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    pending: dict[uuid.UUID, Release] = {}  # released before it arrived (clock skew)
    scores: dict[LeadProfile, Score] = {}
    applied = 0
    total = len(events)
    step = max(total // 200, 1)
    last: datetime | None = None
    if progress is not None:
        progress(0, total)
    for n, (at, _, _, event) in enumerate(events, 1):
        if at != last:
            replay.drain(at)
            last = at
        lead = leads[event.lead_id]
        if isinstance(event, Release):
            if not lead.arrived:
                pending.setdefault(event.lead_id, event)
            elif not lead.closed:
                replay.release(lead)
                applied += 1
                replay.drain(at)
        else:
            _arrive(replay, lead, scoring, rule_index, at, scores)
            if event.lead_id in pending and not lead.closed:
                del pending[event.lead_id]
                replay.release(lead)
                applied += 1
                replay.drain(at)
        if progress is not None and (n % step == 0 or n == total):
            progress(n, total)
    return _report(history, leads, replay, applied)


def _arrive(
    replay: _Replay,
    lead: _Lead,
    scoring: ScoringRules,
    rule_index: Mapping[str, int],
    now: datetime,
    scores: dict[LeadProfile, Score],
) -> None:
    lead.arrived = True
    profile = lead.history.profile
    # without activities a score depends on the profile alone (``now`` only ages them), and
    # the replay's profiles hold only the fields routing and scoring look at: many repeat
    result = scores.get(profile)
    if result is None:
        result = scores[profile] = score(profile, (), scoring, now)
    if profile.purchased_list or result.stage == "none":
        lead.outcome = NURTURE
        return
    decision = replay.decide(profile, now)
    replay.count_skips(decision)
    lead.rule = decision.rule
    if decision.outcome == ASSIGNED:
        lead.outcome = ASSIGNED
        replay.take(lead, decision, now)
        return
    lead.outcome = QUEUED
    index = rule_index.get(decision.rule, -1) if decision.rule is not None else -1
    if index >= 0:  # a lead no rule matches waits for good: it never drains
        replay.enqueue(lead, index, result.stage, result.temperature)
    else:
        replay.queue_entries += 1
        lead.queued = True


def _report(
    history: Sequence[HistoricalLead],
    leads: Mapping[uuid.UUID, _Lead],
    replay: _Replay,
    releases: int,
) -> SimulationReport:
    candidate_team = {rep.id: rep.team_id for rep in replay.routing.reps}
    actual_reps: Counter[str] = Counter()
    actual_rep_team: dict[str, str | None] = {}
    actual_teams: Counter[str] = Counter()
    sim_reps: Counter[str] = Counter()
    sim_teams: Counter[str] = Counter()
    actual_outcomes: Counter[str] = Counter()
    sim_outcomes: Counter[str] = Counter()
    changed: list[ChangedLead] = []
    still_queued = 0
    for h in history:
        lead = leads[h.lead_id]
        a = h.actual
        if a.outcome is not None:
            actual_outcomes[a.outcome] += 1
        if a.rep_id is not None:
            actual_reps[a.rep_id] += 1
            actual_rep_team.setdefault(a.rep_id, a.team_id)
        if a.team_id is not None and a.rep_id is not None:
            actual_teams[a.team_id] += 1
        sim_outcomes[lead.outcome] += 1
        if lead.rep_id is not None:
            sim_reps[lead.rep_id] += 1
            if lead.team_id is not None:
                sim_teams[lead.team_id] += 1
        if lead.queued:
            still_queued += 1
        if a.rep_id != lead.rep_id:
            changed.append(
                ChangedLead(
                    lead_id=str(h.lead_id),
                    actual_outcome=a.outcome,
                    actual_rep_id=a.rep_id,
                    actual_team_id=a.team_id if a.rep_id is not None else None,
                    actual_rule=a.rule,
                    simulated_outcome=lead.outcome,
                    simulated_rep_id=lead.rep_id,
                    simulated_team_id=lead.team_id,
                    rule=lead.rule,
                )
            )
    rep_ids = sorted(set(candidate_team) | set(actual_reps))
    reps = tuple(
        Count(
            rep_id,
            actual_reps[rep_id],
            sim_reps[rep_id],
            candidate_team.get(rep_id) or actual_rep_team.get(rep_id),
        )
        for rep_id in rep_ids
    )
    team_ids = sorted(set(replay.routing.teams) | set(actual_teams))
    teams = tuple(Count(t, actual_teams[t], sim_teams[t]) for t in team_ids)
    outcomes = tuple(Count(o, actual_outcomes[o], sim_outcomes[o]) for o in OUTCOMES)
    hits = tuple(
        CapacityHits(
            rep_id,
            replay.hits[rep_id][AT_CAPACITY],
            replay.hits[rep_id][AT_DAILY_CAP],
            replay.hits[rep_id][AT_WEEKLY_CAP],
        )
        for rep_id in sorted(candidate_team)
        if sum(replay.hits[rep_id].values())
    )
    return SimulationReport(
        leads=len(history),
        releases=releases,
        reps=reps,
        teams=teams,
        outcomes=outcomes,
        queue_entries=replay.queue_entries,
        dequeued=replay.dequeued,
        still_queued=still_queued,
        capacity_hits=hits,
        fairness=fairness(replay.routing, sim_reps),
        changed=tuple(changed),
    )


def fairness(routing: CandidateRouting, assigned: Mapping[str, int]) -> tuple[TeamFairness, ...]:
    """Each rep's share of its team's simulated assignments beside its weighted share."""
    out: list[TeamFairness] = []
    for team_id in sorted(routing.teams):
        members = sorted(
            (r for r in routing.reps if r.team_id == team_id and r.active), key=lambda r: r.id
        )
        if not members:
            continue
        total_weight = sum(r.weight for r in members)
        team_total = sum(assigned.get(r.id, 0) for r in members)
        shares = tuple(
            RepShare(
                rep_id=r.id,
                weight=r.weight,
                assigned=assigned.get(r.id, 0),
                share=assigned.get(r.id, 0) / team_total if team_total else 0.0,
                weighted_share=r.weight / total_weight,
            )
            for r in members
        )
        out.append(TeamFairness(team_id, team_total, shares if team_total else ()))
    return tuple(out)
