"""Ingest's audit trail: ``record_audit`` adds an event to the caller's transaction;
``router`` serves ``GET /v1/admin/audit`` over ingest's own events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.models import AuditEvent
from shared import audit, audit_api
from shared.auth import Principal


async def record_audit(
    session: AsyncSession,
    actor: Principal | str,
    action: str,
    subject_type: str,
    subject_id: object,
    changes: Mapping[str, Any] | None = None,
) -> None:
    """Record an admin change (``rep.updated``, ``lead.erased`` ...) in the same transaction as
    the change itself. ``changes`` holds ids and non-personal fields only."""
    await audit.record(session, AuditEvent, actor, action, subject_type, subject_id, changes)


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.ingest.sessions  # type: ignore[no-any-return]


router = audit_api.audit_router(AuditEvent, _sessions, service="ingest")
