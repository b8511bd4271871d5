from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from services.ingest.context import IngestContext, get_context
from services.ingest.leads import service
from services.ingest.leads.schemas import LeadIn
from services.ingest.sources.auth import SOURCE_HEADER, Authenticated, authenticate
from services.ingest.sources.redirects import redirect_location, see_other

router = APIRouter(prefix="/v1", tags=["leads"])


class LeadAccepted(BaseModel):
    status: str = "accepted"
    lead_id: str
    event_id: str
    received_at: str
    purchased_list: bool


class Problem(BaseModel):
    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[dict[str, str]] | None = None


_lead_schema = LeadIn.model_json_schema(ref_template="#/components/schemas/{model}")
ERRORS = {
    400: {"model": Problem, "description": "No source named"},
    401: {
        "model": Problem,
        "description": "Unknown source; missing, wrong, stale or replayed signature",
    },
    403: {"model": Problem, "description": "Origin not allowed for this public source"},
    409: {"model": Problem, "description": "A request with this idempotency key is in flight"},
    413: {"model": Problem, "description": "Body over 64 KiB"},
    415: {"model": Problem, "description": "Neither JSON nor form-encoded"},
    422: {"model": Problem, "description": "Invalid lead: errors[].field names each problem"},
    429: {"model": Problem, "description": "Rate limit of a public source (Retry-After)"},
    503: {"model": Problem, "description": "Kafka unavailable: nothing accepted (Retry-After)"},
}


@router.post(
    "/leads",
    status_code=202,
    response_model=LeadAccepted,
    responses=ERRORS,  # type: ignore[arg-type]
    summary="Submit one lead (JSON or form-encoded)",
    description=(
        f"Name the source with the `{SOURCE_HEADER}` header or `?source=`. Signed sources carry Standard "
        "Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`); `webhook-id` is the "
        "idempotency key. Other sources may send `Idempotency-Key`. 202 means the lead is durable in Kafka; "
        "a retry with the same key returns the first response (header `Idempotent-Replayed: true`)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _lead_schema},
                "application/x-www-form-urlencoded": {"schema": _lead_schema},
            },
        }
    },
)
async def submit_lead(
    request: Request,
    auth: Authenticated = Depends(authenticate),
    ctx: IngestContext = Depends(get_context),
) -> Response:
    outcome = await service.submit_lead(ctx, auth, request.headers.get("content-type", ""))
    if (location := redirect_location(request, outcome.status)) is not None:
        return see_other(location, outcome.headers)  # a plain HTML form: its thank-you page
    return JSONResponse(outcome.body, status_code=outcome.status, headers=outcome.headers)
