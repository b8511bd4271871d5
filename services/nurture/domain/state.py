"""A lead as nurture knows it, as values: its row, its enrollments and their open steps, and
the transitions between them (enroll, pause, resume, end, suppress, engage, reactivate, to
sales and back to marketing's remarket list).

A :class:`LeadBook` is the working copy of one lead while a batch is decided: each
transition replaces frozen rows and records the lifecycle events and metric observations it
causes. Nothing here reads a clock, a session or a producer; the caller passes ``now``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from services.nurture.domain.policy import first_step_at
from services.nurture.domain.sequences import SequencesConfig

ENROLLMENT_NAMESPACE = uuid.UUID("0c6a4f55-2d8e-5f0b-a6e1-7b3c9d2e4f18")
REASON_MAX = 300  # enrollment.reason and scheduled_step.note are VARCHAR(300)
CAUSE_MAX = 200  # enrollment.cause is VARCHAR(200)


class EnrollmentStatus(StrEnum):
    active = "active"
    paused = "paused"
    completed = "completed"
    stopped = "stopped"
    unenrolled = "unenrolled"


OPEN = frozenset({EnrollmentStatus.active, EnrollmentStatus.paused})


class StepState(StrEnum):
    pending = "pending"
    paused = "paused"
    emitted = "emitted"
    skipped = "skipped"
    cancelled = "cancelled"
    failed = "failed"


OPEN_STEPS = frozenset({StepState.pending, StepState.paused})


# ``lead.suppressed`` of a lead an admin merged into another: nothing more goes to it (the
# survivor is the person now), like any suppression, but nobody unsubscribed
SUPPRESSED_MERGED = "merged"
# ``lead.suppressed`` of a purchased-list name of a person erased before (right to erasure):
# their hashed email or phone is on the do-not-contact list
SUPPRESSED_DO_NOT_CONTACT = "do_not_contact"


class ListName(StrEnum):
    active = "active"
    remarket = "remarket"
    sunset = "sunset"


R = TypeVar("R")


def replace(row: R, **changes: Any) -> R:
    """``dataclasses.replace`` for the frozen rows here, without re-running ``__init__``
    (a batch replaces rows several times per event: this is a tenth of the cost)."""
    new = object.__new__(type(row))
    new.__dict__.update(row.__dict__, **changes)
    return new


def enrollment_id(cause: str) -> uuid.UUID:
    """An enrollment's id, derived from its cause (unique per enrollment): a decision decided
    again after a crash creates the same enrollment, and its events keep their ids."""
    return uuid.uuid5(ENROLLMENT_NAMESPACE, cause[:CAUSE_MAX])


@dataclass(frozen=True)
class Lead:
    """One ``nurture.lead`` row (field names as the model's attributes)."""

    id: uuid.UUID
    email: str | None
    phone: str | None
    email_bounced_at: datetime | None
    first_name: str | None
    timezone: str
    timezone_source: str
    channel: str
    is_name: bool
    list_name: str
    list_reason: str | None
    suppressed: str | None
    suppressed_at: datetime | None
    converted_at: datetime | None
    with_sales: bool
    sales_status: str | None
    sales_status_at: datetime | None
    last_engaged_at: datetime | None
    nurture_since: datetime
    idle_since: datetime | None
    reengaged_at: datetime | None
    remarket_at: datetime | None
    sunset_at: datetime | None
    created_at: datetime
    updated_at: datetime
    country: str | None = None
    consent_skips: int = 0


@dataclass(frozen=True)
class Enrollment:
    """One ``nurture.enrollment`` row."""

    id: uuid.UUID
    lead_id: uuid.UUID
    sequence_id: str
    trigger: str
    show_id: str | None
    status: str
    paused_by: str | None
    reason: str
    enrolled_at: datetime
    ended_at: datetime | None
    cause: str


@dataclass(frozen=True)
class Step:
    """One ``nurture.scheduled_step`` row that is still open (pending or paused); ``id`` is
    None for a step scheduled in this batch."""

    enrollment_id: uuid.UUID
    lead_id: uuid.UUID
    step: int
    channel: str | None
    state: str
    due_at: datetime
    planned_at: datetime
    note: str | None
    id: int | None = None

    @property
    def key(self) -> tuple[uuid.UUID, int]:
        return (self.enrollment_id, self.step)


@dataclass(frozen=True)
class Lifecycle:
    """A ``nurture.lifecycle.v1`` event to emit: ``list_name`` is the lead's list after it."""

    lead_id: uuid.UUID
    kind: str
    cause: str
    reason: str
    at: datetime
    list_name: str
    sequence_id: str | None = None
    enrollment_id: uuid.UUID | None = None
    segment: str | None = None


@dataclass(frozen=True)
class Observation:
    """A metric to count once the transaction commits: ``enrollments`` (sequence),
    ``enrollments_ended`` (sequence, how), ``suppressions`` (reason) or ``remarket``
    (reason)."""

    metric: str
    labels: tuple[str, ...]


class LeadBook:
    """One lead's working state while a batch is decided."""

    def __init__(
        self,
        lead: Lead,
        enrollments: Iterable[Enrollment] = (),
        steps: Iterable[Step] = (),
        *,
        created: bool = False,
        events: list[Lifecycle] | None = None,
        observations: list[Observation] | None = None,
    ) -> None:
        """``events`` and ``observations``: where to record them (shared by the books of a
        batch, so they stay in the order they happened); a list of its own by default."""
        self.lead = lead
        self.created = created
        self.enrollments: dict[uuid.UUID, Enrollment] = {e.id: e for e in enrollments}
        self.steps: dict[tuple[uuid.UUID, int], Step] = {s.key: s for s in steps}
        self.events: list[Lifecycle] = [] if events is None else events
        self.observations: list[Observation] = [] if observations is None else observations

    # --- reading ---

    def ordered(self, statuses: frozenset[str] | None = None) -> list[Enrollment]:
        """Enrollments in the order they began (as the repository lists them)."""
        rows = sorted(self.enrollments.values(), key=lambda e: (e.enrolled_at, e.id))
        return [e for e in rows if statuses is None or e.status in statuses]

    def has_open(self) -> bool:
        return any(e.status in OPEN for e in self.enrollments.values())

    # --- writing ---

    def change(self, **changes: object) -> None:
        self.lead = replace(self.lead, **changes)

    def emit(
        self, kind: str, *, cause: str, reason: str, now: datetime,
        enrollment: Enrollment | None = None, segment: str | None = None,
    ) -> None:  # fmt: skip
        self.events.append(
            Lifecycle(
                lead_id=self.lead.id, kind=kind, cause=cause, reason=reason, at=now,
                list_name=self.lead.list_name,
                sequence_id=enrollment.sequence_id if enrollment else None,
                enrollment_id=enrollment.id if enrollment else None, segment=segment,
            )
        )  # fmt: skip

    def _set_steps(
        self, enrollment_ids: set[uuid.UUID], from_states: frozenset[str], **changes: object
    ) -> None:
        for key, step in list(self.steps.items()):
            if step.enrollment_id in enrollment_ids and step.state in from_states:
                self.steps[key] = replace(step, **changes)

    def enroll(
        self, config: SequencesConfig, *, trigger: str, sequence_id: str, start_at: datetime,
        reason: str, cause: str, now: datetime, show_id: str | None = None,
    ) -> Enrollment | None:  # fmt: skip
        """Start a sequence (None when this cause enrolled before or it is already running).
        A lead with sales gets the enrollment paused."""
        stored_cause = cause[:CAUSE_MAX]
        for e in self.enrollments.values():
            if e.cause == stored_cause or (e.sequence_id == sequence_id and e.status in OPEN):
                return None
        plans = config.steps(sequence_id)
        paused = self.lead.with_sales
        enrollment = Enrollment(
            id=enrollment_id(cause), lead_id=self.lead.id, sequence_id=sequence_id,
            trigger=trigger, show_id=show_id,
            status=EnrollmentStatus.paused if paused else EnrollmentStatus.active,
            paused_by="sales" if paused else None,
            reason="handed to sales: paused" if paused else reason[:REASON_MAX],
            enrolled_at=now, ended_at=None, cause=stored_cause,
        )  # fmt: skip
        self.enrollments[enrollment.id] = enrollment
        first = plans[0]
        due = first_step_at(
            max(start_at, now), first.delay, self.lead.timezone, first.window, first.quiet
        )
        step = Step(
            enrollment_id=enrollment.id, lead_id=self.lead.id, step=1, channel=first.channel,
            state=StepState.paused if paused else StepState.pending, due_at=due, planned_at=due,
            note=None,
        )  # fmt: skip
        self.steps[step.key] = step
        self.change(idle_since=None, updated_at=now)
        self.observations.append(Observation("enrollments", (sequence_id,)))
        self.emit("enrolled", cause=cause, reason=reason, now=now, enrollment=enrollment)
        if paused:
            self.emit(
                "paused", cause=cause, reason="handed to sales", now=now, enrollment=enrollment
            )
        return enrollment

    def end(
        self, enrollments: list[Enrollment], *, status: EnrollmentStatus, reason: str, cause: str,
        now: datetime,
    ) -> None:  # fmt: skip
        """completed | stopped | unenrolled: the remaining steps are cancelled."""
        if not enrollments:
            return
        for e in enrollments:
            ended = replace(e, status=status, reason=reason[:REASON_MAX], ended_at=now)
            self.enrollments[e.id] = ended
            self.observations.append(Observation("enrollments_ended", (e.sequence_id, status)))
            self.emit(str(status), cause=cause, reason=reason, now=now, enrollment=ended)
        self._set_steps(
            {e.id for e in enrollments}, OPEN_STEPS, state=StepState.cancelled,
            note=reason[:REASON_MAX],
        )  # fmt: skip
        if not self.has_open():
            self.change(idle_since=now)
        self.change(updated_at=now)

    def pause(self, *, by: str, reason: str, cause: str, now: datetime) -> list[Enrollment]:
        """``by``: sales (the lead was handed to sales) or operator."""
        paused = []
        for e in self.ordered(frozenset({EnrollmentStatus.active})):
            e = replace(e, status=EnrollmentStatus.paused, paused_by=by, reason=reason[:REASON_MAX])
            self.enrollments[e.id] = e
            paused.append(e)
            self.emit("paused", cause=cause, reason=reason, now=now, enrollment=e)
        self._set_steps(
            {e.id for e in paused}, frozenset({StepState.pending}), state=StepState.paused,
            note=reason[:REASON_MAX],
        )  # fmt: skip
        self.change(updated_at=now)
        return paused

    def resume(
        self, *, reason: str, cause: str, now: datetime, only_by: str | None = None
    ) -> list[Enrollment]:
        """Paused enrollments go on (only those paused ``only_by`` when given: a routing
        decision never undoes an operator's pause); a step that fell due meanwhile becomes due
        now, and the next window applies when it fires."""
        resumed = []
        for e in self.ordered(frozenset({EnrollmentStatus.paused})):
            if only_by is not None and e.paused_by != only_by:
                continue
            e = replace(
                e, status=EnrollmentStatus.active, paused_by=None, reason=reason[:REASON_MAX]
            )
            self.enrollments[e.id] = e
            resumed.append(e)
            self.emit("resumed", cause=cause, reason=reason, now=now, enrollment=e)
        ids = {e.id for e in resumed}
        for key, step in list(self.steps.items()):
            if step.enrollment_id in ids and step.state == StepState.paused:
                self.steps[key] = replace(
                    step, state=StepState.pending, due_at=max(step.due_at, now), note=None
                )
        self.change(updated_at=now)
        return resumed

    def suppress(self, *, reason: str, cause: str, now: datetime) -> None:
        """Unsubscribed, hard bounce or no valid contact: nothing more goes out, in any
        sequence."""
        if self.lead.suppressed is not None:
            return
        self.change(suppressed=reason, suppressed_at=now)
        self.end(
            self.ordered(OPEN), status=EnrollmentStatus.stopped, reason=f"suppressed: {reason}",
            cause=cause, now=now,
        )  # fmt: skip
        self.change(idle_since=None)
        self.observations.append(Observation("suppressions", (reason,)))
        self.emit("suppressed", cause=cause, reason=reason, now=now)

    def engage(self, *, at: datetime, cause: str, now: datetime) -> None:
        """The lead did something itself: clocks restart, and it is back on the active list."""
        at = min(at, now)
        lead = self.lead
        if lead.last_engaged_at is None or at > lead.last_engaged_at:
            self.change(last_engaged_at=at)
        self.change(nurture_since=max(lead.nurture_since, at), reengaged_at=None)
        if lead.idle_since is not None:
            self.change(idle_since=max(lead.idle_since, at))
        self.reactivate(
            reason=f"engaged again: back from {self.lead.list_name}", cause=cause, now=now
        )
        self.change(updated_at=now)

    def reactivate(self, *, reason: str, cause: str, now: datetime) -> None:
        """Back on the active list (from remarket or sunset)."""
        if self.lead.list_name == ListName.active:
            return
        self.change(
            list_name=ListName.active, list_reason=reason[:REASON_MAX], remarket_at=None,
            sunset_at=None, updated_at=now,
        )  # fmt: skip
        self.emit("reactivated", cause=cause, reason=reason, now=now)

    def to_sales(self, *, reason: str, cause: str, now: datetime) -> None:
        """Sales has the lead: what runs pauses (``by`` sales) and what starts, starts paused."""
        if self.lead.with_sales:
            return
        self.change(with_sales=True)
        self.pause(by="sales", reason=reason, cause=cause, now=now)

    def remarket(self, *, reason: str, cause: str, now: datetime) -> None:
        """Sales gave the lead back to marketing: it is on the remarket list from now. What
        sales had paused ends (those sequences were for a lead before sales; an operator's
        pause stays), so with nothing running the lead is idle from now, and the sweep's
        re-engagement (by inactivity segment) and sunset take it from there."""
        sales_paused = [
            e for e in self.ordered(frozenset({EnrollmentStatus.paused})) if e.paused_by == "sales"
        ]
        self.change(with_sales=False)
        self.end(sales_paused, status=EnrollmentStatus.stopped, reason=reason, cause=cause, now=now)
        self.change(
            list_name=ListName.remarket, list_reason=reason[:REASON_MAX], remarket_at=now,
            sunset_at=None, reengaged_at=None, updated_at=now,
        )  # fmt: skip
        if not self.has_open():
            self.change(idle_since=now)  # the remarket list's clock starts now
        self.observations.append(Observation("remarket", ("sales_recycled",)))
        self.emit("remarket", cause=cause, reason=reason, now=now)
