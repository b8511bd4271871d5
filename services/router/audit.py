"""Router's audit trail: ``record_audit`` adds an event to the caller's transaction;
``router`` serves ``GET /v1/admin/audit`` over router's own events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.models import AuditEvent
from shared import audit, audit_api, db
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
    return request.app.state.router.sessions  # type: ignore[no-any-return]


router = audit_api.audit_router(AuditEvent, _sessions, service="router")


SCORING_ACTOR = "router"  # the router itself, reading the scoring file
SCORING_SUBJECT = ("scoring", "rules")


async def record_scoring_loaded(
    sessions: async_sessionmaker[AsyncSession], version: str, origin: str
) -> bool:
    """A ``scoring.loaded`` event when the rules in force (their file's hash) differ from the
    last recorded ones: at start-up and after a reload. Several routers record a version once
    (an advisory lock orders them). True when an event was recorded."""
    kind, subject_id = SCORING_SUBJECT
    async with sessions.begin() as session:
        await db.lock_keys(session, "audit:scoring.loaded")
        last = await audit.latest(session, AuditEvent, "scoring.loaded", subject_id)
        before = last.changes.get("version") if last is not None else None
        if before == version:
            return False
        await record_audit(
            session, SCORING_ACTOR, "scoring.loaded", kind, subject_id,
            {"version": version, "previous_version": before, "file": origin},
        )  # fmt: skip
    return True
