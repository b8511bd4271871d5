"""Delivery's audit trail (``shared.audit_api.AuditTrail`` over ``delivery.audit_event``):
``record_audit`` adds an event to the caller's transaction, ``router`` serves
``GET /v1/admin/audit``."""

from __future__ import annotations

from services.delivery.models import AuditEvent
from shared.audit_api import AuditTrail

TRAIL = AuditTrail(AuditEvent, service="delivery")
record_audit = TRAIL.record
router = TRAIL.router
