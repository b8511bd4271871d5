"""Ingest's audit trail (``shared.audit_api.AuditTrail`` over ``ingest.audit_event``):
``record_audit`` adds an event to the caller's transaction, ``router`` serves
``GET /v1/admin/audit``."""

from __future__ import annotations

from services.ingest.models import AuditEvent
from shared.audit_api import AuditTrail

TRAIL = AuditTrail(AuditEvent, service="ingest")
record_audit = TRAIL.record
router = TRAIL.router
