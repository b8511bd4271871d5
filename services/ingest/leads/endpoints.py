from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.ingest.context import IngestContext, get_context
from services.ingest.leads import service
from services.ingest.leads.schemas import LeadIn
from services.ingest.problems import LEAD_ERRORS
from services.ingest.sources.auth import SOURCE_HEADER, Authenticated, authenticate
from services.ingest.sources.redirects import redirect_location, see_other
from shared.openapi import PUBLIC, SIGNED, header_ref, operation

router = APIRouter(prefix="/v1", tags=["leads"])


class LeadAccepted(BaseModel):
    """The lead is durable in Kafka."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "accepted",
                    "lead_id": "0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f",
                    "event_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
                    "received_at": "2026-11-23T14:05:00.123456+00:00",
                    "purchased_list": False,
                }
            ]
        }
    )

    status: str = "accepted"
    lead_id: str = Field(
        description="the submission's id (the router may merge it into a known lead)"
    )
    event_id: str = Field(description="the id of its leads.received.v1 (or leads.bulk.v1) event")
    received_at: str = Field(description="when ingest accepted it (ISO 8601)")
    purchased_list: bool = Field(
        description="a purchased-list name: nurtured, never routed to sales"
    )


_ACCEPTED = (
    "The lead is durable in Kafka. A retry with the same idempotency key (`webhook-id` for a "
    "signed source, `Idempotency-Key` otherwise) and the same body gets this first answer again "
    "with `Idempotent-Replayed: true` and publishes nothing; so does a signed request re-sent "
    "identically (same webhook-id, timestamp and signature) inside the 5-minute tolerance."
)
_SEE_OTHER = (
    "A plain HTML form (`application/x-www-form-urlencoded`, no JSON `Accept`) posting to a "
    "public source with thank-you and error pages configured is redirected: to the thank-you "
    "page when the lead is accepted (or its accepted first try is replayed), or to the error "
    "page with a `reason` query parameter saying why: `invalid` (any 422; `fields` then names "
    "the offending form fields, comma separated, never their values), `rate_limited` (429) or "
    "`unavailable` (503). Authentication and origin failures, 413 and 415 stay problem "
    "documents. No body. JSON clients (a JSON body, or an `Accept` naming JSON), and sources "
    "without those pages, get the other answers unchanged."
)


@router.post(
    "/leads",
    status_code=202,
    response_model=LeadAccepted,
    responses={
        202: {
            "description": _ACCEPTED,
            "headers": {"Idempotent-Replayed": header_ref("Idempotent-Replayed")},
        },
        303: {"description": _SEE_OTHER, "headers": {"Location": header_ref("Location")}},
        **LEAD_ERRORS,
    },
    summary="Submit one lead (JSON or form-encoded)",
    description=(
        f"Name the source with the `{SOURCE_HEADER}` header or `?source=`. Signed sources carry "
        "Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`); "
        "`webhook-id` is the idempotency key. Public sources are checked by `Origin`, a honeypot "
        "field and a per-client rate limit, and may send `Idempotency-Key`. 202 means the lead is "
        "durable in Kafka; a retry with the same key returns the first response (header "
        "`Idempotent-Replayed: true`). A retry of a refused request with the same key gets the "
        "same stored 422. A browser form of a public source with thank-you and error pages "
        "configured is answered with a 303 redirect instead (see 303)."
    ),
    openapi_extra=operation(
        security=SIGNED + PUBLIC,
        body=LeadIn,
        media_types=("application/json", "application/x-www-form-urlencoded"),
        body_description=(
            "The lead as JSON, or as form fields (`custom[key]=value` for custom fields)."
        ),
    ),
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
