"""The delivery admin API's answers as the OpenAPI document shows them (``shared.openapi``)."""

from __future__ import annotations

from typing import Any

from shared.openapi import ADMIN_UNAUTHORIZED, Answer, errors, invalid, not_found, request_invalid

ENDPOINT_ID = "7c2f6a1e-3b4d-4e5f-9a8b-1c2d3e4f5a6b"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
AT = "2026-12-02T09:30:00Z"

ENDPOINT: dict[str, Any] = {
    "id": ENDPOINT_ID,
    "url": "https://hooks.example.com/leadflow",
    "description": "CRM sync",
    "event_types": ["io.leadflow.lead.assigned.v1", "io.leadflow.lead.erased.v1"],
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "failing_since": None,
    "last_success_at": AT,
    "created_at": AT,
    "updated_at": AT,
}
CREATED = ENDPOINT | {"secret": SECRET}
LIST = {"endpoints": [ENDPOINT]}
SECRETS = {
    "secrets": [
        {"id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "secret": SECRET, "created_at": AT, "expires_at": None}
    ]
}  # fmt: skip
ROTATED = {
    "id": "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
    "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "created_at": AT,
    "expires_at": None,
    "previous_expires_at": "2026-12-03T09:30:00Z",
}
ATTEMPT = {
    "id": 901,
    "delivery_id": 512,
    "event_id": "5f0c8a52-8d9e-4d4e-9d57-1f0b7c1f2a10",
    "event_type": "io.leadflow.lead.assigned.v1",
    "number": 1,
    "started_at": AT,
    "latency_ms": 84,
    "status_code": 204,
    "outcome": "success",
    "response_excerpt": "",
    "error": None,
}
# the cursor of "attempt|2026-12-02T09:30:00+00:00|901" (started_at and id of the last one)
ATTEMPTS = {
    "attempts": [ATTEMPT],
    "next_cursor": "YXR0ZW1wdHwyMDI2LTEyLTAyVDA5OjMwOjAwKzAwOjAwfDkwMQ",
}
DELIVERY = {
    "id": 512,
    "event_id": ATTEMPT["event_id"],
    "event_type": ATTEMPT["event_type"],
    "origin": "live",
    "state": "delivered",
    "attempts": 1,
    "next_attempt_at": None,
    "created_at": AT,
    "finished_at": AT,
    "skipped_reason": None,
}
DELIVERIES = {"deliveries": [DELIVERY], "next_cursor": None}
DELIVERY_WITH_ATTEMPTS = DELIVERY | {"attempt_list": [ATTEMPT]}
QUEUED = {"queued": 42}
TESTED = {
    "delivery_id": 513,
    "event_id": "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a",
    "event_type": "io.leadflow.lead.assigned.v1",
    "status_code": 200,
    "latency_ms": 120,
    "outcome": "success",
    "response_excerpt": "ok",
    "error": None,
}

_NO_ENDPOINT = not_found(f"delivery has no endpoint {ENDPOINT_ID}", "No such endpoint")
_ENDPOINT_ID = request_invalid("path.endpoint_id", "Input should be a valid UUID")
_URL = invalid(
    "url",
    "url: hooks.internal.example resolves to 10.0.0.7, a private address, which webhooks are "
    "not sent to unless allow-listed",
    "The URL is not allowed (scheme, form, or the address class its host resolves to)",
)
_TYPES = invalid(
    "event_types",
    "unknown event types: io.leadflow.lead.nope.v1; known: io.leadflow.lead.assigned.v1, ...",
    "Unknown or unsubscribed event types (the known ones are listed)",
)
_RANGE = invalid("until", "until must be after since", "A bad time range")
_CURSOR = invalid("cursor", "not a cursor of this list", "A cursor this list did not give")
_DISABLED = Answer(
    409,
    "endpoint_disabled",
    f"endpoint {ENDPOINT_ID} is disabled (gone): enable it before replaying",
    summary="The endpoint is disabled",
)

READ = errors(ADMIN_UNAUTHORIZED)
CREATE = errors(ADMIN_UNAUTHORIZED, _URL, _TYPES)
GET = errors(ADMIN_UNAUTHORIZED, _NO_ENDPOINT, _ENDPOINT_ID)
PATCH = errors(ADMIN_UNAUTHORIZED, _NO_ENDPOINT, _URL, _TYPES)
ROTATE = errors(
    ADMIN_UNAUTHORIZED,
    _NO_ENDPOINT,
    request_invalid("body.grace_seconds", "Input should be greater than or equal to 0"),
)
LIST_ATTEMPTS = errors(ADMIN_UNAUTHORIZED, _NO_ENDPOINT, _RANGE, _CURSOR)
LIST_DELIVERIES = errors(ADMIN_UNAUTHORIZED, _NO_ENDPOINT, _CURSOR)
GET_DELIVERY = errors(
    ADMIN_UNAUTHORIZED,
    _NO_ENDPOINT,
    not_found("endpoint has no delivery 512", "No such delivery", code="delivery_not_found"),
)
REPLAY = errors(ADMIN_UNAUTHORIZED, _NO_ENDPOINT, _DISABLED, _RANGE, _TYPES)
TEST = errors(ADMIN_UNAUTHORIZED, _NO_ENDPOINT, _TYPES)
