"""Erasure in delivery: a ``leads.erasure.v1`` event erases, in the transaction that stores
it, the stored events about the erased leads (their ``lead_id`` is one of the event's
``lead_id``/``lead_ids``, or their data names one of its ``submission_ids`` or, for a merge,
the other lead): the payload keeps the CloudEvent's envelope (id, type, time, subject,
``leadsequence``) and its data becomes ``{"erased": true}``, ``erased_at`` is set; their
pending deliveries are skipped (reason ``erased``); their attempts' response excerpts are
blanked. Every erased lead id and submission id is kept in ``erased_ref``: an event about
one of them that arrives later is stored already erased and not delivered
(:func:`refers_to_erased`). The erasure event itself is then stored and fanned out like any other, so an
endpoint subscribed to ``io.leadflow.lead.erased.v1`` receives it. Idempotent: the erasure
event is processed once (its id in ``processed_event``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery import metrics
from shared.events.models import LeadErased
from shared.logging import get_logger

log = get_logger(__name__)
ERASED_DATA = {"erased": True}
KEPT_ATTRIBUTES = (
    "specversion", "id", "source", "type", "time", "subject", "datacontenttype", "leadsequence",
)  # fmt: skip

_ERASE_EVENTS = text(
    "UPDATE delivery.event ev SET erased_at = :now, payload = jsonb_strip_nulls(jsonb_build_object("
    + ", ".join(f"'{a}', ev.payload->'{a}'" for a in KEPT_ATTRIBUTES)
    + ")) || jsonb_build_object('data', CAST(:erased AS jsonb)) "
    "WHERE ev.erased_at IS NULL AND (ev.lead_id = ANY(:leads) "
    " OR ev.payload->'data'->>'submission_id' = ANY(:subs)"
    " OR ev.payload->'data'->>'other_lead_id' = ANY(:lead_texts)"
    " OR (jsonb_typeof(ev.payload->'data'->'submission_ids') = 'array'"
    "     AND ev.payload->'data'->'submission_ids' ?| CAST(:subs AS text[]))) "
    "RETURNING ev.id"
)
_SKIP = text(
    "UPDATE delivery.delivery d SET state = 'skipped', skipped_reason = 'erased', "
    "finished_at = :now, next_attempt_at = NULL, leased_until = NULL FROM delivery.event ev "
    "WHERE d.event_id = ANY(:events) AND d.state = 'pending' AND ev.id = d.event_id "
    "RETURNING ev.type"
)
_REMEMBER = text(
    "INSERT INTO delivery.erased_ref (ref, erasure_id, erased_at) "
    "SELECT r, :erasure, :now FROM unnest(CAST(:refs AS uuid[])) AS r "
    "ON CONFLICT (ref) DO NOTHING"
)
_ERASED_REFS = text("SELECT 1 FROM delivery.erased_ref WHERE ref = ANY(:refs) LIMIT 1")
_BLANK = text(
    "UPDATE delivery.attempt SET response_excerpt = NULL "
    "WHERE event_id = ANY(:events) AND response_excerpt IS NOT NULL"
)


async def erase(session: AsyncSession, data: LeadErased, now: datetime) -> int:
    """Erase the stored events about the erased leads in the caller's transaction (which
    marked the erasure event processed). Returns how many events were erased."""
    leads: list[uuid.UUID] = sorted({data.lead_id, *data.lead_ids})
    subs = sorted(str(s) for s in data.submission_ids)
    erased = (
        (
            await session.execute(
                _ERASE_EVENTS,
                {
                    "now": now,
                    "erased": '{"erased": true}',
                    "leads": leads,
                    "subs": subs,
                    "lead_texts": [str(i) for i in leads],
                },
            )
        )
        .scalars()
        .all()
    )
    await session.execute(
        _REMEMBER,
        {"erasure": data.erasure_id, "now": now, "refs": [*leads, *data.submission_ids]},
    )
    skipped: list[str] = []
    if erased:
        skipped = list(
            (await session.execute(_SKIP, {"now": now, "events": list(erased)})).scalars()
        )
        await session.execute(_BLANK, {"events": list(erased)})
    metrics.count_skipped(session, skipped)
    log.info(
        "delivery.erased", erasure_id=str(data.erasure_id), events=len(erased), skipped=len(skipped)
    )
    return len(erased)


def refs_of(data: Any) -> list[uuid.UUID]:
    """The lead and submission ids an event's data names (``lead_id``, ``other_lead_id``,
    ``submission_id``, ``submission_ids``)."""
    if not isinstance(data, dict):
        return []
    values: list[Any] = [data.get(k) for k in ("lead_id", "other_lead_id", "submission_id")]
    more = data.get("submission_ids")
    if isinstance(more, list):
        values.extend(more)
    refs = []
    for value in values:
        try:
            refs.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return refs


async def refers_to_erased(session: AsyncSession, data: Any) -> bool:
    """Whether an event's data names a lead or submission an earlier erasure erased."""
    refs = refs_of(data)
    return bool(refs) and bool(await session.scalar(_ERASED_REFS, {"refs": refs}))


def erased_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload as erasure leaves it (as ``_ERASE_EVENTS`` does): the kept envelope
    attributes, data ``{"erased": true}``."""
    kept = {a: payload[a] for a in KEPT_ATTRIBUTES if payload.get(a) is not None}
    return {**kept, "data": dict(ERASED_DATA)}
