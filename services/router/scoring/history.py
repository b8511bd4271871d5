"""The router's history as ``ScoringRow``s: each lead with an outcome, scored as of a
moment that does not depend on it, with its profile and activities as of then.

Reads ``router.lead``, ``router.lead_submission``, ``router.lead_status_change``,
``router.lead_stage`` and ``router.activity`` in one read-only transaction (a consistent
snapshot), in keyset pages of leads by id (one query per table per page), selecting only
the columns scoring needs. The rule is ``domain.datasets.history_row``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router.domain.datasets import (
    LEFT_OUT_STATUSES,
    HistoryLead,
    StoredSubmission,
    history_row,
)
from services.router.domain.model import ActivityPoint
from services.router.domain.scoring_rows import ScoringRow

PAGE = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_LEADS = text(
    """
    SELECT id, status, profile, source_id, channel, is_name, received_at
    FROM router.lead
    WHERE id > :after AND status <> ALL(:left_out)
      AND received_at >= :since AND received_at <= :until
    ORDER BY id
    LIMIT :page
    """
)
_COUNT = text(
    "SELECT count(*) FROM router.lead WHERE status <> ALL(:left_out)"
    " AND received_at >= :since AND received_at <= :until"
)
_SUBMISSIONS = text(
    "SELECT lead_id, submission_id, received_at, fields FROM router.lead_submission"
    " WHERE lead_id = ANY(:ids)"
)
_STATUSES = text(
    "SELECT lead_id, status, occurred_at FROM router.lead_status_change WHERE lead_id = ANY(:ids)"
)
_STAGES = text("SELECT lead_id, stage, entered_at FROM router.lead_stage WHERE lead_id = ANY(:ids)")
_ACTIVITIES = text(
    "SELECT lead_id, kind, occurred_at FROM router.activity WHERE lead_id = ANY(:ids)"
)


async def history_pages(
    engine: AsyncEngine,
    *,
    since: timedelta | None,
    negative_after_days: int,
    as_of_days: int,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[list[ScoringRow]]:
    """The rows of every lead received in the last ``since`` (all when None), at least
    ``as_of_days`` before ``now``, whose outcome is known, one page of leads at a time
    (up to ``PAGE`` rows); merged and erased leads are left out. ``progress(done, total)``
    after each page, in leads read."""
    params: dict[str, Any] = {
        "left_out": sorted(LEFT_OUT_STATUSES),
        "since": now - since if since is not None else _EPOCH,
        "until": now - timedelta(days=as_of_days),
    }
    async with engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        try:
            total = (await conn.execute(_COUNT, params)).scalar_one()
            done = 0
            after = uuid.UUID(int=0)
            while True:
                page = {**params, "after": after, "page": PAGE}
                leads = (await conn.execute(_LEADS, page)).all()
                if not leads:
                    break
                rows = await _page_rows(conn, leads, now, negative_after_days, as_of_days)
                after = leads[-1].id
                done += len(leads)
                if progress is not None:
                    progress(done, total)
                yield rows
        finally:
            await conn.rollback()


async def history_rows(
    engine: AsyncEngine,
    *,
    since: timedelta | None,
    negative_after_days: int,
    as_of_days: int,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> list[ScoringRow]:
    """Every row of ``history_pages`` in one list (about 2.5 KB a lead)."""
    rows: list[ScoringRow] = []
    async for page in history_pages(
        engine,
        since=since,
        negative_after_days=negative_after_days,
        as_of_days=as_of_days,
        now=now,
        progress=progress,
    ):
        rows.extend(page)
    return rows


async def _page_rows(
    conn: AsyncConnection, leads: Any, now: datetime, negative_after_days: int, as_of_days: int
) -> list[ScoringRow]:
    ids = [lead.id for lead in leads]
    submissions: defaultdict[uuid.UUID, list[StoredSubmission]] = defaultdict(list)
    for r in await conn.execute(_SUBMISSIONS, {"ids": ids}):
        submissions[r.lead_id].append(
            StoredSubmission(r.received_at, r.fields, order=str(r.submission_id))
        )
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
        row = history_row(
            HistoryLead(
                id=str(lead.id),
                status=lead.status,
                received_at=lead.received_at,
                profile=lead.profile,
                source_id=lead.source_id,
                channel=lead.channel,
                is_name=lead.is_name,
                submissions=submissions[lead.id],
                sales_statuses=statuses[lead.id],
                stages=stages[lead.id],
                activities=activities[lead.id],
            ),
            now=now,
            negative_after_days=negative_after_days,
            as_of_days=as_of_days,
        )
        if row is not None:
            out.append(row)
    return out
