"""Import jobs over HTTP (a token with the `import` scope; `read` may follow them): upload a purchased list; follow, page through and
cancel any import (lists and trade shows alike)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse

from services.ingest.context import IngestContext, get_context
from services.ingest.domain.jobs import ImportKind
from services.ingest.imports.schemas import ImportJobOut, ImportJobWithRows
from services.ingest.imports.service import Target, cancel_job, create_job, get_job, job_out
from services.ingest.models import ImportJob
from services.ingest.problems import (
    CANCEL_IMPORT_ERRORS,
    LIST_IMPORT_ERRORS,
    READ_IMPORT_ERRORS,
)
from shared.auth import Principal
from shared.credentials import ImportPrincipal, needs_import_or_read
from shared.http import ApiError
from shared.openapi import header_ref

router = APIRouter(prefix="/v1", tags=["imports"])

# The answers of an upload besides its problems: the queued job, or an identical earlier one.
UPLOAD_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ImportJobOut,
        "description": "The same file was uploaded before (with the same target and mapping): "
        "its job, and nothing is published again",
        "headers": {
            "Location": header_ref("Location"),
            "Idempotent-Replayed": header_ref("Idempotent-Replayed"),
        },
    },
    202: {"description": "The job is queued", "headers": {"Location": header_ref("Location")}},
}
MAX_PAGE = 10_000
MAPPING_HELP = 'JSON: CSV header -> lead field ("" drops a column)'


def parse_mapping(mapping: str | None) -> dict[str, str] | None:
    if not mapping:
        return None
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
    return overrides


def job_response(ctx: IngestContext, job: ImportJob, replayed: bool) -> JSONResponse:
    """202 with a new job, 200 with the first job of an identical earlier upload."""
    headers = {"Location": f"/v1/imports/{job.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(
        job_out(ctx, job).model_dump(mode="json", by_alias=True),
        status_code=200 if replayed else 202,
        headers=headers,
    )


async def upload(
    ctx: IngestContext, target: Target, file: UploadFile, mapping: str | None, actor: Principal
) -> JSONResponse:
    overrides = parse_mapping(mapping)
    job, replayed = await create_job(ctx, target, file.file, file.filename, overrides, actor)
    return job_response(ctx, job, replayed)


@router.post(
    "/lists/{list}/imports",
    status_code=202,
    response_model=ImportJobOut,
    responses={**UPLOAD_ANSWERS, **LIST_IMPORT_ERRORS},
    operation_id="importList",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "example": {
                        "file": "email,first_name,company\nada@example.com,Ada,Analytical Engines\n",
                        "mapping": '{"Firma": "company", "Notes": ""}',
                    }
                }
            }
        }
    },
    summary="Import a purchased-list CSV as a background job",
    description=(
        "multipart/form-data with `file` (CSV, up to 1,000,000 rows) and optionally `mapping`, "
        'a JSON object from CSV header to lead field ("" drops a column); common headers are '
        "recognized. `list` is a source of kind `list`. 202 at once with the queued job (and its "
        "`Location`); a worker validates every row like a web lead and publishes the good ones to "
        "leads.bulk.v1 as purchased-list names. Follow it at `GET /v1/imports/{id}`. Uploading the "
        "same file for the same list again returns the first job (200, `Idempotent-Replayed: true`)."
    ),
)
async def create_list_import(
    list_id: Annotated[
        str, Path(alias="list", description="the id of a `list` source, e.g. purchased-lists")
    ],
    file: Annotated[UploadFile, File(description="purchased-list CSV")],
    principal: ImportPrincipal,
    mapping: Annotated[str | None, Form(description=MAPPING_HELP)] = None,
    ctx: IngestContext = Depends(get_context),
) -> JSONResponse:
    source = ctx.sources.get(list_id)
    if source is None:
        raise ApiError(
            404,
            "unknown_list",
            f"no list source {list_id!r} is configured",
            errors=[{"field": "list", "message": f"unknown list {list_id!r}", "type": "not_found"}],
        )
    if source.kind != "list":
        raise ApiError(
            422,
            "not_a_list",
            f"source {list_id!r} is a {source.kind} source, not a purchased list",
            errors=[
                {
                    "field": "list",
                    "message": f"{list_id!r} is not of kind list",
                    "type": "value_error",
                }
            ],
        )
    return await upload(
        ctx, Target(kind=ImportKind.list, list_id=list_id), file, mapping, principal
    )


@router.get(
    "/imports/{import_id}",
    response_model=ImportJobWithRows,
    responses=READ_IMPORT_ERRORS,
    operation_id="getImport",
    summary="An import job: status, progress and a page of its per-row results",
    description=(
        "Rows come in row order, `limit` at a time (`limit=0`: the job alone, for polling); "
        "`next_after` is the `after` of the next page. `status` keeps only accepted or rejected rows."
    ),
)
async def read_import(
    import_id: uuid.UUID,
    _principal: Annotated[Principal, Depends(needs_import_or_read)],
    status: Annotated[Literal["accepted", "rejected"] | None, Query()] = None,
    after: Annotated[int, Query(ge=0, description="rows after this row number")] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 1000,
    ctx: IngestContext = Depends(get_context),
) -> JSONResponse:
    page = await get_job(ctx, import_id, status=status, after=after, limit=limit)
    body = page.model_dump(mode="json", by_alias=True)
    body["rows"] = [r.model_dump(mode="json", exclude_none=True) for r in page.rows]
    return JSONResponse(body)


@router.delete(
    "/imports/{import_id}",
    response_model=ImportJobOut,
    responses=CANCEL_IMPORT_ERRORS,
    operation_id="cancelImport",
    summary="Cancel a queued or running import",
    description=(
        "The worker stops after the batch in flight; rows already published stay published and "
        "recorded. Cancelling a cancelled import answers it again. Uploading the same file again "
        "queues the job anew and it goes on where it stopped."
    ),
)
async def delete_import(
    import_id: uuid.UUID, principal: ImportPrincipal, ctx: IngestContext = Depends(get_context)
) -> JSONResponse:
    job = await cancel_job(ctx, import_id, principal)
    return JSONResponse(job_out(ctx, job).model_dump(mode="json", by_alias=True))
