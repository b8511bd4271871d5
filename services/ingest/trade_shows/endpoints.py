"""Trade-show badge-scan imports (a token with the import scope): an import job like a purchased list's."""

from __future__ import annotations

import zoneinfo
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, UploadFile
from fastapi.responses import JSONResponse

from services.ingest.context import IngestContext, get_context
from services.ingest.domain.jobs import ImportKind
from services.ingest.imports.batch import Show
from services.ingest.imports.endpoints import MAPPING_HELP, UPLOAD_ANSWERS, upload
from services.ingest.imports.schemas import ImportJobOut
from services.ingest.imports.service import Target
from services.ingest.problems import TRADE_SHOW_IMPORT_ERRORS
from shared.credentials import ImportPrincipal
from shared.http import invalid_field

router = APIRouter(prefix="/v1", tags=["trade shows"])


@router.post(
    "/trade-shows/{show}/imports",
    status_code=202,
    response_model=ImportJobOut,
    responses={**UPLOAD_ANSWERS, **TRADE_SHOW_IMPORT_ERRORS},
    operation_id="importTradeShow",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "example": {
                        "file": "Email,First Name,Company,Notes\nada@example.com,Ada,Analytical Engines,demo\n",
                        "name": "SaaStr 2026",
                        "end_date": "2026-09-10",
                        "timezone": "America/Los_Angeles",
                        "mapping": '{"Notes": ""}',
                    }
                }
            }
        }
    },
    summary="Import a badge-scan CSV as a background job: every row validated and published like a web lead",
    description=(
        "multipart/form-data with `file` (CSV), `name`, `end_date` (YYYY-MM-DD), `timezone` (IANA) and "
        'optionally `mapping`, a JSON object from CSV header to lead field ("" drops a column). Common '
        "scanner headers are recognized. 202 at once with the queued job (and its `Location`); a worker "
        "publishes the good rows to leads.bulk.v1. Follow it at `GET /v1/imports/{id}`, which has the "
        "per-row results. Uploading the same file for the same show again returns the first job (200, "
        "`Idempotent-Replayed: true`) and publishes nothing."
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
    principal: ImportPrincipal,
    mapping: Annotated[str | None, Form(description=MAPPING_HELP)] = None,
    ctx: IngestContext = Depends(get_context),
) -> JSONResponse:
    if timezone not in zoneinfo.available_timezones():
        raise invalid_field("timezone", "must be an IANA time zone")
    target = Target(
        kind=ImportKind.trade_show,
        show=Show(show_id=show, name=name, end_date=end_date, timezone=timezone),
    )
    return await upload(ctx, target, file, mapping, principal)
