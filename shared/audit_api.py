"""``GET /v1/admin/audit``: one implementation, mounted by each service over its own table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.audit import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    AuditEventMixin,
    AuditQuery,
    decode_cursor,
    event_out,
    events,
    record,
)
from shared.auth import Principal
from shared.credentials import needs_read
from shared.http import invalid_field
from shared.openapi import ADMIN_UNAUTHORIZED, errors, invalid, ok

EXAMPLE = {
    "events": [
        {
            "id": 42,
            "at": "2026-12-01T09:30:00+00:00",
            "actor": "alice",
            "action": "rep.updated",
            "subject": {"type": "rep", "id": "rep-ana"},
            "changes": {"capacity": {"before": 20, "after": 25}},
            "request_id": None,
        }
    ],
    "next_cursor": "YXVkaXQ6NDI",
}
LIST_ERRORS = errors(
    ADMIN_UNAUTHORIZED,
    invalid("cursor", "not a cursor of this list", "A cursor this list did not give"),
)


def audit_router(
    model: type[AuditEventMixin],
    sessions_of: Callable[[Request], async_sessionmaker[AsyncSession]],
    *,
    service: str,
) -> APIRouter:
    """``GET /v1/admin/audit`` over ``model`` (the service's own changes), scope ``read``."""
    router = APIRouter(prefix="/v1/admin", tags=["audit"])

    @router.get(
        "/audit",
        summary=f"The audit trail of {service}'s admin changes, newest first",
        responses={200: ok(EXAMPLE), **LIST_ERRORS},
    )
    async def list_audit_events(
        request: Request,
        _principal: Annotated[Principal, Depends(needs_read)],
        since: Annotated[datetime | None, Query(description="at or after (ISO 8601)")] = None,
        until: Annotated[datetime | None, Query(description="before (ISO 8601)")] = None,
        actor: Annotated[str | None, Query(max_length=64, description="a token name")] = None,
        action: Annotated[str | None, Query(max_length=64, description="e.g. rep.updated")] = None,
        subject_id: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None, Query(max_length=100, description="next_cursor of the previous page")
        ] = None,
    ) -> dict[str, Any]:
        try:
            before_id = decode_cursor(cursor) if cursor is not None else None
        except ValueError as exc:
            raise invalid_field("cursor", str(exc)) from None
        q = AuditQuery(since, until, actor, action, subject_id, limit, before_id)
        async with sessions_of(request)() as session:
            rows, next_cursor = await events(session, model, q)
        return {"events": [event_out(r) for r in rows], "next_cursor": next_cursor}

    return router


class AuditTrail:
    """A service's audit trail in one value: ``record`` adds an event to the caller's
    transaction, ``router`` serves ``GET /v1/admin/audit`` over the service's own table. The
    service's context is ``app.state.<service>`` and carries ``sessions``."""

    def __init__(self, model: type[AuditEventMixin], *, service: str) -> None:
        self.model = model
        self.router = audit_router(
            model, lambda request: getattr(request.app.state, service).sessions, service=service
        )

    async def record(
        self,
        session: AsyncSession,
        actor: Principal | str,
        action: str,
        subject_type: str,
        subject_id: object,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an admin change (``rep.updated``, ``lead.erased`` ...) in the same transaction
        as the change itself. ``changes`` holds ids and non-personal fields only."""
        await record(session, self.model, actor, action, subject_type, subject_id, changes)
