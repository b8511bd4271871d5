"""The stored history a routing simulation replays, read in one read-only transaction.

Keyset pages, in lead id order, of every lead first received within the window: its first
submission's time and fields, its source, channel and purchased-list flag, its first routing
decision and first owner; then the applied sales statuses that ended an ownership (see
``RELEASING``). Only the fields routing and the scoring rules look at are read from a
submission (an email address only as its domain, unless a rule tests the whole address).
Nothing is written, no producer exists here: the transaction is ``READ ONLY`` and
``REPEATABLE READ``, so pages read while the router runs see one consistent snapshot.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.router.domain.intake import profile_of
from services.router.domain.model import TEXT_FIELDS
from services.router.domain.scoring import ScoringRules
from services.router.domain.simulation import RELEASING, Actual, HistoricalLead, Release

PAGE = 5000
# what routing rules test, besides the lead's source and channel
ROUTING_FIELDS = ("country", "region", "company_size", "industry")
# a condition's field -> the submitted field it reads
_CONDITION_FIELD = {"title": "job_title", "email_domain": "email"}
# The submitted fields a replay may read: the lead's text fields and the nested utm and custom
# maps (a condition on custom.<key> or utm.<key> reads the map).
PROFILE_FIELDS = (*TEXT_FIELDS, "utm", "custom")
_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

ReadProgress = Callable[[int, int], None]  # (leads read, leads in the window)


def parse_since(value: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m`` -> the window's length."""
    match = _SINCE.match(value)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"--since {value!r}: give a positive number and a unit m, h, d or w (30d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class History:
    leads: list[HistoricalLead]
    releases: list[Release]
    since: datetime


def needed_fields(scoring: ScoringRules) -> tuple[tuple[str, bool], ...]:
    """(submitted field, domain only) pairs the replay needs: routing's and the scoring
    conditions'. An email is needed only as its domain unless a condition tests ``email``."""
    wanted = set(ROUTING_FIELDS)
    whole_email = False
    for criterion in scoring.criteria:
        for condition in criterion.conditions:
            name = condition.field.partition(".")[0]  # custom.<key> -> custom
            wanted.add(_CONDITION_FIELD.get(name, name))
            whole_email = whole_email or condition.field == "email"
    return tuple((f, f == "email" and not whole_email) for f in PROFILE_FIELDS if f in wanted)


def _fields_sql(fields: Iterable[tuple[str, bool]]) -> str:
    parts = []
    for name, domain_only in fields:
        if name not in PROFILE_FIELDS:  # names come from this list only: safe to inline
            raise ValueError(f"unknown profile field {name!r}")
        value = (
            "to_jsonb(regexp_replace(s.fields->>'email', '^.*@', '@'))"
            if domain_only
            else f"s.fields->'{name}'"
        )
        parts.append(f"'{name}', {value}")
    return f"jsonb_build_object({', '.join(parts)})" if parts else "'{}'::jsonb"


def _leads_sql(fields: Iterable[tuple[str, bool]]) -> str:
    return f"""
SELECT l.id, l.source_id, l.channel, s.channel = 'purchased_list' AS is_name, s.received_at,
       {_fields_sql(fields)} AS fields,
       a.outcome, a.rule, o.rep_id, o.team_id
FROM router.lead l
CROSS JOIN LATERAL (
    SELECT received_at, fields, channel FROM router.lead_submission s
    WHERE s.lead_id = l.id ORDER BY received_at, submission_id LIMIT 1
) s
LEFT JOIN LATERAL (
    SELECT outcome, rule FROM router.assignment a
    WHERE a.lead_id = l.id ORDER BY decided_at, id LIMIT 1
) a ON true
LEFT JOIN LATERAL (
    SELECT rep_id, team_id FROM router.assignment a
    WHERE a.lead_id = l.id AND a.outcome = 'assigned' AND a.rep_id IS NOT NULL
    ORDER BY decided_at, id LIMIT 1
) o ON a.outcome IS DISTINCT FROM 'nurture'  -- a first owner is one routing gave it at arrival
                                            -- (or from the queue), not a later rescoring
-- merged into another lead (its submissions moved there) or erased: no one's to route
WHERE l.id > :after AND l.received_at >= :since AND l.status NOT IN ('merged', 'erased')
ORDER BY l.id
LIMIT :n"""


_RELEASES_SQL = f"""
SELECT c.id, c.lead_id, c.occurred_at, c.status
FROM router.lead_status_change c
JOIN router.lead l ON l.id = c.lead_id
WHERE c.id > :after AND c.applied
  AND c.status IN ({", ".join(f"'{s.value}'" for s in sorted(RELEASING))})
  AND l.received_at >= :since AND l.status NOT IN ('merged', 'erased')
ORDER BY c.id
LIMIT :n"""

_COUNT_SQL = (
    "SELECT count(*) FROM router.lead"
    " WHERE received_at >= :since AND status NOT IN ('merged', 'erased')"
)


async def read_history(
    engine: AsyncEngine,
    scoring: ScoringRules,
    *,
    window: timedelta,
    now: datetime,
    page: int = PAGE,
    progress: ReadProgress | None = None,
) -> History:
    """Every lead first received in ``[now - window, now]`` and the releases recorded for them."""
    since = now - window
    async with engine.connect() as conn:
        async with conn.begin():
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            total = int(await conn.scalar(text(_COUNT_SQL), {"since": since}) or 0)
            if progress is not None:
                progress(0, total)
            leads = await _read_leads(conn, needed_fields(scoring), since, page, total, progress)
            releases = await _read_releases(conn, since, page)
    return History(leads, releases, since)


async def _read_leads(
    conn: AsyncConnection,
    fields: tuple[tuple[str, bool], ...],
    since: datetime,
    page: int,
    total: int,
    progress: ReadProgress | None,
) -> list[HistoricalLead]:
    sql = text(_leads_sql(fields))
    out: list[HistoricalLead] = []
    after = uuid.UUID(int=0)
    while True:
        rows = (await conn.execute(sql, {"after": after, "since": since, "n": page})).all()
        out.extend(_historical(row) for row in rows)
        if progress is not None:
            progress(len(out), max(total, len(out)))
        if len(rows) < page:
            return out
        after = rows[-1][0]


def _historical(row: Any) -> HistoricalLead:
    lead_id, source_id, channel, is_name, received_at, fields, outcome, rule, rep_id, team_id = row
    profile = profile_of(
        fields or {}, source_id=source_id, channel=channel, purchased_list=bool(is_name)
    )
    return HistoricalLead(
        lead_id, received_at, profile, Actual(outcome, rep_id, team_id if rep_id else None, rule)
    )


async def _read_releases(conn: AsyncConnection, since: datetime, page: int) -> list[Release]:
    out: list[Release] = []
    after = uuid.UUID(int=0)
    while True:
        rows = (
            await conn.execute(text(_RELEASES_SQL), {"after": after, "since": since, "n": page})
        ).all()
        out.extend(
            Release(lead_id, occurred_at, status) for _, lead_id, occurred_at, status in rows
        )
        if len(rows) < page:
            return out
        after = rows[-1][0]
