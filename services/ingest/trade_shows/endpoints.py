"""Trade-show badge-scan imports (admin token)."""

from __future__ import annotations

import json
import zoneinfo
from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse

from services.ingest.context import IngestContext, get_context
from services.ingest.leads.endpoints import ERRORS
from services.ingest.sources.auth import require_admin
from services.ingest.trade_shows.service import ShowInfo, get_import, import_file
from shared.http import ApiError

router = APIRouter(prefix="/v1", tags=["trade shows"], dependencies=[Depends(require_admin)])


@router.post(
    "/trade-shows/{show}/imports",
    status_code=201,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Import a badge-scan CSV: every row validated and published like a web lead",
    description=(
        "multipart/form-data with `file` (CSV), `name`, `end_date` (YYYY-MM-DD), `timezone` (IANA) and "
        'optionally `mapping`, a JSON object from CSV header to lead field ("" drops a column). Common '
        "scanner headers are recognized. 201 with per-row results; uploading the same file again returns "
        "the first import (200, `Idempotent-Replayed: true`) and publishes nothing."
    ),
)
async def create_import(
    show: Annotated[
        str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="show slug, e.g. saastr-2026")
    ],
    file: Annotated[UploadFile, File(description="badge-scan CSV")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    end_date: Annotated[date, Form(description="last day of the show")],
    timezone: Annotated[str, Form(description="the show's IANA time zone")],
    mapping: Annotated[str | None, Form(description="JSON: CSV header -> lead field")] = None,
    ctx: IngestContext = Depends(get_context),
) -> JSONResponse:
    if timezone not in zoneinfo.available_timezones():
        raise ApiError(
            422,
            "validation_error",
            "invalid timezone",
            errors=[
                {"field": "timezone", "message": "must be an IANA time zone", "type": "value_error"}
            ],
        )
    overrides: dict[str, str] | None = None
    if mapping:
        try:
            overrides = json.loads(mapping)
        except json.JSONDecodeError:
            overrides = None
        if not isinstance(overrides, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in overrides.items()
        ):
            raise ApiError(
                422,
                "validation_error",
                "invalid mapping",
                errors=[
                    {
                        "field": "mapping",
                        "message": "must be a JSON object of strings",
                        "type": "value_error",
                    }
                ],
            )
    raw = await file.read()
    result, replayed = await import_file(
        ctx,
        ShowInfo(show_id=show, name=name, end_date=end_date, timezone=timezone),
        raw,
        file.filename,
        overrides,
    )
    return JSONResponse(
        result,
        status_code=200 if replayed else 201,
        headers={"Idempotent-Replayed": "true"} if replayed else {},
    )


@router.get("/imports/{import_id}", summary="An import's summary and per-row results")
async def read_import(
    import_id: UUID,
    status: Annotated[Literal["accepted", "rejected"] | None, Query()] = None,
    ctx: IngestContext = Depends(get_context),
) -> JSONResponse:
    return JSONResponse(await get_import(ctx, import_id, status))
