"""Read-only queries of lead search and the fallback queue.

Each filter is a plain column condition the indexes of revision 0009 serve: (team, status),
owner, source and (received_at, id) in the page order, and the lower-case "C"-collated prefix
expressions of ``q`` (a range ``[lower($q), lower($q) || U+10FFFF)``, lowered by PostgreSQL
as the indexed expressions are). The prefix expressions carry their constants as SQL literals,
so they are the indexed expressions even in a prepared statement's generic plan, and the range's
bounds are parameters the index scan takes at run time (unlike ``LIKE $1``, which needs the
pattern at planning): a cached plan still uses the index. ``tests/bench/search.py`` shows the
generic plans."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, func, literal_column, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.router.domain.search import PREFIX_TOP, LeadRow, LeadSearch, SearchKey
from services.router.models import Assignment, Lead
from services.router.reports.repository import any_of, profile_text
from services.router.repository import queue_drain_order

# q's prefix expressions: each is indexed as it is written here (revision 0009)
PREFIX_COLLATION = "C"
_EMPTY, _SPACE = literal_column("''"), literal_column("' '")


def _profile_key(key: str) -> ColumnElement[Any]:
    """``profile ->> 'key'`` with the key written in the SQL, as the index has it."""
    return Lead.profile.op("->>", return_type=Text)(literal_column(f"'{key}'"))


def prefix_expressions() -> list[ColumnElement[Any]]:
    """Full name (which covers the first name), last name, email, company: lower case. The
    constants are written into the SQL, not sent as bind parameters: ``coalesce(first_name,
    $5)`` is not the indexed expression, so a prepared statement's generic plan (the one a
    cached statement ends up with) could not use the index."""
    full = (
        func.coalesce(Lead.first_name, _EMPTY)
        .op("||")(_SPACE)
        .op("||")(func.coalesce(Lead.last_name, _EMPTY))
    )
    return [
        func.lower(full).collate(PREFIX_COLLATION),
        func.lower(Lead.last_name).collate(PREFIX_COLLATION),
        func.lower(_profile_key("email")).collate(PREFIX_COLLATION),
        func.lower(_profile_key("company")).collate(PREFIX_COLLATION),
    ]


def _columns() -> list[ColumnElement[Any]]:
    """In :class:`LeadRow`'s field order."""
    return [
        Lead.id, Lead.status, Lead.lifecycle_stage, Lead.owner_rep_id, Lead.team_id, Lead.queue,
        Lead.temperature, Lead.score, Lead.source_id, Lead.channel, profile_text("campaign"),
        Lead.received_at, Lead.updated_at, Lead.first_name, Lead.last_name,
        Lead.profile["email"].astext, Lead.profile["company"].astext,
    ]  # fmt: skip


def search_clauses(search: LeadSearch) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for column, values in (
        (Lead.status, search.statuses),
        (Lead.lifecycle_stage, search.stages),
        (Lead.temperature, search.temperatures),
        (Lead.source_id, search.sources),
        (Lead.channel, search.channels),
    ):
        if values:
            clauses.append(column.in_(list(values)))
    for expr, values in (
        (Lead.owner_rep_id, search.owners),
        (Lead.team_id, search.teams),
        (Lead.queue, search.queues),
        (profile_text("campaign"), search.campaigns),
    ):
        if values:
            clauses.append(any_of(expr, values))  # type: ignore[arg-type]
    if search.queued is not None:
        clauses.append(Lead.status == "queued" if search.queued else Lead.status != "queued")
    ranges: tuple[tuple[Any, datetime | None, datetime | None], ...] = (
        (Lead.received_at, search.received_from, search.received_to),
        (Lead.updated_at, search.updated_from, search.updated_to),
    )
    for column, start, end in ranges:
        if start is not None:
            clauses.append(column >= start)
        if end is not None:
            clauses.append(column < end)
    typed = search.q_typed()
    if typed is not None:
        # lowered by PostgreSQL, as the indexed expressions are: both sides fold alike
        low = func.lower(typed)
        high = low.op("||")(PREFIX_TOP)
        clauses.append(or_(*(and_(e >= low, e < high) for e in prefix_expressions())))
    return clauses


def page_query(search: LeadSearch, after: SearchKey | None, limit: int) -> Any:
    query = (
        select(*_columns())
        .where(*search_clauses(search))
        .order_by(Lead.received_at.desc(), Lead.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Lead.received_at, Lead.id) < tuple_(after.received_at, after.id))
    return query


async def search_page(
    session: AsyncSession | AsyncConnection,
    search: LeadSearch,
    after: SearchKey | None,
    limit: int,
) -> list[LeadRow]:
    """Up to ``limit`` matching leads after ``after``, newest first."""
    await _plan_for_q(session, search)
    rows = await session.execute(page_query(search, after, limit))
    return [LeadRow(*row) for row in rows]


async def _plan_for_q(session: AsyncSession | AsyncConnection, search: LeadSearch) -> None:
    """A ``q`` search is planned with its value, every time. A generic plan (which PostgreSQL
    may switch a prepared statement to after a few runs) knows no prefix and walks the page
    order, filtering the whole table for a rare one; with the value, a rare prefix reads its
    index. ``SET LOCAL`` lasts for the caller's transaction only."""
    if search.q:
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def search_count(session: AsyncSession | AsyncConnection, search: LeadSearch) -> int:
    await _plan_for_q(session, search)
    total = await session.scalar(
        select(func.count()).select_from(Lead).where(*search_clauses(search))
    )
    return int(total or 0)


# An export's reads: a chunk query that runs longer, or a client that stops reading for longer
# (the transaction idles between chunks), ends the export instead of holding a snapshot open.
EXPORT_STATEMENT_TIMEOUT = "60s"
EXPORT_IDLE_TIMEOUT = "10min"


async def _snapshot(
    engine: AsyncEngine, search: LeadSearch, chunk: int
) -> AsyncGenerator[int | list[LeadRow], None]:
    """The number of matching leads first, then every one of them ``chunk`` at a
    time (keyset), all read in one REPEATABLE READ READ ONLY transaction."""
    async with engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        await conn.execute(text(f"SET LOCAL statement_timeout = '{EXPORT_STATEMENT_TIMEOUT}'"))
        await conn.execute(
            text(f"SET LOCAL idle_in_transaction_session_timeout = '{EXPORT_IDLE_TIMEOUT}'")
        )
        yield await search_count(conn, search)
        after: SearchKey | None = None
        while True:
            rows = await search_page(conn, search, after, chunk)
            if rows:
                yield rows
            if len(rows) < chunk:
                break
            after = rows[-1].key
        await conn.rollback()


class Export:
    """An export's snapshot, opened: ``total`` counted in it, then its rows by ``chunks()``.
    The transaction (and its pooled connection) stays open until the chunks are read to the
    end or :meth:`aclose` is called."""

    def __init__(self, total: int, rows: AsyncGenerator[int | list[LeadRow], None]) -> None:
        self.total = total
        self._rows = rows

    async def chunks(self) -> AsyncIterator[list[LeadRow]]:
        async for item in self._rows:
            assert not isinstance(item, int)
            yield item

    async def aclose(self) -> None:
        await self._rows.aclose()


async def open_export(engine: AsyncEngine, search: LeadSearch, chunk: int) -> Export:
    """The snapshot of an export, its leads counted inside it: the count is the file's rows,
    whatever changes meanwhile."""
    rows = _snapshot(engine, search, chunk)
    try:
        total = await anext(rows)
    except BaseException:
        await rows.aclose()
        raise
    assert isinstance(total, int)
    return Export(total, rows)


# --- the fallback queue --------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    position: int  # 1: drains first
    lead_id: uuid.UUID
    team: str | None
    queue: str | None
    temperature: str
    stage: str  # the score stage (sql drains first)
    lifecycle_stage: str
    score: int
    received_at: datetime
    updated_at: datetime
    reason: str | None = None  # the routing decision that queued it
    queued_at: datetime | None = None


async def queue_page(
    session: AsyncSession, teams: Sequence[str], offset: int, limit: int
) -> tuple[int, list[QueueEntry]]:
    """The queued leads in the order the router drains them (``queue_drain_order``, the
    drain's own ordering), their position counted over the whole queue; ``teams`` narrows
    the list, not the positions. Returns the number listed by the filter, and the page."""
    position = func.row_number().over(order_by=queue_drain_order()).label("position")
    ranked = (
        select(
            position,
            Lead.id,
            Lead.team_id,
            Lead.queue,
            Lead.temperature,
            Lead.stage,
            Lead.lifecycle_stage,
            Lead.score,
            Lead.received_at,
            Lead.updated_at,
        )
        .where(Lead.status == "queued")
        .subquery()
    )
    where = [any_of(ranked.c.team_id, teams)] if teams else []
    total = await session.scalar(select(func.count()).select_from(ranked).where(*where))
    rows = list(
        await session.execute(
            select(ranked).where(*where).order_by(ranked.c.position).offset(offset).limit(limit)
        )
    )
    entries = [QueueEntry(*row) for row in rows]
    if not entries:
        return int(total or 0), []
    decisions = await session.execute(
        select(Assignment.lead_id, Assignment.reason, Assignment.decided_at)
        .where(
            Assignment.lead_id.in_([e.lead_id for e in entries]),
            Assignment.outcome == "queued",
            Assignment.ended_at.is_(None),
        )
        .order_by(Assignment.decided_at)
    )
    why = {lead_id: (reason, at) for lead_id, reason, at in decisions}
    return int(total or 0), [
        dataclasses.replace(e, reason=why[e.lead_id][0], queued_at=why[e.lead_id][1])
        if e.lead_id in why
        else e
        for e in entries
    ]
