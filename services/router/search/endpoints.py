"""Token-protected lead search (keyset pages, or the whole matching set as streamed CSV) and
the fallback queue in drain order. Leads carry personal data: they leave only through these
read-scope endpoints, and nothing of them is logged (filter names only)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.router.admin import responses as R
from services.router.admin.endpoints import get_context, read
from services.router.admin.params import checked, drain
from services.router.context import RouterContext
from services.router.domain.params import refuse_control_characters
from services.router.domain.search import (
    LIMIT_DEFAULT,
    LIMIT_MAX,
    SUMMARY_FIELDS,
    LeadSearch,
    csv_record,
    decode_cursor,
    encode_cursor,
    parse_search,
    summary,
    wants_count,
)
from services.router.domain.segments import MAX_VALUE_CHARS
from services.router.search.repository import (
    Export,
    open_export,
    queue_page,
    search_count,
    search_page,
)
from services.router.search.schemas import LeadSearchOut, QueueOut
from shared.http import invalid_field
from shared.logging import get_logger
from shared.openapi import ok

log = get_logger(__name__)
router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(read)])
RouterCtx = Annotated[RouterContext, Depends(get_context)]

# Rows per read while a CSV streams (keyset chunks of one snapshot transaction).
CSV_CHUNK_ROWS = 1000
QUEUE_PAGE_DEFAULT = 100
QUEUE_PAGE_MAX = 500

SEARCH_DESCRIPTION = f"""
Find leads (personal data: a token with the read scope). Filters, each repeatable where it
names a value (`status=new&status=queued`: any of them); all filters given must hold:
- `status` (new, assigned, queued, nurture, opportunity, converted, disqualified, recycled,
  merged, erased), `stage` (lifecycle stage), `temperature` (hot, warm, cold);
- `owner` (rep id), `team`, `queue` (queue name), `campaign` — `(none)` selects leads without
  one; `source` (source id), `channel`;
- `queued=true|false`: waiting in the fallback queue (status queued) or not;
- `received_from`/`received_to`, `updated_from`/`updated_to`: ISO 8601 instants with offset,
  `[from, to)`;
- `q`: a case-insensitive prefix of the full name, last name, email or company.

An unknown parameter or a value a filter cannot take is a 422 naming it.

**JSON** (default): `limit` leads (default {LIMIT_DEFAULT}, at most {LIMIT_MAX}), newest
first (`received_at`, then id, descending), and an opaque `next_cursor`: pass it as `cursor`
with the same filters for the next page (null on the last). A cursor from another search is a
422 naming `cursor`. `count=true` adds `total`, the number of matching leads.

**CSV** (`Accept: text/csv`): every matching lead (no `limit`, `cursor` or `count`), streamed
in chunks of {CSV_CHUNK_ROWS} read by keyset inside one REPEATABLE READ READ ONLY transaction,
so the file is one consistent snapshot. A header row first; a cell a spreadsheet would run as
a formula starts with `'`. `X-Total-Count` holds the number of leads in the file (counted in
the same snapshot; for a progress bar: `leadflow leads export`).
"""

QUEUE_DESCRIPTION = """
The fallback queue (leads with status `queued`) in the order the router drains it: SQL leads
first, then hot ones, then the oldest (the drain's own ordering). `position` counts over the
whole queue (1 drains first); `team` (repeatable, `(none)` for leads without a team) narrows
the list, not the positions. Pages by `offset` and `limit` (default 100, at most 500).
"""

Many = Annotated[list[str] | None, Query(max_length=MAX_VALUE_CHARS)]
One = Annotated[str | None, Query()]


def _wants_csv(request: Request) -> bool:
    return any(
        part.split(";")[0].strip().lower() == "text/csv"
        for part in request.headers.get("accept", "").split(",")
    )


@router.get(
    "/leads",
    summary="Search leads: keyset pages, or every matching lead as streamed CSV",
    description=SEARCH_DESCRIPTION,
    response_model=LeadSearchOut,
    responses={
        200: {
            "description": "A page of leads (JSON), or all of them (`Accept: text/csv`)",
            "headers": {
                "X-Total-Count": {
                    "description": "CSV only: the number of leads in the file",
                    "schema": {"type": "integer"},
                }
            },
            "content": {
                "application/json": {"example": R.LEAD_SEARCH},
                "text/csv": {"schema": {"type": "string"}, "example": R.LEAD_SEARCH_CSV},
            },
        },
        **R.SEARCH,
    },
)
async def search_leads(
    request: Request,
    response: Response,
    ctx: RouterCtx,
    status: Many = None,
    stage: Many = None,
    owner: Many = None,
    team: Many = None,
    queue: Many = None,
    temperature: Many = None,
    source: Many = None,
    channel: Many = None,
    campaign: Many = None,
    queued: Annotated[str | None, Query(description="true: in the queue; false: not")] = None,
    received_from: One = None,
    received_to: One = None,
    updated_from: One = None,
    updated_to: One = None,
    q: Annotated[str | None, Query(description="prefix of name, email or company")] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=LIMIT_MAX, description=f"leads per page (default {LIMIT_DEFAULT})"),
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the page before")] = None,
    count: Annotated[
        str | None, Query(description="true: the page carries total, the matching leads")
    ] = None,
) -> Any:
    params = request.query_params.multi_items()
    search, cursor_text = checked(parse_search, params)
    if _wants_csv(request):
        for name in ("limit", "cursor", "count"):
            if request.query_params.get(name) is not None:
                raise invalid_field(name, f"{name} pages JSON answers; CSV is the whole set")
        # counted inside the export's snapshot: the header is the number of rows in the file
        export = await open_export(ctx.engine, search, CSV_CHUNK_ROWS)
        stamp = ctx.clock().strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            _csv(export, search),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="leads-{stamp}.csv"',
                "Cache-Control": "no-store",
                "X-Total-Count": str(export.total),
            },
            background=BackgroundTask(export.aclose),  # a no-op once the rows were all read
        )
    after = checked(decode_cursor, cursor_text, search) if cursor_text is not None else None
    with_total = checked(wants_count, params)
    async with ctx.sessions() as session:
        rows = await search_page(session, search, after, search.limit + 1)
        total = await search_count(session, search) if with_total else None
    page, more = rows[: search.limit], len(rows) > search.limit
    response.headers["Cache-Control"] = "no-store"
    return {
        "items": [summary(r) for r in page],
        "next_cursor": encode_cursor(page[-1].key, search) if more else None,
        "total": total,
    }


async def _csv(export: Export, search: LeadSearch) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SUMMARY_FIELDS)
    rows = 0
    try:
        yield drain(buffer)
        # closed as soon as this generator is (a client gone midway): the snapshot's connection
        # goes back to the pool then, not when the garbage collector gets to it
        async with aclosing(export.chunks()) as chunks:
            async for chunk in chunks:
                for row in chunk:
                    writer.writerow(csv_record(summary(row)))
                rows += len(chunk)
                yield drain(buffer)
    except Exception as exc:
        # the client sees a cut transfer (no final chunk), never a short file that looks whole
        log.warning("router.lead_export_failed", rows=rows, error=type(exc).__name__)
        raise
    finally:
        await export.aclose()
    log.info("router.leads_exported", rows=rows, filters=search.filter_names())


@router.get(
    "/queue",
    summary="The fallback queue in the order it drains",
    description=QUEUE_DESCRIPTION,
    response_model=QueueOut,
    responses={200: ok(R.QUEUE), **R.LIST_QUEUE},
)
async def list_queue(
    response: Response,
    ctx: RouterCtx,
    team: Many = None,
    offset: Annotated[int, Query(ge=0, description="entries to skip")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=QUEUE_PAGE_MAX, description="entries per page")
    ] = QUEUE_PAGE_DEFAULT,
) -> dict[str, Any]:
    teams = [t.strip() for t in team or []]
    if any(not t for t in teams):
        raise invalid_field("team", "team must not be empty")
    for t in teams:
        checked(refuse_control_characters, "team", t)
    async with ctx.sessions() as session:
        total, entries = await queue_page(session, teams, offset, limit)
    response.headers["Cache-Control"] = "no-store"
    return {
        "total": total,
        "items": [
            {
                "position": e.position,
                "lead_id": str(e.lead_id),
                "team": e.team,
                "queue": e.queue,
                "reason": e.reason,
                "queued_at": e.queued_at,
                "temperature": e.temperature,
                "stage": e.stage,
                "lifecycle_stage": e.lifecycle_stage,
                "score": e.score,
                "received_at": e.received_at,
            }
            for e in entries
        ],
        "next_offset": offset + len(entries) if offset + len(entries) < total else None,
    }
