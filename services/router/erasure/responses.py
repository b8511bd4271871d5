"""The erasure API's answers as the OpenAPI document shows them."""

from __future__ import annotations

from typing import Any

from shared.openapi import (
    ADMIN_UNAUTHORIZED,
    Answer,
    errors,
    invalid,
    not_found,
    request_invalid,
)

LEAD = "0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f"
SUBMISSION = "7d2a9e4b-1c3f-4b5a-8e6d-0f1a2b3c4d5e"
ERASURE = "3c6a0f2e-5d4b-5a1c-9e8f-7b6a5d4c3b2a"
AT = "2026-12-02T09:30:00+00:00"

TOMBSTONE: dict[str, Any] = {
    "erasure_id": ERASURE,
    "erased": True,
    "lead_id": LEAD,
    "lead_ids": [LEAD],
    "submission_ids": [LEAD, SUBMISSION],
    "requested_at": AT,
    "requested_by": "admin",
    "event_id": "5b1e7c9a-2d3f-4a6b-8c0d-1e2f3a4b5c6d",
    "counts": {
        "lead": 1, "lead_identity": 2, "shared_identity": 0, "lead_submission": 2,
        "assignment": 1, "lead_status_change": 0, "duplicate_review": 0, "lead_merge": 0,
        "pending_activity": 0, "outbox": 0, "sla_clock": 1, "activity": 1,
    },
    "summary": {
        "leads": [
            {
                "lead_id": LEAD, "status": "assigned", "lifecycle_stage": "mql", "stage": "mql",
                "temperature": "warm", "score": 42, "team_id": "emea-mid", "rep_id": "rep-ana",
                "purchased_list": False, "source": "website", "channel": "web",
                "received_at": "2026-11-30T14:05:00+00:00", "merged_into": None,
            }
        ],
        "decisions": [
            {
                "lead_id": LEAD, "outcome": "assigned", "kind": "initial", "rep_id": "rep-ana",
                "team_id": "emea-mid", "queue": None, "rule": "dach", "score": 42,
                "decided_at": "2026-11-30T14:05:01+00:00",
            }
        ],
        "identity_hashes": 2,
    },
}  # fmt: skip
ERASURES = {"erasures": [TOMBSTONE]}

_NO_LEAD = not_found(f"no lead {LEAD}", "No such lead or submission")
ERASE_LEAD = errors(
    ADMIN_UNAUTHORIZED, _NO_LEAD, request_invalid("path.lead_id", "Input should be a valid UUID")
)
ERASE_IDENTITY = errors(
    ADMIN_UNAUTHORIZED,
    not_found("no lead holds this email", "No lead holds it, and no erasure erased it"),
    invalid("email", "not a valid email address", "Not an email address or phone number"),
    request_invalid("body", "Value error, give either email or phone"),
    Answer(
        409,
        "identity_shared",
        "this phone is held by 2 leads or marked shared (a switchboard, a role address): erase "
        "the person by lead id, or confirm with all_holders=true",
        summary="Several people hold it: erase by lead id, or confirm all_holders",
    ),
)
GET_ERASURE = errors(
    ADMIN_UNAUTHORIZED,
    not_found(f"no erasure {ERASURE}", "No such erasure"),
    request_invalid("path.erasure_id", "Input should be a valid UUID"),
)
