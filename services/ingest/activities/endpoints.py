"""``POST /v1/leads/{lead_id}/activities``: touches, replies, opens, bounces... -> leads.activity.v1."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.ingest import metrics
from services.ingest.activities.schemas import ActivityIn
from services.ingest.context import IngestContext, get_context
from services.ingest.domain.ids import stable_id
from services.ingest.idempotency.service import Acceptance, accept_once, refuse_once
from services.ingest.problems import ACTIVITY_ERRORS
from services.ingest.sources.auth import Authenticated, authenticate_signed
from shared.dispositions import Dispositions
from shared.events.envelope import make_event
from shared.events.models import ActivityReceived, SourceRef
from shared.events.registry import LEAD_ACTIVITY
from shared.http import ApiError, field_errors_from_pydantic, invalid_field
from shared.openapi import SIGNED, header_ref, operation

router = APIRouter(prefix="/v1", tags=["activities"])


class ActivityAccepted(BaseModel):
    """The activity is durable in Kafka (leads.activity.v1)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "accepted",
                    "activity_id": "3c9e1f0a-7b2d-4e8f-9a1c-5d6e7f8a9b0c",
                    "event_id": "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d",
                }
            ]
        }
    )

    status: str = "accepted"
    activity_id: str
    event_id: str = Field(description="the id of its leads.activity.v1 event")


def _parse(body: bytes, dispositions: Dispositions) -> ActivityIn:
    try:
        activity = ActivityIn.model_validate_json(body)
    except ValidationError as exc:
        errors = field_errors_from_pydantic(exc.errors(include_url=False))
        raise ApiError(
            422,
            "validation_error",
            "invalid activity: " + ", ".join(e["field"] for e in errors),
            errors=errors,
        ) from None
    if activity.reason is not None and dispositions.action(activity.reason) is None:
        allowed = ", ".join(dispositions.codes)
        raise invalid_field("reason", f"unknown reason {activity.reason!r}; allowed: {allowed}")
    return activity


@router.post(
    "/leads/{lead_id}/activities",
    status_code=202,
    response_model=ActivityAccepted,
    responses={
        202: {
            "description": "The activity is durable in Kafka. A retry with the same webhook-id "
            "and body, or the identical signed request re-sent inside the tolerance, gets this "
            "first answer with `Idempotent-Replayed: true` and publishes nothing.",
            "headers": {"Idempotent-Replayed": header_ref("Idempotent-Replayed")},
        },
        **ACTIVITY_ERRORS,
    },
    summary="Report an activity or a sales status on a lead (signed sources only)",
    description=(
        "Touches, replies, opens, clicks, page visits, unsubscribes, opt-ins (marketing "
        "consent, optionally for one consent_channel) and bounces; and the sales "
        "status a sales tool sets: working (contacted), qualified (an opportunity), "
        "disqualified with a reason code of the dispositions file, converted. The lead is "
        "named by its lead id or by the submission id ingest answered. Statuses are applied "
        "in occurred_at order: an older report never overrides a newer one."
    ),
    openapi_extra=operation(security=SIGNED, body=ActivityIn),
)
async def post_activity(
    lead_id: uuid.UUID,
    auth: Authenticated = Depends(authenticate_signed),
    ctx: IngestContext = Depends(get_context),
) -> JSONResponse:
    now = ctx.clock()
    source = auth.source
    try:
        activity = _parse(auth.body, ctx.dispositions)
    except ApiError as refusal:
        outcome = await refuse_once(ctx, auth, now, refusal)
        return JSONResponse(outcome.body, status_code=outcome.status, headers=outcome.headers)

    def acceptance(seed: str | None) -> Acceptance:
        activity_id = stable_id(source.id, seed, "activity") if seed else uuid.uuid4()
        event_id = str(stable_id(source.id, seed, "activity-event")) if seed else str(uuid.uuid4())
        data = ActivityReceived(
            activity_id=activity_id,
            lead_id=lead_id,
            kind=activity.kind,
            touch_channel=activity.touch_channel,
            bounce_type=activity.bounce_type,
            rep_id=activity.rep_id,
            occurred_at=activity.occurred_at or now,
            received_at=now,
            source=SourceRef(id=source.id, kind=source.kind),
            url=activity.url,
            metadata=activity.metadata,
            reason=activity.reason,
            duplicate_of=activity.duplicate_of,
            consent_channel=activity.consent_channel,
        )
        event = make_event(
            id=event_id,
            type=LEAD_ACTIVITY.type,
            source=f"/leadflow/ingest/sources/{source.id}",
            subject=str(lead_id),
            data=data,
            time=now,
        )
        message = (ctx.settings.topic(LEAD_ACTIVITY.topic), str(lead_id).encode(), event, ())
        body = {"status": "accepted", "activity_id": str(activity_id), "event_id": event_id}
        return Acceptance(202, body, [message])

    outcome = await accept_once(ctx, auth, now, acceptance)
    if not outcome.replayed:
        metrics.ACTIVITIES.labels(activity.kind.value).inc()
    return JSONResponse(outcome.body, status_code=outcome.status, headers=outcome.headers)
