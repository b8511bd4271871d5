"""The router's history as ``ScoringRow``s: each lead with an outcome, its profile and the
activities before that outcome.

Reads ``router.lead``, ``router.lead_status_change``, ``router.lead_stage`` and
``router.activity`` in one read-only transaction (a consistent snapshot), in keyset pages
of leads by id, selecting only the columns scoring needs.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router.domain.datasets import (
    LEFT_OUT_STATUSES,
    activities_before,
    outcome_from_history,
)
from services.router.domain.intake import profile_of
from services.router.domain.model import ActivityPoint
from services.router.domain.scoring_rows import ScoringRow

PAGE = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_LEADS = text(
    """
    SELECT id, status, profile, source_id, channel, is_name, received_at
    FROM router.lead
    WHERE id > :after AND status <> ALL(:left_out) AND received_at >= :since
    ORDER BY id
    LIMIT :page
    """
)
_COUNT = text(
    "SELECT count(*) FROM router.lead WHERE status <> ALL(:left_out) AND received_at >= :since"
)
_STATUSES = text(
    "SELECT lead_id, status, occurred_at FROM router.lead_status_change WHERE lead_id = ANY(:ids)"
)
_STAGES = text("SELECT lead_id, stage, entered_at FROM router.lead_stage WHERE lead_id = ANY(:ids)")
_ACTIVITIES = text(
    "SELECT lead_id, kind, occurred_at FROM router.activity WHERE lead_id = ANY(:ids)"
)


async def history_rows(
    engine: AsyncEngine,
    *,
    since: timedelta | None,
    negative_after_days: int,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> list[ScoringRow]:
    """Every lead received in the last ``since`` (all when None) whose outcome is known,
    scored at its outcome; merged and erased leads are left out."""
    params: dict[str, Any] = {
        "left_out": sorted(LEFT_OUT_STATUSES),
        "since": now - since if since is not None else _EPOCH,
    }
    rows: list[ScoringRow] = []
    async with engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        total = (await conn.execute(_COUNT, params)).scalar_one()
        done = 0
        after = uuid.UUID(int=0)
        while True:
            leads = (await conn.execute(_LEADS, {**params, "after": after, "page": PAGE})).all()
            if not leads:
                break
            rows.extend(await _page_rows(conn, leads, now, negative_after_days))
            after = leads[-1].id
            done += len(leads)
            if progress is not None:
                progress(done, total)
        await conn.rollback()
    return rows


async def _page_rows(
    conn: AsyncConnection, leads: Any, now: datetime, negative_after_days: int
) -> list[ScoringRow]:
    ids = [lead.id for lead in leads]
    statuses: defaultdict[uuid.UUID, list[tuple[str, datetime]]] = defaultdict(list)
    for r in await conn.execute(_STATUSES, {"ids": ids}):
        statuses[r.lead_id].append((r.status, r.occurred_at))
    stages: defaultdict[uuid.UUID, list[tuple[str, datetime]]] = defaultdict(list)
    for r in await conn.execute(_STAGES, {"ids": ids}):
        stages[r.lead_id].append((r.stage, r.entered_at))
    activities: defaultdict[uuid.UUID, list[ActivityPoint]] = defaultdict(list)
    for r in await conn.execute(_ACTIVITIES, {"ids": ids}):
        activities[r.lead_id].append(ActivityPoint(r.kind, r.occurred_at))
    out: list[ScoringRow] = []
    for lead in leads:
        outcome = outcome_from_history(
            status=lead.status,
            received_at=lead.received_at,
            sales_statuses=statuses[lead.id],
            stages=stages[lead.id],
            now=now,
            negative_after_days=negative_after_days,
        )
        if outcome is None:
            continue
        out.append(
            ScoringRow(
                id=str(lead.id),
                lead=profile_of(
                    lead.profile,
                    source_id=lead.source_id,
                    channel=lead.channel,
                    purchased_list=lead.is_name,
                ),
                activities=activities_before(
                    sorted(activities[lead.id], key=lambda a: a.at), outcome.cutoff
                ),
                at=outcome.cutoff,
                outcome=outcome.outcome,
            )
        )
    return out
