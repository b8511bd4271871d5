"""Token-protected admin API of delivery: webhook endpoints (scope read to look, admin to
change), their secrets (admin only: a secret is shown on create, on rotate and by
``GET .../secrets``, never in a list, a log or the audit trail), attempts and deliveries,
replay of a time range and test-sends. Every change is recorded in the audit trail.

Deleting an endpoint deletes its secrets, deliveries and attempts with it."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select, text

from services.delivery import metrics
from services.delivery.api import responses as R
from services.delivery.api.schemas import EndpointIn, EndpointPatch, ReplayIn, RotateIn, TestIn
from services.delivery.audit import record_audit
from services.delivery.context import DeliveryContext
from services.delivery.dispatch import (
    SOURCE,
    Claimed,
    Sent,
    attempt_one,
    disable_endpoint,
    fail_test,
    host_of,
    record_test,
    resolve,
)
from services.delivery.domain import signing
from services.delivery.domain.outcome import Response as AttemptResponse
from services.delivery.domain.safety import address_problem, url_problem
from services.delivery.endpoints_repo import create_endpoint
from services.delivery.handlers import DELIVERABLE_TYPES
from services.delivery.models import Endpoint, EndpointSecret
from services.delivery.samples import sample
from shared.credentials import AdminPrincipal, needs_admin, needs_read
from shared.domain.instants import in_utc, parse_instant
from shared.events.envelope import make_event
from shared.events.registry import DELIVERY_ENDPOINT_DISABLED
from shared.http import ApiError, invalid_field
from shared.logging import get_logger
from shared.openapi import ok

log = get_logger(__name__)
router = APIRouter(prefix="/v1/admin/webhooks", tags=["webhooks"])
TEST_TOPIC = "test-send"  # the topic of stored test-send events (never replayed)
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
Outcome = Literal[
    "success", "http_error", "timeout", "connect_error", "refused_address", "gone", "throttled"
]
State = Literal["pending", "delivered", "failed", "skipped"]


async def get_context(request: Request) -> DeliveryContext:
    return request.app.state.delivery  # type: ignore[no-any-return]


Ctx = Annotated[DeliveryContext, Depends(get_context)]


# --- checks ---------------------------------------------------------------------------------


async def check_url(ctx: DeliveryContext, url: str) -> None:
    """A 422 naming ``url`` when delivery may not send to it (form, scheme, address class)."""
    policy = ctx.settings.address_policy()
    if problem := url_problem(url, policy):
        raise invalid_field("url", f"url: {problem}")
    parts = urlsplit(url)
    try:  # the host as the dispatcher sends it (httpx's IDNA, ASCII)
        host = host_of(url)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise invalid_field("url", "url: the URL's host is not a valid host name") from None
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = await asyncio.wait_for(
            resolve(host, port), ctx.settings.delivery_timeout_seconds
        )
    except (OSError, TimeoutError, UnicodeError, ValueError):
        addresses = []  # answered as "does not resolve" (unless the host is allow-listed)
    if problem := address_problem(host, addresses, policy):
        raise invalid_field("url", f"url: {problem}")


def check_types(types: Sequence[str], field: str = "event_types") -> list[str]:
    unknown = sorted(set(types) - DELIVERABLE_TYPES)
    if unknown:
        known = ", ".join(sorted(DELIVERABLE_TYPES))
        raise invalid_field(field, f"unknown event types: {', '.join(unknown)}; known: {known}")
    return list(dict.fromkeys(types))


def _utc(name: str, at: datetime) -> datetime:
    try:
        return in_utc(at)
    except ValueError as exc:
        raise invalid_field(name, f"{name} {exc}") from None


def _instant(name: str, value: str | None) -> datetime | None:
    """A query parameter's instant, in UTC (a ``+`` sent unescaped arrives as a space)."""
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise invalid_field(name, f"{name} {exc}") from None


def check_range(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` in UTC (each with an offset, within years 1..9999 in UTC),
    ``since`` before ``until``."""
    since = _utc("since", since) if since is not None else None
    until = _utc("until", until) if until is not None else None
    if since is not None and until is not None and since >= until:
        raise invalid_field("until", "until must be after since")
    return since, until


MAX_ID = 2**63 - 1  # bigint


def _cursor_id(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_ID:
        raise ValueError(text)
    return value


def endpoint_out(e: Endpoint) -> dict[str, Any]:
    return {
        "id": str(e.id), "url": e.url, "description": e.description,
        "event_types": list(e.event_types), "enabled": e.enabled,
        "disabled_reason": e.disabled_reason, "disabled_at": e.disabled_at,
        "failing_since": e.failing_since, "last_success_at": e.last_success_at,
        "created_at": e.created_at, "updated_at": e.updated_at,
    }  # fmt: skip


def _audited(e: Endpoint) -> dict[str, Any]:
    """What the audit trail keeps of an endpoint: no secret; the URL's host only (a URL
    may carry a token in its path or query)."""
    return {
        "host": urlsplit(e.url).hostname, "event_types": sorted(e.event_types),
        "enabled": e.enabled, "description_changed": None,
    }  # fmt: skip


async def _endpoint(session: Any, endpoint_id: uuid.UUID, *, lock: bool = False) -> Endpoint:
    endpoint = await session.get(Endpoint, endpoint_id, with_for_update=lock)
    if endpoint is None:
        raise ApiError(404, "not_found", f"delivery has no endpoint {endpoint_id}")
    return endpoint  # type: ignore[no-any-return]


def _cursor(kind: str, *parts: str) -> str:
    raw = "|".join((kind, *parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(kind: str, cursor: str) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_field("cursor", "not a cursor of this list") from None
    head, *parts = raw.split("|")
    if head != kind:
        raise invalid_field("cursor", "not a cursor of this list")
    return parts


# --- endpoints ------------------------------------------------------------------------------


@router.post(
    "/endpoints",
    status_code=201,
    dependencies=[Depends(needs_admin)],
    summary="Create a webhook endpoint; the answer carries its signing secret",
    responses={201: ok(R.CREATED, "Created"), **R.CREATE},
)
async def create_webhook_endpoint(
    body: EndpointIn, principal: AdminPrincipal, ctx: Ctx
) -> dict[str, Any]:
    types = check_types(body.event_types)
    await check_url(ctx, body.url)
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        created = await create_endpoint(
            session, body.url, types, now, description=body.description, enabled=body.enabled
        )
        e = created.endpoint
        if not body.enabled:
            e.disabled_reason, e.disabled_at = "operator", now
        await record_audit(
            session, principal, "endpoint.created", "endpoint", e.id, _audited(e) | {"description_changed": bool(body.description)}
        )  # fmt: skip
        out = endpoint_out(e) | {"secret": created.secret}
    return out


@router.get(
    "/endpoints",
    dependencies=[Depends(needs_read)],
    summary="The webhook endpoints (no secrets)",
    responses={200: ok(R.LIST), **R.READ},
)
async def list_webhook_endpoints(ctx: Ctx) -> dict[str, Any]:
    async with ctx.sessions() as session:
        rows = await session.scalars(select(Endpoint).order_by(Endpoint.created_at, Endpoint.id))
        return {"endpoints": [endpoint_out(e) for e in rows]}


@router.get(
    "/endpoints/{endpoint_id}",
    dependencies=[Depends(needs_read)],
    summary="One webhook endpoint (no secrets)",
    responses={200: ok(R.ENDPOINT), **R.GET},
)
async def get_webhook_endpoint(endpoint_id: uuid.UUID, ctx: Ctx) -> dict[str, Any]:
    async with ctx.sessions() as session:
        return endpoint_out(await _endpoint(session, endpoint_id))


@router.patch(
    "/endpoints/{endpoint_id}",
    dependencies=[Depends(needs_admin)],
    summary="Change an endpoint's URL, event types, description, or enable or disable it",
    responses={200: ok(R.ENDPOINT), **R.PATCH},
)
async def update_webhook_endpoint(
    endpoint_id: uuid.UUID, body: EndpointPatch, principal: AdminPrincipal, ctx: Ctx
) -> dict[str, Any]:
    types = check_types(body.event_types) if body.event_types is not None else None
    if body.url is not None:
        await check_url(ctx, body.url)
    now = ctx.clock()
    disabled = False
    async with ctx.sessions.begin() as session:
        e = await _endpoint(session, endpoint_id, lock=True)
        before = _audited(e)
        if body.url is not None:
            e.url = body.url
        unsubscribed: list[str] = []
        if types is not None:
            if set(types) != set(e.event_types):
                unsubscribed = await _skip_unsubscribed(session, e.id, types, now)
            e.event_types = types
        if body.description is not None:
            e.description = body.description
        e.updated_at = now
        if body.enabled is True and not e.enabled:
            e.enabled, e.disabled_reason, e.disabled_at, e.failing_since = True, None, None, None
        await session.flush()
        if body.enabled is False and e.enabled:
            await disable_endpoint(
                session, e.id, "operator", now, last_status_code=None,
                failing_since=e.failing_since, topic=DELIVERY_ENDPOINT_DISABLED.topic,
            )  # fmt: skip
            disabled = True
            await session.refresh(e)
        metrics.count_skipped(session, unsubscribed)
        after = _audited(e) | {"description_changed": body.description is not None or None}
        changes = {
            k: {"before": before.get(k), "after": v}
            for k, v in after.items()
            if v != before.get(k) and v is not None
        }
        if body.url is not None:
            changes.setdefault("url_changed", {"before": None, "after": True})
        await record_audit(session, principal, "endpoint.updated", "endpoint", e.id, changes)
        out = endpoint_out(e)
    if disabled:
        ctx.relay.notify()
    return out


async def _skip_unsubscribed(
    session: Any, endpoint_id: uuid.UUID, types: list[str], now: datetime
) -> list[str]:
    """Skip (reason ``unsubscribed``) the endpoint's pending deliveries of types it no longer
    takes; their types, one per delivery."""
    rows = await session.execute(
        text(
            "UPDATE delivery.delivery d SET state = 'skipped', skipped_reason = 'unsubscribed', "
            "finished_at = :now, next_attempt_at = NULL, leased_until = NULL "
            "FROM delivery.event ev WHERE d.endpoint_id = :e AND d.state = 'pending' "
            "AND d.origin <> 'test' AND ev.id = d.event_id AND NOT (ev.type = ANY(:types)) "
            "RETURNING ev.type"
        ),
        {"e": endpoint_id, "types": types, "now": now},
    )
    return list(rows.scalars())


@router.delete(
    "/endpoints/{endpoint_id}",
    status_code=204,
    dependencies=[Depends(needs_admin)],
    summary="Delete an endpoint with its secrets, deliveries and attempts",
    responses={204: {"description": "Deleted"}, **R.GET},
)
async def delete_webhook_endpoint(
    endpoint_id: uuid.UUID, principal: AdminPrincipal, ctx: Ctx
) -> Response:
    async with ctx.sessions.begin() as session:
        e = await _endpoint(session, endpoint_id, lock=True)
        await record_audit(session, principal, "endpoint.deleted", "endpoint", e.id, _audited(e))
        await session.delete(e)
    return Response(status_code=204)


# --- secrets --------------------------------------------------------------------------------


def _secret_out(s: EndpointSecret) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "secret": s.secret,
        "created_at": s.created_at,
        "expires_at": s.expires_at,
    }


@router.get(
    "/endpoints/{endpoint_id}/secrets",
    dependencies=[Depends(needs_admin)],
    summary="The endpoint's unexpired signing secrets (admin scope)",
    responses={200: ok(R.SECRETS), **R.GET},
)
async def list_webhook_secrets(endpoint_id: uuid.UUID, ctx: Ctx) -> dict[str, Any]:
    now = ctx.clock()
    async with ctx.sessions() as session:
        await _endpoint(session, endpoint_id)
        rows = (
            await session.execute(
                text(
                    "SELECT * FROM delivery.endpoint_secret WHERE endpoint_id = :id AND "
                    "(expires_at IS NULL OR expires_at > :now) "
                    "ORDER BY expires_at IS NOT NULL, expires_at DESC"
                ),
                {"id": endpoint_id, "now": now},
            )
        ).all()
    return {"secrets": [_secret_out(r) for r in rows]}  # type: ignore[arg-type]


@router.post(
    "/endpoints/{endpoint_id}/secrets/rotate",
    dependencies=[Depends(needs_admin)],
    summary="A new signing secret; the previous one keeps signing for the grace period",
    description="At most two secrets are unexpired: an older one still in its grace "
    "period expires at once.",
    responses={200: ok(R.ROTATED), **R.ROTATE},
)
async def rotate_webhook_secret(
    endpoint_id: uuid.UUID, principal: AdminPrincipal, ctx: Ctx, body: RotateIn | None = None
) -> dict[str, Any]:
    body = body or RotateIn()
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        e = await _endpoint(session, endpoint_id, lock=True)
        rows = (
            await session.execute(
                text("SELECT id, expires_at FROM delivery.endpoint_secret WHERE endpoint_id = :id"),
                {"id": e.id},
            )
        ).all()
        changes = signing.rotate(
            [(r.id, r.expires_at) for r in rows], now, timedelta(seconds=body.grace_seconds)
        )
        for key, expires in changes.items():
            await session.execute(
                text("UPDATE delivery.endpoint_secret SET expires_at = :at WHERE id = :id"),
                {"id": key, "at": expires},
            )
        new = EndpointSecret(
            id=uuid.uuid4(),
            endpoint_id=e.id,
            secret=signing.new_secret(),
            created_at=now,
            expires_at=None,
        )
        session.add(new)
        e.updated_at = now
        # the kept secret's expiry: the latest of the unexpired ones after the changes
        previous = max(
            (
                changes.get(r.id, r.expires_at)
                for r in rows
                if r.expires_at is None or r.expires_at > now
            ),
            default=None,
        )
        await record_audit(
            session, principal, "endpoint.secret_rotated", "endpoint", e.id,
            {"secret_id": str(new.id), "grace_seconds": body.grace_seconds},
        )  # fmt: skip
    return _secret_out(new) | {"previous_expires_at": previous}


# --- attempts and deliveries ----------------------------------------------------------------


def _attempt_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "delivery_id": r.delivery_id, "event_id": r.event_id, "event_type": r.type,
        "number": r.number, "started_at": r.started_at, "latency_ms": r.latency_ms,
        "status_code": r.status_code, "outcome": r.outcome,
        "response_excerpt": r.response_excerpt, "error": r.error,
    }  # fmt: skip


_ATTEMPT_COLUMNS = (
    "a.id, a.delivery_id, a.event_id, ev.type, a.number, a.started_at, a.latency_ms, "
    "a.status_code, a.outcome, a.response_excerpt, a.error"
)


@router.get(
    "/endpoints/{endpoint_id}/attempts",
    dependencies=[Depends(needs_read)],
    summary="The endpoint's delivery attempts, newest first",
    responses={200: ok(R.ATTEMPTS), **R.LIST_ATTEMPTS},
)
async def list_webhook_attempts(
    endpoint_id: uuid.UUID,
    ctx: Ctx,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="started at or after (ISO 8601 with offset)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=64,
            description="started before (ISO 8601 with offset)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> dict[str, Any]:
    since_at, until_at = check_range(_instant("since", since), _instant("until", until))
    where = ["a.endpoint_id = :e"]
    params: dict[str, Any] = {"e": endpoint_id, "limit": limit + 1}
    if since_at is not None:
        where.append("a.started_at >= :since")
        params["since"] = since_at
    if until_at is not None:
        where.append("a.started_at < :until")
        params["until"] = until_at
    if outcome is not None:
        where.append("a.outcome = :outcome")
        params["outcome"] = outcome
    if cursor is not None:
        parts = _uncursor("attempt", cursor)
        try:
            params["c_at"] = in_utc(datetime.fromisoformat(parts[0]))
            params["c_id"] = _cursor_id(parts[1])
        except (ValueError, IndexError):
            raise invalid_field("cursor", "not a cursor of this list") from None
        where.append("(a.started_at, a.id) < (:c_at, :c_id)")
    async with ctx.sessions() as session:
        await _endpoint(session, endpoint_id)
        rows = (
            await session.execute(
                text(
                    f"SELECT {_ATTEMPT_COLUMNS} FROM delivery.attempt a LEFT JOIN delivery.event ev "
                    f"ON ev.id = a.event_id WHERE {' AND '.join(where)} "
                    "ORDER BY a.started_at DESC, a.id DESC LIMIT :limit"
                ),
                params,
            )
        ).all()
    page = rows[:limit]
    next_cursor = (
        _cursor("attempt", page[-1].started_at.isoformat(), str(page[-1].id))
        if len(rows) > limit
        else None
    )
    return {"attempts": [_attempt_out(r) for r in page], "next_cursor": next_cursor}


def _delivery_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "event_id": r.event_id, "event_type": r.type, "origin": r.origin,
        "state": r.state, "attempts": r.attempts, "next_attempt_at": r.next_attempt_at,
        "created_at": r.created_at, "finished_at": r.finished_at,
        "skipped_reason": r.skipped_reason,
    }  # fmt: skip


_DELIVERY_SELECT = (
    "SELECT d.id, d.event_id, ev.type, d.origin, d.state, d.attempts, d.next_attempt_at, "
    "d.created_at, d.finished_at, d.skipped_reason FROM delivery.delivery d "
    "JOIN delivery.event ev ON ev.id = d.event_id "
)


@router.get(
    "/endpoints/{endpoint_id}/deliveries",
    dependencies=[Depends(needs_read)],
    summary="The endpoint's deliveries, newest first",
    responses={200: ok(R.DELIVERIES), **R.LIST_DELIVERIES},
)
async def list_webhook_deliveries(
    endpoint_id: uuid.UUID,
    ctx: Ctx,
    state: State | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> dict[str, Any]:
    where = ["d.endpoint_id = :e"]
    params: dict[str, Any] = {"e": endpoint_id, "limit": limit + 1}
    if state is not None:
        where.append("d.state = :state")
        params["state"] = state
    if cursor is not None:
        parts = _uncursor("delivery", cursor)
        try:
            params["c_id"] = _cursor_id(parts[0])
        except (ValueError, IndexError):
            raise invalid_field("cursor", "not a cursor of this list") from None
        where.append("d.id < :c_id")
    async with ctx.sessions() as session:
        await _endpoint(session, endpoint_id)
        rows = (
            await session.execute(
                text(
                    f"{_DELIVERY_SELECT} WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT :limit"
                ),
                params,
            )
        ).all()
    page = rows[:limit]
    next_cursor = _cursor("delivery", str(page[-1].id)) if len(rows) > limit else None
    return {"deliveries": [_delivery_out(r) for r in page], "next_cursor": next_cursor}


@router.get(
    "/endpoints/{endpoint_id}/deliveries/{delivery_id}",
    dependencies=[Depends(needs_read)],
    summary="One delivery with its attempts",
    responses={200: ok(R.DELIVERY_WITH_ATTEMPTS), **R.GET_DELIVERY},
)
async def get_webhook_delivery(
    endpoint_id: uuid.UUID, delivery_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: Ctx
) -> dict[str, Any]:
    async with ctx.sessions() as session:
        await _endpoint(session, endpoint_id)
        row = (
            await session.execute(
                text(f"{_DELIVERY_SELECT} WHERE d.endpoint_id = :e AND d.id = :d"),
                {"e": endpoint_id, "d": delivery_id},
            )
        ).one_or_none()
        if row is None:
            raise ApiError(404, "delivery_not_found", f"endpoint has no delivery {delivery_id}")
        attempts = (
            await session.execute(
                text(
                    f"SELECT {_ATTEMPT_COLUMNS} FROM delivery.attempt a LEFT JOIN delivery.event ev "
                    "ON ev.id = a.event_id WHERE a.delivery_id = :d ORDER BY a.number"
                ),
                {"d": delivery_id},
            )
        ).all()
    return _delivery_out(row) | {"attempt_list": [_attempt_out(a) for a in attempts]}


# --- replay and test-send -------------------------------------------------------------------


# the events a replay queues: of the types, in the range, not erased, not test-sends, and
# not already pending to the endpoint (a second replay of a range does not send twice)
_REPLAYED = (
    "ev.type = ANY(:types) AND ev.time >= :since AND ev.time < :until AND ev.erased_at IS NULL "
    "AND ev.topic <> :test AND NOT EXISTS (SELECT 1 FROM delivery.delivery p "
    "WHERE p.endpoint_id = :e AND p.event_id = ev.id AND p.state = 'pending')"
)


@router.post(
    "/endpoints/{endpoint_id}/replay",
    status_code=202,
    dependencies=[Depends(needs_admin)],
    summary="Queue the stored events of a time range to the endpoint again, due now",
    description="One `replay` delivery per stored, non-erased event of the endpoint's types "
    "(or the subset given) with time in [since, until), queued in event order. Erased "
    "events, and events already pending to the endpoint, are not queued again. A range of "
    "more than `LEADFLOW_DELIVERY_REPLAY_MAX_EVENTS` events (default 10,000) is a 422.",
    responses={202: ok(R.QUEUED, "Accepted"), **R.REPLAY},
)
async def replay_webhook_endpoint(
    endpoint_id: uuid.UUID, body: ReplayIn, principal: AdminPrincipal, ctx: Ctx
) -> dict[str, Any]:
    check_range(body.since, body.until)
    since, until = _utc("since", body.since), _utc("until", body.until)
    now = ctx.clock()
    retention = ctx.settings.delivery_event_retention_days
    if since < now - timedelta(days=retention):
        raise invalid_field(
            "since", f"since is older than the stored events' retention ({retention} days)"
        )
    async with ctx.sessions.begin() as session:
        e = await _endpoint(session, endpoint_id, lock=True)
        if not e.enabled:
            raise ApiError(
                409, "endpoint_disabled",
                f"endpoint {e.id} is disabled ({e.disabled_reason}): enable it before replaying",
            )  # fmt: skip
        types = list(e.event_types)
        if body.event_types is not None:
            check_types(body.event_types)
            extra = sorted(set(body.event_types) - set(types))
            if extra:
                raise invalid_field(
                    "event_types",
                    f"the endpoint is not subscribed to {', '.join(extra)}; it takes {', '.join(types)}",
                )
            types = list(dict.fromkeys(body.event_types))
        params = {
            "e": e.id, "now": now, "types": types, "since": since, "until": until,
            "test": TEST_TOPIC,
        }  # fmt: skip
        most = ctx.settings.delivery_replay_max_events
        count = await session.scalar(
            text(f"SELECT count(*) FROM (SELECT 1 FROM delivery.event ev WHERE {_REPLAYED} LIMIT :most) c"),
            params | {"most": most + 1},
        )  # fmt: skip
        if int(count or 0) > most:
            raise invalid_field(
                "since",
                f"the range [since, until) holds more than {most} events to replay: "
                "replay a shorter range",
            )
        result = await session.execute(
            text(
                "INSERT INTO delivery.delivery (endpoint_id, event_id, origin, state, attempts, "
                "next_attempt_at, created_at) SELECT :e, ev.id, 'replay', 'pending', 0, :now, :now "
                f"FROM delivery.event ev WHERE {_REPLAYED} ORDER BY ev.time, ev.sequence, ev.id"
            ),
            params,
        )
        queued = int(result.rowcount or 0)  # type: ignore[attr-defined]
        await record_audit(
            session, principal, "endpoint.replayed", "endpoint", e.id,
            {"since": since.isoformat(), "until": until.isoformat(), "event_types": types, "queued": queued},
        )  # fmt: skip
    return {"queued": queued}


@router.post(
    "/endpoints/{endpoint_id}/test",
    dependencies=[Depends(needs_admin)],
    summary="Send a sample event to the endpoint now and show the receiver's answer",
    description="Made-up data of the chosen type (fresh ids, no real person), signed and "
    "sent like any delivery, recorded as a `test` delivery with its attempt. A 410 is "
    "reported, and does not disable the endpoint.",
    responses={200: ok(R.TESTED), **R.TEST},
)
async def test_webhook_endpoint(
    endpoint_id: uuid.UUID, principal: AdminPrincipal, ctx: Ctx, body: TestIn | None = None
) -> dict[str, Any]:
    body = body or TestIn()
    check_types([body.event_type], "event_type")
    now = ctx.clock()
    data = sample(body.event_type, now)
    lead_id = getattr(data, "lead_id", None)
    event = make_event(
        type=body.event_type, source=SOURCE, subject=str(lead_id), data=data, time=now
    )
    payload = orjson.loads(event.to_bytes())
    async with ctx.sessions.begin() as session:
        e = await _endpoint(session, endpoint_id)
        await session.execute(
            text(
                "INSERT INTO delivery.event (id, type, topic, lead_id, time, sequence, payload, "
                "stored_at) VALUES (:id, :type, :topic, :lead, :time, NULL, CAST(:payload AS jsonb), :now)"
            ),
            {"id": event.id, "type": event.type, "topic": TEST_TOPIC, "lead": lead_id,
             "time": now, "payload": orjson.dumps(payload).decode(), "now": now},
        )  # fmt: skip
        delivery_id = (
            await session.execute(
                text(
                    "INSERT INTO delivery.delivery (endpoint_id, event_id, origin, state, attempts, "
                    "created_at) VALUES (:e, :ev, 'test', 'pending', 0, :now) RETURNING id"
                ),
                {"e": e.id, "ev": event.id, "now": now},
            )
        ).scalar_one()
        secrets = (
            await session.execute(
                text(
                    "SELECT secret, expires_at FROM delivery.endpoint_secret WHERE endpoint_id = :e"
                ),
                {"e": e.id},
            )
        ).all()
        url = e.url
        await record_audit(
            session, principal, "endpoint.tested", "endpoint", e.id,
            {"event_id": event.id, "event_type": event.type, "delivery_id": delivery_id},
        )  # fmt: skip
    item = Claimed(
        delivery_id, endpoint_id, event.id, event.type, 0, payload, url,
        tuple(signing.active_secrets([(s.secret, s.expires_at) for s in secrets], now)),
    )  # fmt: skip
    try:
        sent = await attempt_one(ctx, item)
        outcome = await record_test(ctx, item, sent)
    except Exception as exc:  # never a 500, never a delivery left pending
        error = f"test-send: {type(exc).__name__}"
        try:
            await fail_test(ctx, delivery_id, error)
        except Exception as again:  # the database is gone too: the answer still says so
            log.warning("delivery.test_send_unrecorded", delivery_id=delivery_id, error=type(again).__name__)  # fmt: skip
        sent = Sent(AttemptResponse(None, timedelta(0), "connect_error"), now, error=error)
        outcome = "connect_error"
    return {
        "delivery_id": delivery_id, "event_id": event.id, "event_type": event.type,
        "status_code": sent.response.status_code,
        "latency_ms": int(sent.response.elapsed.total_seconds() * 1000),
        "outcome": outcome, "response_excerpt": sent.excerpt, "error": sent.error,
    }  # fmt: skip
