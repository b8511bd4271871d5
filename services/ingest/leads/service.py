"""Turning one accepted submission into a ``leads.received.v1`` (web) or ``leads.bulk.v1``
(purchased list, trade show) event, published once."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.ingest import metrics
from services.ingest.context import IngestContext
from services.ingest.domain.ids import stable_id
from services.ingest.idempotency.service import (
    Acceptance,
    Outcome,
    ReplayedRefusal,
    accept_once,
    refuse_once,
)
from services.ingest.leads.schemas import LeadInvalid, form_to_fields, validate_lead
from services.ingest.sources.auth import Authenticated
from shared.domain.contact import match_key
from shared.events.envelope import make_event
from shared.events.models import LeadData, LeadReceived, SourceRef, TradeShowRef
from shared.events.registry import LEAD_RECEIVED, LEAD_RECEIVED_BULK, EventType
from shared.http import ApiError
from shared.kafka.producer import Message

CHANNEL_BY_KIND = {"signed": "web", "public": "web", "list": "purchased_list"}


def parse_body(auth: Authenticated, content_type: str) -> dict[str, Any]:
    """JSON object or urlencoded form -> lead fields (honeypot checked for public sources)."""
    media = content_type.split(";")[0].strip().lower()
    honeypot = auth.source.config.honeypot_field
    if media == "application/json":
        try:
            fields = json.loads(auth.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LeadInvalid(
                [
                    {
                        "field": "body",
                        "message": f"body is not valid JSON: {exc}",
                        "type": "json_invalid",
                    }
                ]
            ) from None
        if not isinstance(fields, dict):
            raise LeadInvalid(
                [{"field": "body", "message": "body must be a JSON object", "type": "json_type"}]
            )
    elif media == "application/x-www-form-urlencoded":
        fields = form_to_fields(auth.body)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
            errors=[
                {
                    "field": "Content-Type",
                    "message": f"{media or '(none)'} is not accepted",
                    "type": "media_type",
                }
            ],
        )
    if honeypot is not None and honeypot in fields:
        if fields.pop(honeypot) not in (None, ""):
            raise LeadInvalid(
                [
                    {
                        "field": honeypot,
                        "message": "this field must be left empty",
                        "type": "honeypot",
                    }
                ]
            )
    return fields


def lane(channel: str) -> EventType:
    """Web leads travel on the fast lane (leads.received.v1); trade-show rows and purchased
    lists on the bulk lane (leads.bulk.v1), which the router consumes apart, so a large
    import never delays a web lead."""
    return LEAD_RECEIVED if channel == "web" else LEAD_RECEIVED_BULK


def received_event(
    *,
    lead: LeadData,
    source: SourceRef,
    channel: str,
    lead_id: uuid.UUID,
    event_id: str,
    received_at: datetime,
    trade_show: TradeShowRef | None = None,
) -> Message:
    """The event of one accepted submission, on its channel's lane (topic without prefix)."""
    key = match_key(lead.email, lead.phone, str(lead_id))
    data = LeadReceived(
        lead_id=lead_id,
        match_key=str(key),
        source=source,
        channel=channel,  # type: ignore[arg-type]
        purchased_list=channel == "purchased_list",
        received_at=received_at,
        lead=lead,
        trade_show=trade_show,
    )
    event = make_event(
        id=event_id,
        type=LEAD_RECEIVED.type,
        source=f"/leadflow/ingest/sources/{source.id}",
        subject=str(lead_id),
        data=data,
        time=received_at,
    )
    return (lane(channel).topic, str(key).encode(), event, ())


async def submit_lead(ctx: IngestContext, auth: Authenticated, content_type: str) -> Outcome:
    source = auth.source
    channel = CHANNEL_BY_KIND[source.kind]
    metrics.LEADS_RECEIVED.labels(source.kind, channel).inc()
    now = ctx.clock()
    try:
        lead = validate_lead(parse_body(auth, content_type))
    except (LeadInvalid, ApiError) as exc:
        refusal = _refusal(exc)
        try:
            return await refuse_once(ctx, auth, now, refusal)
        except ReplayedRefusal:
            raise
        except ApiError as err:
            reason = _content_reason(exc) if err is refusal else _reason(err)
            metrics.LEADS_REJECTED.labels(source.kind, reason).inc()
            raise

    def acceptance(seed: str | None) -> Acceptance:
        lead_id = stable_id(source.id, seed, "lead") if seed else uuid.uuid4()
        event_id = str(stable_id(source.id, seed, "event")) if seed else str(uuid.uuid4())
        topic, *rest = received_event(
            lead=lead,
            source=SourceRef(id=source.id, kind=source.kind),
            channel=channel,
            lead_id=lead_id,
            event_id=event_id,
            received_at=now,
        )
        body = {
            "status": "accepted",
            "lead_id": str(lead_id),
            "event_id": event_id,
            "received_at": now.isoformat(),
            "purchased_list": channel == "purchased_list",
        }
        return Acceptance(202, body, [(ctx.settings.topic(topic), *rest)])  # type: ignore[list-item]

    try:
        outcome = await accept_once(ctx, auth, now, acceptance)
    except ReplayedRefusal:
        raise
    except ApiError as exc:
        metrics.LEADS_REJECTED.labels(source.kind, _reason(exc)).inc()
        raise
    if not outcome.replayed:
        metrics.LEADS_ACCEPTED.labels(source.kind, channel).inc()
    return outcome


def _refusal(exc: LeadInvalid | ApiError) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    names = ", ".join(e["field"] for e in exc.errors)
    return ApiError(422, "validation_error", f"invalid lead: {names}", errors=exc.errors)


def _content_reason(exc: LeadInvalid | ApiError) -> str:
    if isinstance(exc, LeadInvalid) and any(e.get("type") == "honeypot" for e in exc.errors):
        return "honeypot"
    return "validation"


def _reason(answered: ApiError) -> str:
    """The rejection counter's reason for a valid request that was not accepted."""
    if answered.code in ("kafka_unavailable", "database_unavailable"):
        return answered.code
    return "idempotency"
