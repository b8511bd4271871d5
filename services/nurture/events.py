"""The events nurture causes, written to its outbox in the transaction that decides them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture.domain.sequences import StepPlan
from services.nurture.domain.state import Lifecycle
from services.nurture.models import Enrollment, NurtureLead, Outbox, ScheduledStep
from shared.events.envelope import CloudEvent, derived_id, make_event
from shared.events.models import NurtureLifecycle, NurtureStep
from shared.events.registry import NURTURE_LIFECYCLE, NURTURE_STEP
from shared.outbox import enqueue, outbox_row

NAMESPACE = uuid.UUID("5b0e3a52-4f7e-5b8e-9d3a-2c6f1e0a7d41")
SOURCE = "/leadflow/nurture"


def event_id(*parts: str) -> str:
    return derived_id(NAMESPACE, *parts)


def step_id(enrollment_id: uuid.UUID, step: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"step\x1f{enrollment_id}\x1f{step}")


def emit_step(
    session: AsyncSession,
    lead: NurtureLead,
    enrollment: Enrollment,
    row: ScheduledStep,
    plan: StepPlan,
    steps_total: int,
    now: datetime,
) -> None:
    to = lead.email if plan.channel == "email" else lead.phone if plan.channel == "sms" else None
    sid = step_id(enrollment.id, row.step)
    data = NurtureStep(
        step_id=sid,
        lead_id=lead.id,
        enrollment_id=enrollment.id,
        sequence_id=enrollment.sequence_id,
        step=row.step,
        steps_total=steps_total,
        channel=plan.channel,
        template_id=plan.template,
        to=to,
        first_name=lead.first_name,
        timezone=lead.timezone,
        due_at=row.due_at,
        emitted_at=now,
    )
    event = make_event(
        id=str(sid),
        type=NURTURE_STEP.type,
        source=SOURCE,
        subject=str(lead.id),
        data=data,
        time=now,
    )
    enqueue(session, Outbox, NURTURE_STEP.topic, str(lead.id), event, now)


def emit_lifecycle(
    session: AsyncSession,
    lead: NurtureLead,
    kind: str,
    *,
    cause: str,
    reason: str,
    now: datetime,
    enrollment: Enrollment | None = None,
    segment: str | None = None,
) -> None:
    event = lifecycle_event(
        Lifecycle(
            lead_id=lead.id, kind=kind, cause=cause, reason=reason, at=now, list_name=lead.list_name,
            sequence_id=enrollment.sequence_id if enrollment else None,
            enrollment_id=enrollment.id if enrollment else None, segment=segment,
        )
    )  # fmt: skip
    enqueue(session, Outbox, NURTURE_LIFECYCLE.topic, str(lead.id), event, now)


def lifecycle_event(ev: Lifecycle) -> CloudEvent:
    """The ``nurture.lifecycle.v1`` event for a lifecycle value; its id derives from the
    cause, so the same cause re-sent is recognisably the same event."""
    data = NurtureLifecycle(
        lead_id=ev.lead_id,
        kind=str(ev.kind),  # type: ignore[arg-type]
        sequence_id=ev.sequence_id,
        enrollment_id=ev.enrollment_id,
        list=str(ev.list_name),  # type: ignore[arg-type]
        reason=ev.reason,
        segment=ev.segment,  # type: ignore[arg-type]
        at=ev.at,
    )
    ident = event_id(ev.cause, str(ev.kind), str(ev.lead_id), str(ev.enrollment_id or ""))
    return make_event(
        id=ident,
        type=NURTURE_LIFECYCLE.type,
        source=SOURCE,
        subject=str(ev.lead_id),
        data=data,
        time=ev.at,
    )


def lifecycle_outbox_rows(events: Sequence[Lifecycle], now: datetime) -> list[dict[str, Any]]:
    """Outbox rows for a batch's lifecycle events, keyed by lead, in order."""
    return [
        outbox_row(NURTURE_LIFECYCLE.topic, str(ev.lead_id), lifecycle_event(ev), now)
        for ev in events
    ]
