"""A batch of arrivals -> what happens to each, as values (no session, no producer, no clock).

The router loads everything a batch needs in a few queries (:class:`BatchState`), calls
:func:`decide_batch`, and writes the returned :class:`BatchOutcome` with bulk statements.
Arrivals are decided in order against a state that each decision updates, so a person
arriving twice in one batch becomes one lead, and round robin advances lead by lead
exactly as it would one transaction at a time.

The rules are the ones the router applies to a single lead (see ``services/router/intake``):
match (the policy in ``services/router/domain/dedupe.py``: a personal email is certain, a
phone or role address only with agreeing names, else the name at the same company; doubtful
evidence makes a new lead marked as a possible duplicate); merge; score;
a known lead with an active owner goes back to that owner (sticky); names and leads
below MQL stay with nurture; otherwise routing rules pick a team and weighted round
robin a rep; the first-touch clock starts (or keeps running for the same owner).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from services.router.domain.assignment import Rep, RoutingRule, Team, route, took_lead
from services.router.domain.business_hours import (
    WorkingHours,
    add_business_minutes,
    skipped_holidays,
)
from services.router.domain.caps import PeriodCounts
from services.router.domain.dedupe import (
    Key,
    MatchDecision,
    MatchPolicy,
    Person,
    Verdict,
    decide_match,
    is_role_address,
    shared_now,
)
from services.router.domain.lifecycle import (
    CLOSED_TO_ROUTING,
    LeadStatus,
    Stage,
    scored_stage,
)
from services.router.domain.matching import Candidate, company_keys, merge_fields
from services.router.domain.model import TEXT_FIELDS, ActivityPoint, LeadProfile
from services.router.domain.scoring import ScoringRules, score
from shared.domain.contact import canonical_email
from shared.domain.zones import trade_show_first_contact

# Fuzzy-match candidates per company key, oldest first (the router's look-up limit).
FUZZY_CANDIDATES = 200


class DecisionKind(StrEnum):
    initial = "initial"
    sticky = "sticky"
    reassigned = "reassigned"
    dequeued = "dequeued"
    rescored = "rescored"


class ClockState(StrEnum):
    running = "running"
    warned = "warned"
    breached = "breached"
    escalated = "escalated"
    stopped = "stopped"
    closed = "closed"


OPEN_CLOCK_STATES = frozenset({ClockState.running, ClockState.warned, ClockState.breached})
CLOSABLE_CLOCK_STATES = OPEN_CLOCK_STATES | {ClockState.escalated}


@dataclass(frozen=True)
class LeadRow:
    """One ``router.lead`` row as a value (same field names as the columns)."""

    id: uuid.UUID
    status: str
    is_name: bool
    profile: dict[str, Any]
    first_name: str | None
    last_name: str | None
    company_key: str | None
    source_id: str
    channel: str
    received_at: datetime
    score: int
    temperature: str
    stage: str
    score_breakdown: dict[str, Any]
    owner_rep_id: str | None
    team_id: str | None
    queue: str | None
    first_touch_at: datetime | None
    last_activity_at: datetime | None
    created_at: datetime
    updated_at: datetime
    lifecycle_stage: str = "lead"
    stage_entered_at: datetime | None = None
    sales_status: str | None = None
    sales_status_at: datetime | None = None
    disqualify_reason: str | None = None
    last_owner_rep_id: str | None = None
    owned_since: datetime | None = None
    last_worked_at: datetime | None = None
    recycled_at: datetime | None = None
    duplicate_of: uuid.UUID | None = None
    company_name_key: str | None = None
    merged_into: uuid.UUID | None = None


@dataclass(frozen=True)
class StageMove:
    """A lead entering a lifecycle stage (the ``router.lead_stage`` row), and the one it left."""

    lead_id: uuid.UUID
    stage: str
    previous_stage: str | None
    entered_at: datetime
    cause: str
    left_entered_at: datetime | None  # when the stage it left was entered (time in stage)


@dataclass(frozen=True)
class ClockRow:
    """One ``router.sla_clock`` row as a value."""

    lead_id: uuid.UUID
    team_id: str
    rep_id: str | None
    channel: str
    state: str
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    next_fire_at: datetime | None
    stopped_at: datetime | None
    escalations: int


@dataclass(frozen=True)
class ShowRef:
    """The trade show a submission came from (the event's ``trade_show``)."""

    show_id: str
    name: str
    end_date: date
    timezone: str
    import_id: uuid.UUID
    row_number: int


@dataclass(frozen=True)
class Arrival:
    """One ``leads.received.v1`` event, as the decision needs it."""

    event_id: str
    submission_id: uuid.UUID
    source_id: str
    channel: str
    purchased_list: bool
    received_at: datetime
    incoming: dict[str, Any]  # the submitted lead fields, JSON-able
    trade_show: ShowRef | None = None
    # where fuzzy candidates are looked for (and locked): computed once, from ``incoming``
    company_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = company_keys(
            profile_of(self.incoming, source_id=None, channel=None, purchased_list=False)
        )
        object.__setattr__(self, "company_keys", tuple(k for k in keys if k is not None))

    @property
    def identities(self) -> tuple[tuple[str, str], ...]:
        """(kind, value) keys of the person, email before phone (canonical forms)."""
        keys: list[tuple[str, str]] = []
        if self.incoming.get("email"):
            keys.append(("email", canonical_email(self.incoming["email"])))
        if self.incoming.get("phone"):
            keys.append(("phone", self.incoming["phone"]))
        return tuple(keys)

    @property
    def sla_start(self) -> datetime:
        """When a first-touch clock for this arrival starts: at intake; for a trade-show
        lead at its first-contact time (08:00 on the Monday after the show, in the
        prospect's zone when known, else the show's)."""
        if self.trade_show is None:
            return self.received_at
        tz = self.incoming.get("timezone") or self.trade_show.timezone
        return max(trade_show_first_contact(self.trade_show.end_date, tz), self.received_at)


@dataclass(frozen=True)
class Config:
    rules: ScoringRules
    routing_rules: tuple[RoutingRule, ...]
    follow_the_sun: tuple[str, ...]
    fallback_queue: str
    policy: MatchPolicy = field(default_factory=MatchPolicy)


@dataclass(frozen=True)
class Submission:
    submission_id: uuid.UUID
    lead_id: uuid.UUID
    event_id: str
    source_id: str
    channel: str
    matched_by: str
    detail: str
    filled: list[str]
    conflicts: list[dict[str, str]]
    received_at: datetime
    processed_at: datetime
    fields: dict[str, Any] | None = None  # as submitted, to split it out again
    evidence: dict[str, Any] | None = None  # the match decision, every candidate weighed


@dataclass(frozen=True)
class Review:
    """A doubtful match: ``lead_id`` (new) may be ``other_lead_id``; a person decides."""

    lead_id: uuid.UUID
    other_lead_id: uuid.UUID
    evidence: dict[str, Any]


@dataclass(frozen=True)
class SharedIdentity:
    """An identity that just reached the shared threshold: no longer a match key."""

    kind: str
    value: str
    lead_count: int


@dataclass(frozen=True)
class AutoMerge:
    """A submission merged into a known lead as it arrived (published on leads.merges.v1)."""

    lead_id: uuid.UUID
    submission_id: uuid.UUID
    event_id: str
    matched_by: str
    identities: tuple[Key, ...]  # the keys the lead gained
    lines: tuple[str, ...]


@dataclass(frozen=True)
class AssignmentRow:
    id: uuid.UUID
    lead_id: uuid.UUID
    outcome: str
    kind: str
    rep_id: str | None
    team_id: str | None
    queue: str | None
    rule: str | None
    reason: str
    explanation: dict[str, Any]
    score: dict[str, Any]
    cause_event_id: str
    decided_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class Emit:
    """A decision event to publish: the lead as decided, its assignment and clock."""

    lead: LeadRow
    assignment: AssignmentRow
    clock: ClockRow | None
    submission_id: uuid.UUID | None
    channel: str | None
    trade_show: ShowRef | None
    team_timezone: str | None
    # what the submission said about marketing consent (the profile keeps the first answer)
    marketing_consent: bool | None = None


@dataclass(frozen=True)
class Observation:
    """A metric to count once the batch commits: (name, labels, value)."""

    metric: str
    labels: tuple[str, ...]
    value: float = 1.0


@dataclass(frozen=True)
class LeadOutcome:
    """What one arrival does."""

    lead: LeadRow
    created: bool
    submission: Submission
    new_identities: tuple[tuple[str, str], ...]
    assignment: AssignmentRow | None
    emit: Emit | None
    observations: tuple[Observation, ...]
    stage_move: StageMove | None = None
    review: Review | None = None
    shared: tuple[SharedIdentity, ...] = ()
    merge: AutoMerge | None = None


@dataclass
class BatchState:
    """What the decisions read, loaded for the whole batch; decisions update it in place."""

    identities: dict[Key, list[uuid.UUID]]  # the leads holding each key, in claim order
    candidates: dict[str, list[Candidate]]
    leads: dict[uuid.UUID, LeadRow]
    activities: dict[uuid.UUID, list[ActivityPoint]]
    clocks: dict[uuid.UUID, ClockRow]
    teams: dict[str, Team]
    team_timezones: dict[str, str]
    reps: dict[str, Rep]
    # identities no longer used as match keys (many different people use them)
    shared: set[Key] = field(default_factory=set)
    # leads created in this batch (no activities, no clock, no earlier assignment)
    created: set[uuid.UUID] = field(default_factory=set)
    clocks_changed: set[uuid.UUID] = field(default_factory=set)


class MissingState(Exception):
    """A decision needs a lead the load step did not read: load it and decide again."""

    def __init__(self, lead_id: uuid.UUID) -> None:
        super().__init__(f"lead {lead_id} was not loaded")
        self.lead_id = lead_id


@dataclass
class BatchOutcome:
    outcomes: list[LeadOutcome]
    leads: dict[uuid.UUID, LeadRow]  # final state of every lead the batch touched
    created: set[uuid.UUID]
    identities: list[tuple[str, str, uuid.UUID]]  # (kind, value, lead id) to claim
    submissions: list[Submission]
    assignments: list[AssignmentRow]  # final values (some ended within the batch)
    end_assignments_of: set[uuid.UUID]  # leads whose stored current assignment ends
    clocks: dict[uuid.UUID, ClockRow]  # clocks to write (final values)
    weights: dict[str, int]  # rep id -> new current_weight
    open_lead_deltas: dict[str, int]  # rep id -> change in open leads
    period_counts: dict[str, PeriodCounts]  # rep id -> new leads today / this week, to store
    teams_changed: set[str]  # teams whose reps' routing state this batch changed
    emits: list[Emit]
    observations: list[Observation]
    stage_moves: list[StageMove] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    shared_identities: list[SharedIdentity] = field(default_factory=list)
    merges: list[AutoMerge] = field(default_factory=list)


def profile_of(
    fields: Mapping[str, Any], *, source_id: str | None, channel: str | None, purchased_list: bool
) -> LeadProfile:
    utm = fields.get("utm")
    custom = fields.get("custom")
    return LeadProfile(
        **{f: fields.get(f) for f in TEXT_FIELDS},
        source_id=source_id,
        channel=channel,
        purchased_list=purchased_list,
        utm={k: v for k, v in utm.items() if isinstance(v, str)} if utm else {},
        custom=dict(custom) if custom else {},
    )


def lead_profile(lead: LeadRow) -> LeadProfile:
    return profile_of(
        lead.profile, source_id=lead.source_id, channel=lead.channel, purchased_list=lead.is_name
    )


def decide_batch(
    state: BatchState,
    arrivals: Sequence[Arrival],
    config: Config,
    now: datetime,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> BatchOutcome:
    """Decide every arrival in order; ``state`` ends as the batch leaves the database."""
    reps_before = dict(state.reps)
    out = BatchOutcome([], {}, set(), [], [], [], set(), {}, {}, {}, {}, set(), [], [])
    current: dict[uuid.UUID, int] = {}  # lead id -> index in out.assignments of its current one
    for arrival in arrivals:
        outcome = decide_arrival(state, arrival, config, now, new_id)
        lead = outcome.lead
        out.outcomes.append(outcome)
        out.leads[lead.id] = lead
        out.identities.extend((k, v, lead.id) for k, v in outcome.new_identities)
        out.submissions.append(outcome.submission)
        out.observations.extend(outcome.observations)
        if outcome.assignment is not None:
            if lead.id in current:  # superseded within the batch
                i = current[lead.id]
                out.assignments[i] = replace(out.assignments[i], ended_at=now)
            elif lead.id not in state.created:
                out.end_assignments_of.add(lead.id)
            current[lead.id] = len(out.assignments)
            out.assignments.append(outcome.assignment)
        if outcome.emit is not None:
            out.emits.append(outcome.emit)
        if outcome.stage_move is not None:
            out.stage_moves.append(outcome.stage_move)
        if outcome.review is not None:
            out.reviews.append(outcome.review)
        if outcome.merge is not None:
            out.merges.append(outcome.merge)
        out.shared_identities.extend(outcome.shared)
    out.created = set(state.created)
    out.clocks = {lead_id: state.clocks[lead_id] for lead_id in state.clocks_changed}
    for rep_id, rep in state.reps.items():
        before = reps_before.get(rep_id)
        if before is None:
            continue
        if rep.current_weight != before.current_weight:
            out.weights[rep_id] = rep.current_weight
        if rep.open_leads != before.open_leads:
            out.open_lead_deltas[rep_id] = rep.open_leads - before.open_leads
        if rep.counts != before.counts:
            out.period_counts[rep_id] = rep.counts
    out.teams_changed = teams_touched(reps_before, state.reps)
    return out


def decide_arrival(
    state: BatchState,
    arrival: Arrival,
    config: Config,
    now: datetime,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> LeadOutcome:
    """Match, merge, score and route one arrival against ``state`` (updated in place)."""
    keys = arrival.identities
    incoming = arrival.incoming
    decision = match_arrival(state, arrival, config.policy)
    lead: LeadRow | None = None
    matched_by, detail = "new", "no earlier lead matched"
    review: Review | None = None
    if decision.verdict == Verdict.merge and decision.best is not None:
        lead = _known(state, decision.best.lead_id)
        matched_by = decision.best.via
        detail = f"lead {lead.id} ({decision.best.confidence:.2f}): " + "; ".join(
            decision.best.lines
        )
    elif decision.verdict == Verdict.review and decision.best is not None:
        detail = f"possible duplicate of lead {decision.best.lead_id} (doubtful, " + (
            f"{decision.best.confidence:.2f}): " + "; ".join(decision.best.lines)
        )
    weaker = [e for e in decision.weighed if e is not decision.best]
    if weaker:
        detail += "; weighed and found too weak: " + "; ".join(
            f"lead {e.lead_id} ({e.confidence:.2f}: {e.lines[0]})" for e in weaker[:3]
        )
        if len(weaker) > 3:
            detail += f"; and {len(weaker) - 3} more"

    observations: list[Observation] = []
    filled: tuple[str, ...] = ()
    conflicts: list[dict[str, str]] = []
    claimed: list[Key] = []
    created = lead is None
    if lead is None:
        company, name_key = company_keys(
            profile_of(incoming, source_id=None, channel=None, purchased_list=False)
        )
        lead = LeadRow(
            id=new_id(),
            status=LeadStatus.new,
            is_name=arrival.purchased_list,
            profile=_stored_profile(incoming),
            first_name=incoming.get("first_name"),
            last_name=incoming.get("last_name"),
            company_key=company,
            company_name_key=name_key,
            source_id=arrival.source_id,
            channel=arrival.channel,
            received_at=arrival.received_at,
            score=0,
            temperature="cold",
            stage="none",
            score_breakdown={},
            owner_rep_id=None,
            team_id=None,
            queue=None,
            first_touch_at=None,
            last_activity_at=None,
            created_at=now,
            updated_at=now,
            lifecycle_stage=Stage.name if arrival.purchased_list else Stage.lead,
            stage_entered_at=now,
            duplicate_of=decision.lead_id if decision.verdict == Verdict.review else None,
        )
        state.created.add(lead.id)
        state.activities[lead.id] = []
        candidate = Candidate(
            lead_id=lead.id,
            first_name=lead.first_name,
            last_name=lead.last_name,
            company=incoming.get("company"),
            company_domain=incoming.get("company_domain"),
        )
        for key in (company, name_key):
            if key is not None:
                same_company = state.candidates.setdefault(key, [])
                if len(same_company) < FUZZY_CANDIDATES:
                    same_company.append(candidate)
        if lead.duplicate_of is not None:
            review = Review(lead.id, lead.duplicate_of, decision.to_dict())
    else:
        merged = merge_fields(lead.profile, _stored_profile(incoming))
        # a lead that lacked a company (or a domain) is found under the one it now has
        company, name_key = company_keys(
            profile_of(merged.merged, source_id=None, channel=None, purchased_list=False)
        )
        lead = replace(
            lead,
            profile=merged.merged,
            first_name=lead.first_name or incoming.get("first_name"),
            last_name=lead.last_name or incoming.get("last_name"),
            is_name=lead.is_name and arrival.purchased_list,
        )
        keyed = (lead.company_key, lead.company_name_key)
        if lead.company_key is None or (
            lead.company_key.startswith("name:")
            and company is not None
            and not company.startswith("name:")
        ):
            # no company yet, or only its name and now its domain: found under the domain
            lead = replace(lead, company_key=company, company_name_key=name_key)
        elif (
            lead.company_name_key is None
            and company == lead.company_key
            and not company.startswith("name:")
        ):
            lead = replace(lead, company_name_key=name_key)
        if (lead.company_key, lead.company_name_key) != keyed:
            candidate = Candidate(
                lead_id=lead.id,
                first_name=lead.first_name,
                last_name=lead.last_name,
                company=lead.profile.get("company"),
                company_domain=lead.profile.get("company_domain"),
            )
            for key in {lead.company_key, lead.company_name_key} - set(keyed):
                if key is not None:
                    same_company = state.candidates.setdefault(key, [])
                    if len(same_company) < FUZZY_CANDIDATES:
                        same_company.append(candidate)
        filled = merged.filled
        conflicts = [
            {"field": c.field, "kept": c.kept, "incoming": c.incoming} for c in merged.conflicts
        ]
        observations.append(Observation("merges", (matched_by,)))
    shared: list[SharedIdentity] = []
    for k in keys:  # every key is kept, also one other leads hold (a switchboard number)
        holders = state.identities.setdefault(k, [])
        if lead.id in holders:
            continue
        holders.append(lead.id)
        claimed.append(k)
        if k not in state.shared and shared_now(len(holders), config.policy):
            state.shared.add(k)
            shared.append(SharedIdentity(k[0], k[1], len(holders)))
    merge = (
        AutoMerge(
            lead.id,
            arrival.submission_id,
            arrival.event_id,
            matched_by,
            tuple(claimed),
            decision.best.lines,
        )
        if not created and decision.best is not None
        else None
    )

    submission = Submission(
        submission_id=arrival.submission_id,
        lead_id=lead.id,
        event_id=arrival.event_id,
        source_id=arrival.source_id,
        channel=arrival.channel,
        matched_by=matched_by,
        detail=detail,
        filled=list(filled),
        conflicts=conflicts,
        received_at=arrival.received_at,
        processed_at=now,
        fields=_stored_profile(incoming),
        evidence=decision.to_dict() if decision.weighed else None,
    )
    if lead.status in CLOSED_TO_ROUTING:  # sales has the deal: recorded, not routed
        state.leads[lead.id] = lead
        return LeadOutcome(
            lead,
            created,
            submission,
            tuple(claimed),
            None,
            None,
            tuple(observations),
            review=review,
            shared=tuple(shared),
            merge=merge,
        )

    activities = scoring_activities(state.activities.get(lead.id, []), lead)
    result = score(lead_profile(lead), activities, config.rules, now)
    lead = replace(
        lead,
        score=result.total,
        temperature=result.temperature,
        stage=result.stage,
        score_breakdown=result.to_dict(),
    )
    lead, move = move_stage(
        lead,
        scored_stage(Stage(lead.lifecycle_stage), result.stage, is_name=lead.is_name, reopen=True),
        cause="submission",
        now=now,
        created=created,
    )
    if move is not None:
        observations.append(_transition(move, lead))
    assignment, emit, more = _route(state, lead, arrival, config, now, new_id)
    lead = state.leads[lead.id]
    observations.extend(more)
    return LeadOutcome(
        lead,
        created,
        submission,
        tuple(claimed),
        assignment,
        emit,
        tuple(observations),
        move,
        review=review,
        shared=tuple(shared),
        merge=merge,
    )


def person_of(fields: Mapping[str, Any]) -> Person:
    return Person(
        first_name=fields.get("first_name"),
        last_name=fields.get("last_name"),
        company=fields.get("company"),
        company_domain=fields.get("company_domain"),
    )


def arrival_company_keys(arrival: Arrival) -> tuple[str, ...]:
    """The company keys an arrival looks for candidates under (and locks)."""
    return arrival.company_keys


def widened_key(arrival: Arrival) -> str | None:
    """The arrival's company name key: under it, leads are found by their
    ``company_name_key`` too (a lead with a domain and that name), so "Acme" without a domain
    finds the lead that came with acme.com, and a lead that came with acme.de is found by
    one that comes with acme.com."""
    return next((k for k in arrival.company_keys if k.startswith("name:")), None)


def match_arrival(state: BatchState, arrival: Arrival, policy: MatchPolicy) -> MatchDecision:
    """Weigh the leads holding the arrival's contact keys (shared keys left out) and those
    under its company keys. A lead holding a key must be loaded (:class:`MissingState`)."""
    candidates: list[tuple[uuid.UUID, Person, frozenset[Key]]] = []
    for k in arrival.identities:
        if k in state.shared:
            continue
        for lead_id in state.identities.get(k, ()):
            row = _known(state, lead_id)
            candidates.append((lead_id, person_of(row.profile), frozenset({k})))
    if not certain_by_email(arrival, state.identities, state.shared):
        # a personal address someone holds is certain (1.0): no company evidence can
        # outweigh it, so the company's leads are not weighed
        candidates.extend(_company_candidates(state.candidates, arrival))
    return decide_match(person_of(arrival.incoming), candidates, policy)


def certain_by_email(
    arrival: Arrival, identities: Mapping[Key, Sequence[uuid.UUID]], shared: Set[Key]
) -> bool:
    """Whether a lead already holds the arrival's personal email address (a match key)."""
    return any(
        kind == "email" and not is_role_address(value) and (kind, value) not in shared
        and bool(identities.get((kind, value)))
        for kind, value in arrival.identities
    )  # fmt: skip


def company_decision(
    candidates: Mapping[str, Sequence[Candidate]], arrival: Arrival, policy: MatchPolicy
) -> MatchDecision:
    """The decision on company evidence alone (no contact keys): the load step's pre-pass."""
    return decide_match(
        person_of(arrival.incoming), _company_candidates(candidates, arrival), policy
    )


def _company_candidates(
    candidates: Mapping[str, Sequence[Candidate]], arrival: Arrival
) -> list[tuple[uuid.UUID, Person, frozenset[Key]]]:
    none: frozenset[Key] = frozenset()
    keys = arrival.company_keys
    if len(keys) == 1:
        return [(c.lead_id, c, none) for c in candidates.get(keys[0], ())]
    # a lead with a domain and a name is found under both: weighed once
    seen: set[uuid.UUID] = set()
    found: list[tuple[uuid.UUID, Person, frozenset[Key]]] = []
    for company in keys:
        for c in candidates.get(company, ()):
            if c.lead_id not in seen:
                seen.add(c.lead_id)
                found.append((c.lead_id, c, none))
    return found


def scoring_activities(points: Sequence[ActivityPoint], lead: LeadRow) -> list[ActivityPoint]:
    """The engagement a lead's score counts: all of it, except for a recycled lead, whose
    score counts only what happened since it was recycled (so "engages again and scores
    MQL" means engagement after sales gave it back)."""
    if lead.status == LeadStatus.recycled and lead.recycled_at is not None:
        return [p for p in points if p.at > lead.recycled_at]
    return list(points)


def move_stage(
    lead: LeadRow, stage: Stage, *, cause: str, now: datetime, created: bool = False
) -> tuple[LeadRow, StageMove | None]:
    """The lead in ``stage`` and the move that took it there (None when it stays). A lead
    created now enters its first stage (no previous one)."""
    if created:
        lead = replace(lead, lifecycle_stage=stage, stage_entered_at=now)
        return lead, StageMove(lead.id, stage, None, now, cause, None)
    if stage == lead.lifecycle_stage:
        return lead, None
    move = StageMove(lead.id, stage, lead.lifecycle_stage, now, cause, lead.stage_entered_at)
    return replace(lead, lifecycle_stage=stage, stage_entered_at=now), move


def _transition(move: StageMove, lead: LeadRow) -> Observation:
    return Observation(
        "lifecycle_transition",
        (move.previous_stage or "none", move.stage, lead.source_id, lead.channel),
        (move.entered_at - move.left_entered_at).total_seconds()
        if move.left_entered_at is not None
        else -1.0,
    )


def _known(state: BatchState, lead_id: uuid.UUID) -> LeadRow:
    lead = state.leads.get(lead_id)
    if lead is None:
        raise MissingState(lead_id)
    return lead


def _stored_profile(incoming: Mapping[str, Any]) -> dict[str, Any]:
    return dict(incoming)


def _route(
    state: BatchState,
    lead: LeadRow,
    arrival: Arrival,
    config: Config,
    now: datetime,
    new_id: Callable[[], uuid.UUID],
) -> tuple[AssignmentRow, Emit, list[Observation]]:
    """Who owns the lead now; updates the lead, its clock and the reps in ``state``."""
    if lead.owner_rep_id is not None and lead.status == LeadStatus.assigned:
        owner = state.reps.get(lead.owner_rep_id)
        if owner is not None and owner.active:
            return _record(
                state, lead, arrival, config, now, new_id,
                outcome=LeadStatus.assigned, kind=DecisionKind.sticky, rep_id=owner.id,
                team_id=owner.team_id, queue=None, rule=None,
                reason=f"known lead returns to its current owner {owner.id} (sticky routing)",
                explanation={"sticky": {"rep": owner.id, "active": True}},
            )  # fmt: skip
    if lead.status == LeadStatus.recycled and lead.last_owner_rep_id is not None:
        last = state.reps.get(lead.last_owner_rep_id)
        if last is not None and last.active and not_for_sales(lead, config.rules) is None:
            return _record(
                state, lead, arrival, config, now, new_id,
                outcome=LeadStatus.assigned, kind=DecisionKind.sticky, rep_id=last.id,
                team_id=last.team_id, queue=None, rule=None,
                reason=f"recycled lead scores {lead.stage} again: back to its last owner "
                f"{last.id} (sticky routing)",
                explanation={"sticky": {"rep": last.id, "active": True, "last_owner": True}},
            )  # fmt: skip
    nurture_reason = not_for_sales(lead, config.rules)
    if nurture_reason is not None:
        return _record(
            state, lead, arrival, config, now, new_id,
            outcome=LeadStatus.nurture, kind=DecisionKind.initial, rep_id=None, team_id=None,
            queue=None, rule=None, reason=nurture_reason,
            explanation={"not_for_sales": nurture_reason},
        )  # fmt: skip
    decision = route(
        lead_profile(lead),
        config.routing_rules,
        state.teams,
        list(state.reps.values()),
        config.follow_the_sun,
        now,
        fallback_queue=config.fallback_queue,
    )
    for rep_id, weight in decision.weights.items():
        state.reps[rep_id] = replace(state.reps[rep_id], current_weight=weight)
    queued = decision.outcome == "queued"
    return _record(
        state, lead, arrival, config, now, new_id,
        outcome=LeadStatus.queued if queued else LeadStatus.assigned, kind=DecisionKind.initial,
        rep_id=decision.rep_id, team_id=decision.team_id,
        queue=config.fallback_queue if queued else None, rule=decision.rule,
        reason=decision.reason, explanation=decision.explanation,
    )  # fmt: skip


def not_for_sales(lead: LeadRow, rules: ScoringRules) -> str | None:
    if lead.is_name:
        return "purchased-list name: nurture only, never routed to sales"
    if lead.stage == "none":
        return f"score {lead.score} is below the MQL threshold {rules.thresholds.mql}: stays with nurture"
    return None


def _record(
    state: BatchState,
    lead: LeadRow,
    arrival: Arrival,
    config: Config,
    now: datetime,
    new_id: Callable[[], uuid.UUID],
    *,
    outcome: LeadStatus,
    kind: DecisionKind,
    rep_id: str | None,
    team_id: str | None,
    queue: str | None,
    rule: str | None,
    reason: str,
    explanation: dict[str, Any],
) -> tuple[AssignmentRow, Emit, list[Observation]]:
    observations: list[Observation] = []
    previous_status = lead.status
    previous_owner = lead.owner_rep_id if lead.status == LeadStatus.assigned else None
    if previous_owner is not None and previous_owner != rep_id:
        _add_open_lead(state, previous_owner, -1)
    if rep_id is not None and previous_owner != rep_id:
        _take_lead(state, rep_id, now)
    assignment = AssignmentRow(
        id=new_id(),
        lead_id=lead.id,
        outcome=outcome,
        kind=kind,
        rep_id=rep_id,
        team_id=team_id,
        queue=queue,
        rule=rule,
        reason=reason,
        explanation=explanation,
        score=lead.score_breakdown,
        cause_event_id=arrival.event_id,
        decided_at=now,
        ended_at=None,
    )
    # a recycled lead that is not sales-ready again stays recycled (marketing's remarket list)
    status = (
        LeadStatus.recycled
        if previous_status == LeadStatus.recycled and outcome == LeadStatus.nurture
        else outcome
    )
    lead = replace(
        lead, status=status, owner_rep_id=rep_id, team_id=team_id, queue=queue, updated_at=now
    )
    # a new owner: the recycling clock (time since the owner last worked it) starts now
    if rep_id is not None and previous_owner != rep_id:
        lead = replace(lead, last_owner_rep_id=rep_id, owned_since=now, last_worked_at=now)
    state.leads[lead.id] = lead
    clock: ClockRow | None = None
    if outcome != LeadStatus.assigned:
        _close_clock(state, lead.id)
    elif rep_id is not None and team_id is not None:
        before = state.clocks.get(lead.id)
        clock = _start_clock(
            state, lead, team_id, rep_id, arrival.sla_start, kind,
            known=previous_status != LeadStatus.new,
        )  # fmt: skip
        if clock is not None and clock is not before:  # started by this decision
            assignment = explain_sla(assignment, clock, state.teams[team_id].hours)
        if kind in (DecisionKind.initial, DecisionKind.dequeued, DecisionKind.rescored):
            seconds = max((now - lead.received_at).total_seconds(), 0.0)
            observations.append(Observation("intake_to_assignment", (), seconds))
    observations.append(
        Observation("leads_routed", ("name" if lead.is_name else outcome.value, team_id or "none"))
    )
    observations.append(Observation("scores", (), float(lead.score)))
    emit = Emit(
        lead=lead,
        assignment=assignment,
        clock=clock,
        submission_id=arrival.submission_id,
        channel=arrival.channel,
        trade_show=arrival.trade_show,
        team_timezone=state.team_timezones.get(team_id) if team_id else None,
        marketing_consent=_consent_of(arrival.incoming),
    )
    return assignment, emit, observations


def _consent_of(incoming: dict[str, Any]) -> bool | None:
    value = incoming.get("marketing_consent")
    return value if isinstance(value, bool) else None


def _add_open_lead(state: BatchState, rep_id: str, delta: int) -> None:
    """A lead leaves its rep (``delta`` < 0); a rep taking a lead goes through ``_take_lead``."""
    rep = state.reps.get(rep_id)
    if rep is not None:
        state.reps[rep_id] = replace(rep, open_leads=max(rep.open_leads + delta, 0))


def _take_lead(state: BatchState, rep_id: str, now: datetime) -> None:
    """The rep becomes a lead's owner: one more open lead, one more new lead today/this week."""
    rep = state.reps.get(rep_id)
    if rep is not None:
        state.reps[rep_id] = took_lead(rep, now)


def sla_explanation(
    started_at: datetime, due_at: datetime, hours: WorkingHours
) -> dict[str, Any] | None:
    """The decision's ``explanation["sla"]`` when the first-touch window skips holidays of
    the team (else None: nothing to explain beyond the event's ``sla``)."""
    skipped = skipped_holidays(started_at, due_at, hours)
    if not skipped:
        return None
    return {
        "started_at": started_at.isoformat(),
        "due_at": due_at.isoformat(),
        "holidays": [h.to_dict() for h in skipped],
    }


def explain_sla(assignment: AssignmentRow, clock: ClockRow, hours: WorkingHours) -> AssignmentRow:
    """The assignment whose new clock skips holidays says so (explanation and reason)."""
    sla = sla_explanation(clock.started_at, clock.due_at, hours)
    if sla is None:
        return assignment
    return replace(
        assignment,
        reason=with_sla_note(assignment.reason, sla),
        explanation={**assignment.explanation, "sla": sla},
    )


def with_sla_note(reason: str, sla: Mapping[str, Any]) -> str:
    """The decision's sentence, saying which holidays its SLA clock skips."""
    names = ", ".join(f"{h['name']} ({h['date']})" for h in sla["holidays"])
    return f"{reason.rstrip('.')}; the first-touch SLA skips {names}, due {sla['due_at']}."


def _start_clock(
    state: BatchState,
    lead: LeadRow,
    team_id: str,
    rep_id: str,
    started_at: datetime,
    kind: DecisionKind,
    *,
    known: bool,
) -> ClockRow | None:
    existing = state.clocks.get(lead.id) if known else None
    if kind == DecisionKind.sticky and existing is not None and existing.state in OPEN_CLOCK_STATES:
        return existing  # the clock of this owner already runs
    if lead.first_touch_at is not None and kind == DecisionKind.reassigned:
        return None
    team = state.teams[team_id]
    warn_at = add_business_minutes(started_at, team.warning_minutes, team.hours)
    clock = ClockRow(
        lead_id=lead.id,
        team_id=team_id,
        rep_id=rep_id,
        channel=lead.channel,
        state=ClockState.running,
        started_at=started_at,
        warn_at=warn_at,
        due_at=add_business_minutes(started_at, team.sla_minutes, team.hours),
        next_fire_at=warn_at,
        stopped_at=None,
        escalations=(existing.escalations + (1 if kind == DecisionKind.reassigned else 0))
        if existing
        else 0,
    )
    state.clocks[lead.id] = clock
    state.clocks_changed.add(lead.id)
    return clock


def _close_clock(state: BatchState, lead_id: uuid.UUID) -> None:
    """Leaving sales (nurture, queue): no first-touch clock runs for nobody."""
    clock = state.clocks.get(lead_id)
    if clock is not None and clock.state in CLOSABLE_CLOCK_STATES:
        state.clocks[lead_id] = replace(clock, state=ClockState.closed, next_fire_at=None)
        state.clocks_changed.add(lead_id)


def teams_touched(before: Mapping[str, Rep], after: Mapping[str, Rep]) -> set[str]:
    """Teams whose reps' routing state (weights, open leads, period counts) differs between
    two states."""
    return {
        rep.team_id
        for rep_id, rep in after.items()
        if (b := before.get(rep_id)) is None or _routing_state(b) != _routing_state(rep)
    }


def _routing_state(rep: Rep) -> tuple[object, ...]:
    return (rep.current_weight, rep.open_leads, rep.counts)
