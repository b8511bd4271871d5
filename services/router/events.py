"""The events the router causes, written to its outbox in the deciding transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.intake import Emit
from services.router.models import Assignment, Lead, Outbox, SlaClock
from shared.events.envelope import CloudEvent, derived_id, make_event
from shared.events.models import (
    LeadAssigned,
    LeadData,
    LeadLifecycle,
    LeadMerge,
    LeadSla,
    ScoreData,
    SlaWindow,
    TradeShowRef,
)
from shared.events.registry import LEAD_ASSIGNED, LEAD_LIFECYCLE, LEAD_MERGE, LEAD_SLA
from shared.outbox import enqueue

NAMESPACE = uuid.UUID("0c7f6f5e-8f0e-5d0b-9a3c-7a1f2e4d5b60")
SOURCE = "/leadflow/router"


def event_id(*parts: str) -> str:
    return derived_id(NAMESPACE, *parts)


def score_data(breakdown: dict[str, Any]) -> ScoreData:
    return ScoreData.model_validate(breakdown)


def emit_assigned(
    session: AsyncSession,
    lead: Lead,
    assignment: Assignment,
    clock: SlaClock | None,
    *,
    submission_id: uuid.UUID | None,
    now: datetime,
    channel: str | None = None,
    trade_show: TradeShowRef | None = None,
    team_timezone: str | None = None,
) -> None:
    topic, key, event = _assigned(
        lead, assignment, clock, submission_id, channel, trade_show, team_timezone, now
    )
    enqueue(session, Outbox, topic, key, event, now)


def assigned_event(emit: Emit, now: datetime) -> tuple[str, str, CloudEvent]:
    """(topic, key, event) of a decision made by the batch path."""
    show = emit.trade_show
    return _assigned(
        emit.lead,
        emit.assignment,
        emit.clock,
        emit.submission_id,
        emit.channel,
        TradeShowRef(
            show_id=show.show_id,
            name=show.name,
            end_date=show.end_date,
            timezone=show.timezone,
            import_id=show.import_id,
            row_number=show.row_number,
        )
        if show is not None
        else None,
        emit.team_timezone,
        now,
        marketing_consent=emit.marketing_consent,
    )


def _assigned(
    lead: Any,
    assignment: Any,
    clock: Any,
    submission_id: uuid.UUID | None,
    channel: str | None,
    trade_show: TradeShowRef | None,
    team_timezone: str | None,
    now: datetime,
    *,
    marketing_consent: bool | None = None,
) -> tuple[str, str, CloudEvent]:
    """Lead, assignment and clock are rows or their values (the same attribute names)."""
    data = LeadAssigned(
        lead_id=lead.id,
        submission_id=submission_id,
        outcome=assignment.outcome,
        kind=assignment.kind,
        rep_id=assignment.rep_id,
        team_id=assignment.team_id,
        queue=assignment.queue,
        rule=assignment.rule,
        reason=assignment.reason,
        explanation=assignment.explanation,
        score=score_data(assignment.score),
        purchased_list=lead.is_name,
        sla=SlaWindow(started_at=clock.started_at, warn_at=clock.warn_at, due_at=clock.due_at)
        if clock
        else None,
        lead=LeadData.model_validate(lead.profile),
        received_at=lead.received_at,
        decided_at=assignment.decided_at,
        channel=channel,  # type: ignore[arg-type]
        trade_show=trade_show,
        team_timezone=team_timezone,
        lifecycle_stage=lead.lifecycle_stage,
        possible_duplicate_of=lead.duplicate_of,
        marketing_consent=marketing_consent,
    )
    event = make_event(
        id=event_id(assignment.cause_event_id, "assigned", str(assignment.id)),
        type=LEAD_ASSIGNED.type,
        source=SOURCE,
        subject=str(lead.id),
        data=data,
        time=now,
    )
    return LEAD_ASSIGNED.topic, str(lead.id), event


def emit_sla(
    session: AsyncSession,
    clock: SlaClock,
    kind: str,
    *,
    cause: str,
    now: datetime,
    detail: str,
    new_rep_id: str | None = None,
    manager: str | None = None,
    business_minutes: float | None = None,
) -> None:
    data = LeadSla(
        lead_id=clock.lead_id,
        kind=kind,  # type: ignore[arg-type]
        team_id=clock.team_id,
        rep_id=clock.rep_id,
        new_rep_id=new_rep_id,
        manager=manager,
        started_at=clock.started_at,
        due_at=clock.due_at,
        at=now,
        business_minutes_elapsed=business_minutes,
        detail=detail,
    )
    event = make_event(
        id=event_id(cause, "sla", kind, str(clock.lead_id)),
        type=LEAD_SLA.type,
        source=SOURCE,
        subject=str(clock.lead_id),
        data=data,
        time=now,
    )
    enqueue(session, Outbox, LEAD_SLA.topic, str(clock.lead_id), event, now)


def emit_lifecycle(
    session: AsyncSession, data: LeadLifecycle, *, cause: str, now: datetime
) -> None:
    """One status change, recycling, release or stage move (``leads.lifecycle.v1``)."""
    event = make_event(
        id=event_id(cause, "lifecycle", data.change, str(data.lead_id)),
        type=LEAD_LIFECYCLE.type,
        source=SOURCE,
        subject=str(data.lead_id),
        data=data,
        time=now,
    )
    enqueue(session, Outbox, LEAD_LIFECYCLE.topic, str(data.lead_id), event, now)


def merge_event(data: LeadMerge, *, cause: str, now: datetime) -> tuple[str, str, CloudEvent]:
    """(topic, key, event) of one merge or split (``leads.merges.v1``, keyed by the surviving
    lead). ``cause`` makes the id: the submission's event id for an automatic merge, the
    merge record's id for an admin's."""
    event = make_event(
        id=event_id(cause, "merge", data.change, str(data.lead_id), str(data.other_lead_id)),
        type=LEAD_MERGE.type,
        source=SOURCE,
        subject=str(data.lead_id),
        data=data,
        time=now,
    )
    return LEAD_MERGE.topic, str(data.lead_id), event


def emit_merge(session: AsyncSession, data: LeadMerge, *, cause: str, now: datetime) -> None:
    topic, key, event = merge_event(data, cause=cause, now=now)
    enqueue(session, Outbox, topic, key, event, now)
