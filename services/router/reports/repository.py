"""Read-only reporting queries on the router schema: the funnel of a cohort, reactivation
segments and their export. Writes' queries live in :mod:`services.router.repository`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.funnel import (
    ALL_STAGES,
    FUNNEL_STAGES,
    NONE_LABEL,
    GroupTally,
    LifecycleStage,
    stages_from,
)
from services.router.domain.segments import (
    INTEREST_PROFILE_KEYS,
    Dimension,
    LeadSummary,
    SegmentFilters,
)
from services.router.models import Lead
from shared.domain.inactivity import segment_bounds

FunnelBy = Literal["source", "channel", "campaign", "team"]

# The group of a lead in the funnel, per ``by`` (fixed SQL: never built from the request).
_FUNNEL_GROUP_SQL: dict[str, str] = {
    "source": "l.source_id",
    "channel": "l.channel",
    "campaign": f"coalesce(nullif(l.profile->>'campaign', ''), '{NONE_LABEL}')",
    "team": f"coalesce(l.team_id, '{NONE_LABEL}')",
}


def _funnel_sql(by: FunnelBy | None) -> str:
    stage_list = ", ".join(f"'{s}'" for s in ALL_STAGES)
    reached = ",\n".join(
        f"    min(h.entered_at) FILTER (WHERE h.stage IN "
        f"({', '.join(repr(str(s)) for s in stages_from(stage))})) AS at_{stage}"
        for stage in FUNNEL_STAGES
    )
    aggregates = ",\n".join(
        f"  count(at_{stage}) AS reached_{stage},\n"
        f"  percentile_cont(0.5) WITHIN GROUP "
        f"(ORDER BY extract(epoch FROM at_{stage} - created_at)::float8) AS median_{stage}"
        for stage in FUNNEL_STAGES
    )
    group = _FUNNEL_GROUP_SQL[by] if by is not None else "NULL::text"
    sets = "(), (current_stage), (dq_reason)"
    # without groups every row is the total's
    grouping, grp = "1 AS g_grp", "NULL::text AS grp"
    if by is not None:
        sets = f"(grp), (grp, current_stage), (grp, dq_reason), {sets}"
        grouping, grp = "GROUPING(grp) AS g_grp", "grp"
    # Cohort: leads whose first stage entry is in [start, end). Candidates are the entries in
    # the window (the (stage, entered_at) index, one range per stage); a lead is in when it
    # has no earlier entry. One pass over the cohort's histories then counts every group (and
    # the total) by grouping sets, with the current stage and disqualification reason apart.
    return f"""
WITH firsts AS (
  SELECT s.lead_id, min(s.entered_at) AS created_at
  FROM router.lead_stage AS s
  WHERE s.stage IN ({stage_list}) AND s.entered_at >= :start AND s.entered_at < :end
    AND NOT EXISTS (
      SELECT 1 FROM router.lead_stage AS e
      WHERE e.lead_id = s.lead_id AND e.entered_at < s.entered_at)
  GROUP BY s.lead_id
), per_lead AS (
  SELECT f.lead_id, f.created_at, {group} AS grp, l.lifecycle_stage AS current_stage,
    CASE WHEN bool_or(h.stage = 'disqualified')
         THEN coalesce(nullif(l.disqualify_reason, ''), '{NONE_LABEL}') END AS dq_reason,
    bool_or(h.stage = 'name') AS was_name,
    bool_or(h.stage = 'recycled') AS was_recycled,
    bool_or(h.stage = 'disqualified') AS was_disqualified,
{reached}
  FROM firsts AS f
  JOIN router.lead AS l ON l.id = f.lead_id
  JOIN router.lead_stage AS h ON h.lead_id = f.lead_id
  GROUP BY f.lead_id, f.created_at, l.id
)
SELECT {grouping}, GROUPING(current_stage) AS g_stage,
  GROUPING(dq_reason) AS g_reason, {grp}, current_stage, dq_reason,
  count(*) AS cohort,
  count(*) FILTER (WHERE was_name) AS entered_name,
  count(*) FILTER (WHERE was_recycled) AS entered_recycled,
  count(*) FILTER (WHERE was_disqualified) AS entered_disqualified,
{aggregates}
FROM per_lead
GROUP BY GROUPING SETS ({sets})
"""


class ReportsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- funnel ---------------------------------------------------------------------------
    async def funnel(
        self, start: datetime, end: datetime, by: FunnelBy | None
    ) -> tuple[GroupTally, list[GroupTally]]:
        """The cohort's tallies: the total, and one per group when ``by`` is given."""
        rows = await self.session.execute(text(_funnel_sql(by)), {"start": start, "end": end})
        total = _Part()
        groups: dict[str, _Part] = {}
        for r in rows:
            part = total if r.g_grp else groups.setdefault(r.grp, _Part())
            if not r.g_stage:
                part.current[r.current_stage] = r.cohort
            elif not r.g_reason:
                if r.dq_reason is not None:  # the leads never disqualified
                    part.reasons[r.dq_reason] = r.cohort
            else:
                part.main = r
        return total.tally(None), [p.tally(k) for k, p in groups.items()]

    # --- segments -------------------------------------------------------------------------
    async def segment_counts(
        self, dimension: Dimension, filters: SegmentFilters, now: datetime
    ) -> dict[str, int]:
        value = _dimension_value(dimension, now).label("value")
        inner = select(value).where(*_filter_clauses(filters, now)).subquery()
        rows = await self.session.execute(
            select(inner.c.value, func.count()).group_by(inner.c.value)
        )
        return {(v if v is not None else NONE_LABEL): n for v, n in rows}

    async def segment_leads(
        self, filters: SegmentFilters, now: datetime, after: uuid.UUID | None, limit: int
    ) -> list[LeadSummary]:
        """Up to ``limit`` matching leads after lead id ``after``, in lead id order (the
        primary key: a keyset page reads only its rows)."""
        query = (
            select(*_summary_columns())
            .where(*_filter_clauses(filters, now))
            .order_by(Lead.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(Lead.id > after)
        return [LeadSummary(*row) for row in await self.session.execute(query)]


@dataclass
class _Part:
    """One group's rows of the funnel query: the group's own, by current stage, by reason."""

    main: Any = None
    current: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def tally(self, key: str | None) -> GroupTally:
        r = self.main
        if r is None:
            return GroupTally(key=key, cohort=0)
        return GroupTally(
            key=key,
            cohort=r.cohort,
            reached={s: getattr(r, f"reached_{s}") for s in FUNNEL_STAGES},
            median_seconds={
                s: (float(m) if (m := getattr(r, f"median_{s}")) is not None else None)
                for s in FUNNEL_STAGES
            },
            entered={
                LifecycleStage.name: r.entered_name,
                LifecycleStage.recycled: r.entered_recycled,
                LifecycleStage.disqualified: r.entered_disqualified,
            },
            current=self.current,
            disqualified_by_reason=self.reasons,
        )


def _summary_columns() -> list[ColumnElement[Any]]:
    """In :class:`LeadSummary`'s field order."""
    return [
        Lead.id, Lead.lifecycle_stage, Lead.status, Lead.owner_rep_id, Lead.team_id,
        Lead.source_id, Lead.channel, Lead.received_at, Lead.last_activity_at,
        Lead.profile["email"].astext, Lead.first_name, Lead.last_name,
        Lead.profile["company"].astext, Lead.profile["country"].astext, profile_text("campaign"),
    ]  # fmt: skip


def _last_seen() -> ColumnElement[Any]:
    return func.coalesce(Lead.last_activity_at, Lead.received_at)


def profile_text(key: str) -> ColumnElement[Any]:
    return func.nullif(Lead.profile[key].astext, "")


def _custom_text(key: str) -> ColumnElement[Any]:
    return func.nullif(Lead.profile[("custom", key)].astext, "")


def _interest(dimension: Dimension) -> ColumnElement[Any]:
    if dimension.kind == "custom":
        assert dimension.key is not None
        return _custom_text(dimension.key)
    return profile_text(INTEREST_PROFILE_KEYS[dimension.kind])


def _dimension_value(dimension: Dimension, now: datetime) -> ColumnElement[Any]:
    if dimension.kind == "stage":
        return Lead.lifecycle_stage.expression
    if dimension.kind == "inactivity":
        recent, _ = segment_bounds("under_3_months", now)
        old, _ = segment_bounds("3_to_12_months", now)
        seen = _last_seen()
        # the same boundaries as shared.domain.inactivity.inactivity_segment
        return case(
            (seen > recent, "under_3_months"), (seen > old, "3_to_12_months"), else_="over_1_year"
        )
    return _interest(dimension)


def any_of(expr: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[bool]:
    named = [v for v in values if v != NONE_LABEL]
    clauses: list[ColumnElement[bool]] = []
    if named:
        clauses.append(expr.in_(named))
    if NONE_LABEL in values:
        clauses.append(expr.is_(None))
    return or_(*clauses) if clauses else false()


def _filter_clauses(filters: SegmentFilters, now: datetime) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.inactivity:
        seen = _last_seen()
        windows = []
        for segment in filters.inactivity:
            after, until = segment_bounds(segment, now)
            windows.append(
                and_(
                    seen > after if after is not None else true(),
                    seen <= until if until is not None else true(),
                )
            )
        clauses.append(or_(*windows))
    if filters.stages:
        clauses.append(Lead.lifecycle_stage.in_(list(filters.stages)))
    if filters.campaigns:
        clauses.append(any_of(profile_text("campaign"), filters.campaigns))
    if filters.forms:
        clauses.append(any_of(profile_text("form_id"), filters.forms))
    for key, values in filters.custom:
        clauses.append(any_of(_custom_text(key), values))
    return clauses
