"""Events nurture consumes, as the router and ingest would publish them (decisions, activities,
sales lifecycle changes, merges of leads); seeding due steps."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from shared.events.envelope import CloudEvent, make_event
from shared.events.models import (
    ActivityKind,
    ActivityReceived,
    LeadAssigned,
    LeadData,
    LeadLifecycle,
    LeadMerge,
    ScoreData,
    SourceRef,
    TradeShowRef,
)
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED, LEAD_LIFECYCLE, LEAD_MERGE

# each topic nurture consumes, by the type it carries
TOPIC_OF = {t.type: t.topic for t in (LEAD_ASSIGNED, LEAD_ACTIVITY, LEAD_LIFECYCLE, LEAD_MERGE)}


def assigned(
    lead_id: uuid.UUID,
    at: datetime,
    *,
    outcome: str = "assigned",
    channel: str = "web",
    temperature: str = "warm",
    stage: str = "mql",
    email: str | None = "ada@example.com",
    phone: str | None = None,
    timezone: str | None = "America/New_York",
    purchased_list: bool = False,
    submission_id: uuid.UUID | None = None,
    show: tuple[str, date, str] | None = None,
    team_timezone: str | None = None,
    country: str | None = None,
    marketing_consent: bool | None = None,
) -> CloudEvent:
    """A leads.assigned.v1 event (show: id, last day, zone)."""
    data = LeadAssigned(
        lead_id=lead_id,
        submission_id=submission_id or uuid.uuid4(),
        outcome=outcome,  # type: ignore[arg-type]
        kind="initial",
        rep_id="rep-1" if outcome == "assigned" else None,
        team_id="amer" if outcome == "assigned" else None,
        reason="test",
        explanation={},
        score=ScoreData(
            total=30,
            fit=30,
            engagement=0,
            temperature=temperature,
            stage=stage,  # type: ignore[arg-type]
            breakdown=[],
            rules_version="test",
        ),
        purchased_list=purchased_list,
        lead=LeadData(
            email=email,
            phone=phone,
            first_name="Ada",
            timezone=timezone,
            country=country,
            marketing_consent=marketing_consent,
        ),
        received_at=at,
        decided_at=at,
        channel=channel,  # type: ignore[arg-type]
        trade_show=TradeShowRef(
            show_id=show[0],
            name=show[0],
            end_date=show[1],
            timezone=show[2],
            import_id=uuid.uuid4(),
            row_number=1,
        )
        if show
        else None,
        team_timezone=team_timezone,
        marketing_consent=marketing_consent,
    )
    return make_event(
        type=LEAD_ASSIGNED.type, source="/tests/router", subject=str(lead_id), data=data, time=at
    )


def activity(lead_id: uuid.UUID, kind: str, at: datetime, **fields: Any) -> CloudEvent:
    data = ActivityReceived(
        activity_id=uuid.uuid4(),
        lead_id=lead_id,
        kind=ActivityKind(kind),
        occurred_at=at,
        received_at=at,
        source=SourceRef(id="crm", kind="signed"),
        **fields,
    )
    return make_event(
        type=LEAD_ACTIVITY.type, source="/tests/crm", subject=str(lead_id), data=data, time=at
    )


def sales_change(
    lead_id: uuid.UUID,
    at: datetime,
    marketing: str,
    *,
    change: str = "status",
    status: str | None = None,
    reason: str | None = None,
    stage: str = "sql",
    detail: str = "test",
) -> CloudEvent:
    """A leads.lifecycle.v1 event, as the router publishes it after an assignment."""
    data = LeadLifecycle(
        lead_id=lead_id,
        change=change,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        reason=reason,
        marketing=marketing,  # type: ignore[arg-type]
        stage=stage,  # type: ignore[arg-type]
        rep_id="rep-1",
        team_id="amer",
        reported_by="crm",
        occurred_at=at,
        at=at,
        detail=detail,
    )
    return make_event(
        type=LEAD_LIFECYCLE.type, source="/tests/router", subject=str(lead_id), data=data, time=at
    )


def merge(
    survivor: uuid.UUID,
    other: uuid.UUID,
    at: datetime,
    *,
    how: str = "admin",
    change: str = "merged",
) -> CloudEvent:
    """A leads.merges.v1 event, as the router publishes it (keyed by the surviving lead)."""
    data = LeadMerge(
        change=change,  # type: ignore[arg-type]
        lead_id=survivor,
        other_lead_id=other,
        how=how,  # type: ignore[arg-type]
        matched_by="email" if how == "automatic" else None,
        submission_ids=[uuid.uuid4()],
        evidence=["test"],
        decided_by="ops-ana" if how == "admin" else "leadflow",
        reason="test",
        at=at,
    )
    return make_event(
        type=LEAD_MERGE.type, source="/tests/router", subject=str(survivor), data=data, time=at
    )


SEED_SQL = (
    """
    INSERT INTO nurture.lead (id, email, phone, first_name, timezone, timezone_source, channel,
        is_name, list, with_sales, nurture_since, created_at, updated_at)
    SELECT gen_random_uuid(), 'seed' || g || '.' || :tag || '@example.com', NULL, 'Seed',
        'America/New_York', 'lead', 'web', false, 'active', false, now(), now(), now()
    FROM generate_series(1, :n) g
    """,
    """
    INSERT INTO nurture.enrollment (id, lead_id, sequence_id, trigger, status, reason, enrolled_at, cause)
    SELECT gen_random_uuid(), id, s.sequence, 'seeded', 'active', 'seeded', now(),
        'seed:' || id || ':' || s.sequence
    FROM nurture.lead, unnest(CAST(:sequences AS text[])) AS s(sequence)
    WHERE email LIKE '%.' || :tag || '@example.com'
    """,
    """
    INSERT INTO nurture.scheduled_step (enrollment_id, lead_id, step, channel, state, due_at, planned_at)
    SELECT e.id, e.lead_id, 1, 'email', 'pending', :due, :due
    FROM nurture.enrollment e JOIN nurture.lead l ON l.id = e.lead_id
    WHERE l.email LIKE '%.' || :tag || '@example.com'
    """,
)


async def seed_due_steps(
    database_url: str, n: int, due: datetime, *, sequences: tuple[str, ...] = ("web-welcome",)
) -> list[uuid.UUID]:
    """``n`` leads, each enrolled in every one of ``sequences`` with its step 1 (an email)
    due at ``due``; returns the enrollment ids. Straight SQL: the way to have 10,000 (or
    1,000,000) timers at once."""
    from sqlalchemy import text

    from shared import db

    engine = db.create_engine(database_url, pool_size=1)
    tag = uuid.uuid4().hex[:8]
    try:
        async with engine.begin() as conn:
            for sql in SEED_SQL:
                await conn.execute(
                    text(sql), {"n": n, "tag": tag, "sequences": list(sequences), "due": due}
                )
            rows = await conn.execute(
                text(
                    "SELECT e.id FROM nurture.enrollment e JOIN nurture.lead l ON l.id = e.lead_id "
                    "WHERE l.email LIKE '%.' || :tag || '@example.com'"
                ),
                {"tag": tag},
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()
