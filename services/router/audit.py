"""Router's audit trail: ``record_audit`` adds an event to the caller's transaction;
``router`` serves ``GET /v1/admin/audit`` over router's own events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.models import AuditEvent
from shared import audit, db
from shared.audit_api import AuditTrail

TRAIL = AuditTrail(AuditEvent, service="router")
record_audit = TRAIL.record
router = TRAIL.router


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
