"""Token-protected reports: funnel KPIs of a cohort, reactivation segments and their export.

Read from the router's database (not Prometheus). Exported leads carry personal data: they
leave only through these admin-token endpoints, and nothing of them is logged."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.router.admin import responses as R
from services.router.admin.endpoints import get_context, read
from services.router.admin.params import checked, drain
from services.router.context import RouterContext
from services.router.domain.funnel import funnel_group, order_groups
from services.router.domain.params import only_known, window
from services.router.domain.segments import (
    EXPORT_FIELDS,
    Cursor,
    SegmentFilters,
    csv_record,
    decode_cursor,
    encode_cursor,
    export_row,
    ordered_counts,
    parse_dimension,
    parse_filters,
)
from services.router.reports.repository import FunnelBy, ReportsRepository
from services.router.reports.schemas import FunnelOut, SegmentCountsOut, SegmentLeadsOut
from shared.http import invalid_field
from shared.logging import get_logger
from shared.openapi import ok

log = get_logger(__name__)
router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(read)])
RouterCtx = Annotated[RouterContext, Depends(get_context)]

PAGE_DEFAULT = 100
PAGE_MAX = 1000
# Rows per read while a CSV streams: one short query each (keyset), so an export of millions
# holds neither a transaction nor more than this many rows in memory.
CSV_CHUNK_ROWS = 1000

FUNNEL_DESCRIPTION = """
Funnel KPIs of a **cohort**: the leads created (their first lifecycle-stage entry) in
`[from, to)`. Read from the database (`router.lead_stage`, the history of stages each lead
entered), so it covers every lead whatever Prometheus kept.

For each funnel stage (lead -> mql -> sql -> opportunity -> customer), up to now:
- `reached`: cohort leads that ever reached it. A lead that skipped a stage counts as having
  reached the earlier ones (arriving straight at sql counts for lead and mql too);
- `rate_from_previous`: reached / reached of the stage before (the cohort, for lead);
  `rate_from_cohort`: reached / cohort (fractions, 4 decimals; null when dividing by zero);
- `median_seconds_to_reach`: median time from the lead's first stage entry to the moment it
  reached the stage (for a skipped stage: when it reached the later one);
- `current`: cohort leads in it now.

Side stages: `name` (purchased-list names), `recycled` and `disqualified` (with
`by_reason`, from the lead's disqualification reason, `(none)` when unset): cohort leads that
ever entered them, and those in them now.

`from`/`to` are ISO 8601 date-times with an offset (`Z` or `+01:00`; escape `+` as `%2B` in a
URL, though a space where the `+` was is read as one). Defaults: `to` now (the router's
clock), `from` 30 days before `to`. `by` groups the cohort by `source` (source id), `channel`,
`campaign` (the form's campaign, `(none)` without one) or `team` (the lead's current team,
`(none)` when never given to sales); `total` is always the whole cohort, and without `by`
`groups` holds it alone. A bad or unknown parameter is a 422 naming it.
"""

SEGMENTS_DESCRIPTION = """
How many leads are in each reactivation segment. `by`:
- `inactivity`: time since the lead was last seen (its last activity, else when it arrived)
  at the router clock's now: `under_3_months` (< 90 days), `3_to_12_months` (90-364 days),
  `over_1_year` (365 days or more), the boundaries nurture's re-engagement uses;
- `stage`: lifecycle stage (name, lead, mql, sql, opportunity, customer, recycled,
  disqualified);
- interest: `campaign`, `form` (form id) or `custom.<field>` for a custom form field listed in
  `LEADFLOW_ROUTER_SEGMENT_CUSTOM_FIELDS`; leads without a value count as `(none)`.

The export's filters narrow the counts: `inactivity=`, `stage=`, `campaign=`, `form=`,
`custom.<field>=` (each repeatable, any of its values; `(none)` selects leads without a value).
Inactivity segments and stages are listed in order, even when empty; interest values by count.
"""

LEADS_DESCRIPTION = """
The leads of a segment (personal data: a token with the read scope only). Filters as for `/v1/admin/segments`
(`inactivity`, `stage`, `campaign`, `form`, `custom.<field>`; each repeatable, all must hold).
Fields: id, stage, status, owner, team, source, channel, received_at, last_activity_at,
email, name, company, country, campaign, segment (the inactivity segment).

JSON (default): a page of `limit` leads (default 100, at most 1000) in lead id order and an
opaque `next_cursor`; pass it as `cursor`, with the same filters, for the next page (null on
the last page). Every page measures inactivity at the first page's `as_of`, so paging visits
every matching lead exactly once. `format=csv` streams the whole matching set as CSV (read a
thousand leads at a time; no `limit` or `cursor`); a cell that a spreadsheet would run as a
formula starts with `'`.
"""


@router.get(
    "/funnel",
    summary="Funnel KPIs of a cohort: counts and conversion rates per lifecycle stage",
    description=FUNNEL_DESCRIPTION,
    response_model=FunnelOut,
    response_model_by_alias=True,
    responses={200: ok(R.FUNNEL), **R.REPORT},
)
async def funnel(
    request: Request,
    ctx: RouterCtx,
    start: Annotated[
        str | None, Query(alias="from", description="cohort start, inclusive (ISO 8601)")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="cohort end, exclusive (ISO 8601)")
    ] = None,
    by: Annotated[FunnelBy | None, Query(description="group the cohort by")] = None,
) -> dict[str, Any]:
    checked(only_known, request.query_params.keys(), ("from", "to", "by"))
    now = ctx.clock()
    span = checked(window, start, end, now)
    async with ctx.sessions() as session:
        total, groups = await ReportsRepository(session).funnel(span.start, span.end, by)
    whole = funnel_group(total)
    per_group = order_groups([funnel_group(g) for g in groups]) if by is not None else [whole]
    return {
        "from": span.start,
        "to": span.end,
        "by": by,
        "as_of": now,
        "total": dataclasses.asdict(whole),
        "groups": [dataclasses.asdict(g) for g in per_group],
    }


@router.get(
    "/segments",
    summary="Reactivation segments: leads per inactivity segment, stage or interest",
    description=SEGMENTS_DESCRIPTION,
    response_model=SegmentCountsOut,
    responses={200: ok(R.SEGMENTS), **R.REPORT},
)
async def segments(
    request: Request,
    ctx: RouterCtx,
    by: Annotated[str, Query(description="inactivity, stage, campaign, form or custom.<field>")],
) -> dict[str, Any]:
    custom = ctx.settings.router_segment_custom_fields
    dimension = checked(parse_dimension, by, custom)
    filters = checked(parse_filters, request.query_params.multi_items(), custom, others=("by",))
    now = ctx.clock()
    async with ctx.sessions() as session:
        counts = await ReportsRepository(session).segment_counts(dimension, filters, now)
    ordered = ordered_counts(dimension, counts)
    return {
        "by": dimension.param,
        "as_of": now,
        "total": sum(n for _, n in ordered),
        "segments": [{"value": v, "count": n} for v, n in ordered],
    }


@router.get(
    "/segments/leads",
    summary="The leads of a segment: keyset pages, or the whole set as CSV",
    description=LEADS_DESCRIPTION,
    response_model=SegmentLeadsOut,
    responses={
        200: {
            "description": "A page of leads (JSON), or the whole set (`format=csv`)",
            "content": {
                "application/json": {"example": R.SEGMENT_LEADS},
                "text/csv": {"schema": {"type": "string"}, "example": R.SEGMENT_CSV},
            },
        },
        **R.REPORT,
    },
)
async def segment_leads(
    request: Request,
    response: Response,
    ctx: RouterCtx,
    limit: Annotated[int | None, Query(ge=1, le=PAGE_MAX, description="leads per page")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the page before")] = None,
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Any:
    custom = ctx.settings.router_segment_custom_fields
    filters = checked(
        parse_filters,
        request.query_params.multi_items(),
        custom,
        others=("limit", "cursor", "format"),
    )
    if output == "csv":
        for name, value in (("limit", limit), ("cursor", cursor)):
            if value is not None:
                raise invalid_field(name, f"{name} pages JSON answers; format=csv is the whole set")
        now = ctx.clock()
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            _csv(ctx, filters, now),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="leads-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        )
    start = checked(decode_cursor, cursor, filters) if cursor is not None else None
    now = start.as_of if start is not None else ctx.clock()
    size = limit or PAGE_DEFAULT
    async with ctx.sessions() as session:
        leads = await ReportsRepository(session).segment_leads(
            filters, now, start.after if start is not None else None, size + 1
        )
    page, more = leads[:size], len(leads) > size
    next_cursor = (
        encode_cursor(Cursor(after=page[-1].id, as_of=now, filters=filters.fingerprint()))
        if more
        else None
    )
    response.headers["Cache-Control"] = "no-store"
    return {
        "as_of": now,
        "leads": [export_row(lead, now) for lead in page],
        "next_cursor": next_cursor,
    }


async def _csv(ctx: RouterContext, filters: SegmentFilters, now: datetime) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    after, rows = None, 0
    try:
        while True:
            async with ctx.sessions() as session:
                leads = await ReportsRepository(session).segment_leads(
                    filters, now, after, CSV_CHUNK_ROWS
                )
            for lead in leads:
                writer.writerow(csv_record(export_row(lead, now)))
            rows += len(leads)
            yield drain(buffer)
            if len(leads) < CSV_CHUNK_ROWS:
                break
            after = leads[-1].id
    except Exception as exc:
        # the client sees a cut transfer (no final chunk), never a short file that looks whole
        log.warning("router.segment_export_failed", rows=rows, error=type(exc).__name__)
        raise
    log.info("router.segment_exported", rows=rows, filters=_filter_names(filters))


def _filter_names(filters: SegmentFilters) -> list[str]:
    """Which filters an export used (their names only: values stay out of logs)."""
    names = [
        name
        for name, values in (
            ("inactivity", filters.inactivity),
            ("stage", filters.stages),
            ("campaign", filters.campaigns),
            ("form", filters.forms),
        )
        if values
    ]
    return names + [f"custom.{key}" for key, _ in filters.custom]
