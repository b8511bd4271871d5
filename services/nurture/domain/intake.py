"""A batch of routing decisions (``leads.assigned.v1``), activities (``leads.activity.v1``),
sales lifecycle changes (``leads.lifecycle.v1``) and an admin's merges of leads
(``leads.merges.v1``) -> what happens to each lead, as values (no session, no producer, no
clock).

Nurture loads what a batch needs in a few queries (:class:`BatchState`), calls
:func:`decide_batch`, and writes the returned :class:`BatchOutcome` with bulk statements.
Events are decided in order against books that each decision updates, so two events for
one lead in a batch end exactly as they would one transaction at a time (:func:`advance`
gives the state a transaction leaves behind, to decide the next one against).

The rules: a decision creates or refreshes the lead (contact, zone), the policy's plan
enrolls, pauses or resumes; activities and sales changes that raced their lead are applied
once it is here. An activity stops, suppresses or engages; a sales change remarkets,
suppresses, stops or records that sales has the lead (:func:`~.policy.sales_effect`); a lead
an admin merged into another stops what runs and stays quiet, and what names it later is the
survivor's; any of these for a lead nurture has not heard of yet is parked."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from services.nurture.domain.consent import (
    ConsentRecord,
    activity_consents,
    lead_country,
    submission_consents,
)
from services.nurture.domain.policy import (
    OWN_TIMEZONE_SOURCES,
    Enroll,
    LeadState,
    Pause,
    RoutingDecision,
    SalesChange,
    activity_effect,
    contact_timezone,
    plan_decision,
    sales_effect,
)
from services.nurture.domain.sequences import SequencesConfig
from services.nurture.domain.state import (
    OPEN,
    SUPPRESSED_DO_NOT_CONTACT,
    SUPPRESSED_MERGED,
    Enrollment,
    EnrollmentStatus,
    Lead,
    LeadBook,
    Lifecycle,
    ListName,
    Observation,
    Step,
)


@dataclass(frozen=True)
class ShowRef:
    show_id: str
    end_date: date
    timezone: str


@dataclass(frozen=True)
class Decided:
    """One ``leads.assigned.v1`` event, as nurture needs it."""

    event_id: str
    lead_id: uuid.UUID
    submission_id: uuid.UUID | None
    outcome: str
    channel: str | None
    purchased_list: bool
    temperature: str
    stage: str
    decided_at: datetime
    email: str | None
    phone: str | None
    first_name: str | None
    timezone: str | None
    team_timezone: str | None
    show: ShowRef | None = None
    country: str | None = None
    marketing_consent: bool | None = None  # the submission's own answer, if it gave one
    # a purchased-list name of a person erased before (their hashed email or phone is on the
    # do-not-contact list): kept, never marketed to
    do_not_contact: bool = False

    @property
    def refs(self) -> tuple[uuid.UUID, ...]:
        """The ids activities may name this lead by (the canonical id, the submission id)."""
        if self.submission_id is None or self.submission_id == self.lead_id:
            return (self.lead_id,)
        return (self.lead_id, self.submission_id)


@dataclass(frozen=True)
class Activity:
    """One ``leads.activity.v1`` event; ``ref`` is the id it names (a canonical lead id or
    a submission id)."""

    event_id: str
    ref: uuid.UUID
    kind: str
    occurred_at: datetime
    touch_channel: str | None = None
    bounce_type: str | None = None
    consent_channel: str | None = None  # for kind opt_in
    confirms_opt_in: bool = False  # a click on a double opt-in request's link


@dataclass(frozen=True)
class SalesUpdate:
    """One ``leads.lifecycle.v1`` event; ``ref`` is the lead id it names. ``at``: when the
    router applied it (the order of what sales reported)."""

    event_id: str
    ref: uuid.UUID
    change: str
    status: str | None
    reason: str | None
    marketing: str
    occurred_at: datetime
    at: datetime


@dataclass(frozen=True)
class Merged:
    """One ``leads.merges.v1`` event of an admin merge: lead ``ref`` is lead ``survivor`` now.
    (Automatic merges never made a lead of their own, and a split-off lead arrives as a
    decision: neither needs nurture.)"""

    event_id: str
    ref: uuid.UUID
    survivor: uuid.UUID


Waiting = Activity | SalesUpdate | Merged  # what waits for its lead when it comes first


@dataclass(frozen=True)
class Parked:
    """An event waiting for its lead (a ``nurture.pending_activity`` row)."""

    event: Waiting
    parked_at: datetime


Event = Decided | Activity | SalesUpdate | Merged


@dataclass(frozen=True)
class BatchState:
    """What a batch reads: the leads it touches with all their enrollments and their open
    steps, submission-id aliases, and activities parked under the refs it names."""

    leads: Mapping[uuid.UUID, Lead] = field(default_factory=dict)
    enrollments: Mapping[uuid.UUID, Sequence[Enrollment]] = field(default_factory=dict)
    # by lead; the open ones are enough (no transition touches a step once it is closed)
    steps: Mapping[uuid.UUID, Sequence[Step]] = field(default_factory=dict)
    aliases: Mapping[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # ref -> lead
    # by ref, in the order they were parked
    parked: Mapping[uuid.UUID, Sequence[Parked]] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    """What one event did, for the log: decided, activity, sales, merge, parked (an activity),
    parked_sales or parked_merge."""

    event_id: str
    what: str
    lead_id: uuid.UUID | None


@dataclass(frozen=True)
class BatchOutcome:
    """Rows to write (final values; ``created_*`` are new rows, ``changed_*`` existing
    ones), aliases, activities to park and parked ones to drop, events and metrics."""

    created_leads: tuple[Lead, ...] = ()
    changed_leads: tuple[Lead, ...] = ()
    created_enrollments: tuple[Enrollment, ...] = ()
    changed_enrollments: tuple[Enrollment, ...] = ()
    created_steps: tuple[Step, ...] = ()
    changed_steps: tuple[Step, ...] = ()
    aliases: tuple[tuple[uuid.UUID, uuid.UUID], ...] = ()
    parked: tuple[Parked, ...] = ()
    unparked: tuple[str, ...] = ()  # event ids of parked events now applied
    events: tuple[Lifecycle, ...] = ()
    observations: tuple[Observation, ...] = ()
    applied: tuple[Applied, ...] = ()
    consents: tuple[tuple[uuid.UUID, ConsentRecord], ...] = ()  # (lead id, record) to add


def decision_of(d: Decided) -> RoutingDecision:
    return RoutingDecision(
        outcome=d.outcome, channel=d.channel, purchased_list=d.purchased_list,
        temperature=d.temperature, stage=d.stage,
        show_id=d.show.show_id if d.show else None, show_end=d.show.end_date if d.show else None,
        show_tz=d.show.timezone if d.show else None, decided_at=d.decided_at,
    )  # fmt: skip


def change_of(u: SalesUpdate) -> SalesChange:
    return SalesChange(
        change=u.change, status=u.status, reason=u.reason,
        marketing=u.marketing,  # type: ignore[arg-type]
    )  # fmt: skip


class _Batch:
    """The books of one batch and what it has done so far."""

    def __init__(self, state: BatchState, config: SequencesConfig, now: datetime) -> None:
        self.state = state
        self.config = config
        self.now = now
        self.books: dict[uuid.UUID, LeadBook] = {}
        self.order: list[uuid.UUID] = []  # leads in the order the batch first touched them
        self.aliases: dict[uuid.UUID, uuid.UUID] = {}
        self.parked: dict[uuid.UUID, list[Parked]] = {
            ref: list(rows) for ref, rows in state.parked.items()
        }
        self.new_parked: dict[str, Parked] = {}
        self.unparked: list[str] = []
        self.applied: list[Applied] = []
        self.events: list[Lifecycle] = []  # every book's, in the order they happen
        self.observations: list[Observation] = []
        self.consents: list[tuple[uuid.UUID, ConsentRecord]] = []

    def book(self, lead_id: uuid.UUID) -> LeadBook | None:
        book = self.books.get(lead_id)
        if book is None and lead_id in self.state.leads:
            book = LeadBook(
                self.state.leads[lead_id],
                self.state.enrollments.get(lead_id, ()),
                self.state.steps.get(lead_id, ()),
                events=self.events,
                observations=self.observations,
            )
            self._add(book)
        return book

    def _add(self, book: LeadBook) -> None:
        self.books[book.lead.id] = book
        self.order.append(book.lead.id)

    def resolve(self, ref: uuid.UUID) -> uuid.UUID | None:
        """The lead an id names: itself, or the lead its alias names (a submission id's
        lead; a lead an admin merged into another: the survivor, and so on)."""
        seen: set[uuid.UUID] = set()
        while ref not in seen:
            seen.add(ref)
            book = self.books.get(ref)
            lead = book.lead if book is not None else self.state.leads.get(ref)
            alias = self.aliases.get(ref) or self.state.aliases.get(ref)
            if lead is not None and (lead.suppressed != SUPPRESSED_MERGED or alias is None):
                return ref
            if alias is None:
                return None
            ref = alias
        return ref

    # --- decisions ---

    def decided(self, d: Decided) -> None:
        now, config = self.now, self.config
        book = self.book(d.lead_id)
        lead = book.lead if book else None
        show_tz = d.show.timezone if d.show else None
        if show_tz is None and lead is not None and lead.timezone_source == "show":
            show_tz = lead.timezone  # met at a show before: keep that zone
        phone = d.phone or (lead.phone if lead else None)
        # the country it gave (now, else before), else its phone number's
        country = (
            lead_country(d.country, None)
            or (lead.country if lead else None)
            or lead_country(None, phone)
        )
        tz, tz_source = contact_timezone(
            d.timezone, d.phone, d.team_timezone, config.defaults.timezone, show_tz, country
        )
        if book is None:
            book = LeadBook(
                Lead(
                    id=d.lead_id, email=d.email, phone=d.phone, email_bounced_at=None,
                    first_name=d.first_name, timezone=tz, timezone_source=tz_source,
                    channel=d.channel or "web", is_name=d.purchased_list, list_name=ListName.active,
                    list_reason=None, suppressed=None, suppressed_at=None, converted_at=None,
                    with_sales=False, sales_status=None, sales_status_at=None,
                    last_engaged_at=None, nurture_since=now, idle_since=now, reengaged_at=None,
                    remarket_at=None, sunset_at=None, created_at=now, updated_at=now,
                    country=country,
                ),
                created=True, events=self.events, observations=self.observations,
            )  # fmt: skip
            self._add(book)
        else:
            lead = book.lead
            if d.email and d.email != lead.email and lead.email_bounced_at is not None:
                book.change(email_bounced_at=None)  # a new address: worth a try
                if lead.suppressed == "hard_bounce":
                    book.change(suppressed=None, suppressed_at=None, idle_since=now)
            book.change(
                email=d.email or lead.email, phone=d.phone or lead.phone,
                first_name=d.first_name or lead.first_name, timezone=tz, timezone_source=tz_source,
                is_name=lead.is_name and d.purchased_list, updated_at=now, country=country,
            )  # fmt: skip
            if d.submission_id is not None:  # it filled in a form again: its own engagement
                book.engage(at=d.decided_at, cause=d.event_id, now=now)
            if lead.suppressed == "invalid_contact" and (
                (d.email and d.email != lead.email) or (d.phone and d.phone != lead.phone)
            ):  # contact data it lacked, or other than what was found invalid: worth a try
                book.change(suppressed=None, suppressed_at=None, idle_since=now)
            if lead.suppressed == SUPPRESSED_DO_NOT_CONTACT and not d.purchased_list:
                # the erased person came back by themselves (a form): they start fresh
                book.change(suppressed=None, suppressed_at=None, idle_since=now)
        if d.submission_id is not None:  # what the submission said about consent, if it did
            for record in submission_consents(
                d.marketing_consent, d.channel, d.decided_at, d.event_id
            ):
                self.consents.append((book.lead.id, record))
        if d.submission_id is not None and d.submission_id != d.lead_id:
            self.aliases[d.submission_id] = d.lead_id
        if not book.lead.email and not book.lead.phone:
            book.suppress(reason="invalid_contact", cause=d.event_id, now=now)
        if d.do_not_contact:
            book.suppress(reason=SUPPRESSED_DO_NOT_CONTACT, cause=d.event_id, now=now)

        lead, history = book.lead, book.ordered()
        state = LeadState(
            suppressed=lead.suppressed is not None, converted=lead.converted_at is not None,
            sunset=lead.list_name == ListName.sunset, with_sales=lead.with_sales,
            own_timezone=tz_source in OWN_TIMEZONE_SOURCES, timezone=lead.timezone,
            open_triggers=frozenset(e.trigger for e in history if e.status in OPEN),
            ever_triggers=frozenset(e.trigger for e in history),
            shows=frozenset(e.show_id for e in history if e.show_id),
            sales_changed_at=lead.sales_status_at,
        )  # fmt: skip
        for action in plan_decision(decision_of(d), state, config, now):
            if isinstance(action, Enroll):
                book.enroll(
                    config, trigger=action.trigger, sequence_id=action.sequence_id,
                    start_at=action.start_at, reason=action.reason,
                    cause=f"{d.event_id}:{action.trigger}", now=now, show_id=action.show_id,
                )  # fmt: skip
            elif isinstance(action, Pause):
                book.change(with_sales=True)
                book.pause(by="sales", reason=action.reason, cause=d.event_id, now=now)
            else:
                book.change(with_sales=False)
                book.resume(reason=action.reason, cause=d.event_id, now=now, only_by="sales")
        self.applied.append(Applied(d.event_id, "decided", book.lead.id))
        waiting = sorted(
            (p for ref in d.refs for p in self.parked.pop(ref, ())), key=lambda p: p.parked_at
        )
        for p in waiting:
            if self.new_parked.pop(p.event.event_id, None) is None:
                self.unparked.append(p.event.event_id)
            self._apply(book, p.event)

    # --- activities and sales changes: applied to a known lead, else parked ---

    def waiting(self, ev: Waiting) -> None:
        # a merge names the lead it ends itself, never what that lead became
        lead_id = ev.ref if isinstance(ev, Merged) else self.resolve(ev.ref)
        book = self.book(lead_id) if lead_id is not None else None
        what = (
            "activity"
            if isinstance(ev, Activity)
            else "merge"
            if isinstance(ev, Merged)
            else "sales"
        )
        if book is None:
            parked = Parked(ev, self.now)
            self.parked.setdefault(ev.ref, []).append(parked)
            self.new_parked[ev.event_id] = parked
            self.applied.append(
                Applied(ev.event_id, "parked" if what == "activity" else f"parked_{what}", None)
            )
            return
        self._apply(book, ev)
        self.applied.append(Applied(ev.event_id, what, book.lead.id))

    def _apply(self, book: LeadBook, ev: Waiting) -> None:
        if isinstance(ev, Activity):
            self._apply_activity(book, ev)
        elif isinstance(ev, Merged):
            self._apply_merge(book, ev)
        else:
            self._apply_sales(book, ev)

    def _apply_activity(self, book: LeadBook, a: Activity) -> None:
        now, cause = self.now, a.event_id
        effect = activity_effect(a.kind, a.touch_channel, a.bounce_type)
        for record in activity_consents(
            a.kind, a.occurred_at, a.event_id, consent_channel=a.consent_channel,
            confirms_opt_in=a.confirms_opt_in,
        ):  # fmt: skip
            self.consents.append((book.lead.id, record))
        if effect.engaged:
            book.engage(at=a.occurred_at, cause=cause, now=now)
        if effect.converted and book.lead.converted_at is None:
            book.change(converted_at=a.occurred_at)
        if effect.stop is not None:
            book.end(
                book.ordered(OPEN), status=EnrollmentStatus.stopped, reason=effect.stop,
                cause=cause, now=now,
            )  # fmt: skip
        if effect.suppress == "hard_bounce":
            # the address is dead, not the lead: SMS (and rep tasks) go on while it has a phone
            book.change(email_bounced_at=a.occurred_at)
            if not book.lead.phone:
                book.suppress(reason="hard_bounce", cause=cause, now=now)
        elif effect.suppress is not None:
            book.suppress(reason=effect.suppress, cause=cause, now=now)

    def _apply_sales(self, book: LeadBook, u: SalesUpdate) -> None:
        now, cause, lead = self.now, u.event_id, book.lead
        effect = sales_effect(
            change_of(u), suppressed=lead.suppressed is not None,
            converted=lead.converted_at is not None, is_name=lead.is_name,
        )  # fmt: skip
        at = u.at if lead.sales_status_at is None else max(u.at, lead.sales_status_at)
        book.change(sales_status=u.status or lead.sales_status, sales_status_at=at, updated_at=now)
        if effect.converted and lead.converted_at is None:
            book.change(converted_at=u.occurred_at)
        if effect.suppress is not None:
            book.suppress(reason=effect.suppress, cause=cause, now=now)
        if effect.stop is not None:
            book.end(
                book.ordered(OPEN), status=EnrollmentStatus.stopped, reason=effect.stop,
                cause=cause, now=now,
            )  # fmt: skip
        if effect.remarket is not None:
            book.remarket(reason=effect.remarket, cause=cause, now=now)
        elif effect.with_sales is True:
            book.to_sales(reason=f"with sales: {u.status}", cause=cause, now=now)
        elif effect.with_sales is False:
            book.change(with_sales=False)

    def _apply_merge(self, book: LeadBook, m: Merged) -> None:
        """An admin merged this lead into ``m.survivor``: one person, one set of drips. What
        runs for this lead stops (its pending steps cancelled), it stays quiet from now (no
        re-engagement, no sends: suppressed ``merged``), and what names it later is the
        survivor's."""
        if book.lead.suppressed == SUPPRESSED_MERGED:
            return
        now, cause = self.now, m.event_id
        reason = f"merged into lead {m.survivor} by an admin: that lead's sequences go on"
        running = book.ordered(OPEN)
        if running:
            book.end(running, status=EnrollmentStatus.stopped, reason=reason, cause=cause, now=now)
        else:  # nothing ran: still said, so whoever follows the lead knows it ended here
            book.emit(str(EnrollmentStatus.stopped), cause=cause, reason=reason, now=now)
        book.change(
            suppressed=SUPPRESSED_MERGED, suppressed_at=now, idle_since=None, updated_at=now
        )
        if m.survivor != book.lead.id and self.book(m.survivor) is not None:
            self.aliases[book.lead.id] = m.survivor

    # --- the outcome ---

    def outcome(self) -> BatchOutcome:
        state = self.state
        created_leads, changed_leads = [], []
        created_enrollments, changed_enrollments = [], []
        created_steps, changed_steps = [], []
        for lead_id in self.order:
            book = self.books[lead_id]
            if book.created:
                created_leads.append(book.lead)
            elif book.lead != state.leads[lead_id]:
                changed_leads.append(book.lead)
            before_e = {e.id: e for e in state.enrollments.get(lead_id, ())}
            for e in book.enrollments.values():
                if e.id not in before_e:
                    created_enrollments.append(e)
                elif e != before_e[e.id]:
                    changed_enrollments.append(e)
            before_s = {s.key: s for s in state.steps.get(lead_id, ())}
            for s in book.steps.values():
                if s.key not in before_s:
                    created_steps.append(s)
                elif s != before_s[s.key]:
                    changed_steps.append(s)
        return BatchOutcome(
            created_leads=tuple(created_leads),
            changed_leads=tuple(changed_leads),
            created_enrollments=tuple(created_enrollments),
            changed_enrollments=tuple(changed_enrollments),
            created_steps=tuple(created_steps),
            changed_steps=tuple(changed_steps),
            aliases=tuple(self.aliases.items()),
            parked=tuple(self.new_parked.values()),
            unparked=tuple(self.unparked),
            events=tuple(self.events),
            observations=tuple(self.observations),
            applied=tuple(self.applied),
            consents=tuple(self.consents),
        )


def decide_batch(
    state: BatchState, events: Sequence[Event], config: SequencesConfig, now: datetime
) -> BatchOutcome:
    """Decide ``events`` in order (each seeing the effects of those before it)."""
    batch = _Batch(state, config, now)
    for ev in events:
        if isinstance(ev, Decided):
            batch.decided(ev)
        else:
            batch.waiting(ev)
    return batch.outcome()


def advance(state: BatchState, out: BatchOutcome) -> BatchState:
    """The state ``out`` leaves behind once written (what the next transaction would load)."""
    leads = dict(state.leads)
    for lead in (*out.created_leads, *out.changed_leads):
        leads[lead.id] = lead
    enrollments = {k: {e.id: e for e in v} for k, v in state.enrollments.items()}
    for e in (*out.created_enrollments, *out.changed_enrollments):
        enrollments.setdefault(e.lead_id, {})[e.id] = e
    steps = {k: {s.key: s for s in v} for k, v in state.steps.items()}
    for s in (*out.created_steps, *out.changed_steps):
        steps.setdefault(s.lead_id, {})[s.key] = s
    parked = {k: list(v) for k, v in state.parked.items()}
    gone = set(out.unparked)
    parked = {k: [p for p in v if p.event.event_id not in gone] for k, v in parked.items()}
    for p in out.parked:
        parked.setdefault(p.event.ref, []).append(p)
    return BatchState(
        leads=leads,
        enrollments={
            k: sorted(v.values(), key=lambda e: (e.enrolled_at, e.id))
            for k, v in enrollments.items()
        },
        steps={k: list(v.values()) for k, v in steps.items()},
        aliases={**state.aliases, **dict(out.aliases)},
        parked={k: v for k, v in parked.items() if v},
    )
