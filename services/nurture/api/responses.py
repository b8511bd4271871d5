"""The nurture API's answers as the OpenAPI document shows them: an example body per success
and the problems each operation answers (``shared.openapi``)."""

from __future__ import annotations

from typing import Any

from shared.openapi import ADMIN_UNAUTHORIZED, Answer, errors, invalid, not_found, request_invalid

LEAD = "0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f"

SEQUENCES: dict[str, Any] = {
    "version": 1,
    "defaults": {
        "timezone": "America/New_York",
        "send_window": {"days": "mon-fri", "hours": "09:00-17:00"},
        "quiet_hours": "20:00-08:00",
        "frequency_cap": {"max_per_week": 3},
    },
    "lifecycle": {"remarket_after_days": 30, "reengage_after_days": 30, "sunset_after_days": 14},
    "sequences": [
        {
            "id": "web-welcome",
            "name": "Welcome for web leads",
            "trigger": {"kind": "web_welcome"},
            "send_window": {"days": "daily", "hours": "08:00-20:00"},
            "steps": [
                {"delay": "0m", "channel": "email", "template": "welcome-thanks"},
                {"delay": "2d", "channel": "email", "template": "welcome-resources"},
            ],
        }
    ],
}
STATE: dict[str, Any] = {
    "lead_id": LEAD,
    "list": "active",
    "list_reason": None,
    "sales_status": None,
    "sales_status_at": None,
    "timezone": "Europe/London",
    "timezone_source": "lead",
    "channel": "web",
    "purchased_list": False,
    "suppression": None,
    "converted_at": None,
    "with_sales": False,
    "last_engaged_at": "2026-11-23T14:05:00Z",
    "remarket_at": "2026-12-23T14:05:00Z",
    "sunset_at": None,
    "reengaged_at": None,
    "idle_since": None,
    "country": "GB",
    "consent": {
        "email": {
            "required": "opt_in",
            "state": "granted",
            "source": "form",
            "recorded_at": "2026-11-23T14:05:00Z",
            "allowed": True,
            "reason": "email consent granted",
        },
        "sms": {
            "required": "opt_in",
            "state": None,
            "source": None,
            "recorded_at": None,
            "allowed": False,
            "reason": "GB: sms needs opt-in; no consent recorded",
        },
    },
    "skipped_for_consent": 0,
    "enrollments": [
        {
            "id": "4b3a2c1d-0e9f-4a8b-8c7d-6e5f4a3b2c1d",
            "sequence_id": "web-welcome",
            "trigger": "web_welcome",
            "status": "active",
            "reason": None,
            "enrolled_at": "2026-11-23T14:05:01Z",
            "ended_at": None,
            "show_id": None,
            "next_step": {
                "step": 2,
                "due_at": "2026-11-25T09:00:00Z",
                "state": "pending",
                "note": None,
            },
            "steps": [
                {
                    "step": 1,
                    "state": "emitted",
                    "planned_at": "2026-11-23T14:05:01Z",
                    "due_at": "2026-11-23T14:05:01Z",
                    "emitted_at": "2026-11-23T14:05:02Z",
                    "note": None,
                },
                {
                    "step": 2,
                    "state": "pending",
                    "planned_at": "2026-11-25T14:05:01Z",
                    "due_at": "2026-11-25T09:00:00Z",
                    "emitted_at": None,
                    "note": "moved into the send window",
                },
            ],
        }
    ],
}
PAUSED = STATE | {
    "enrollments": [
        STATE["enrollments"][0] | {"status": "paused", "reason": "paused by an operator"}
    ]
}

_NO_LEAD = not_found(f"nurture has no lead {LEAD}", "Nurture has no such lead")
_LEAD_ID = request_invalid("path.lead_id", "Input should be a valid UUID")
_BODY = request_invalid("body.reason", "String should have at least 1 character")
_SUPPRESSED = Answer(
    409,
    "suppressed",
    f"lead {LEAD} is suppressed (unsubscribed): nothing is sent to it",
    summary="The lead is suppressed (unsubscribed, bounced or invalid contact)",
)

LIST = errors(ADMIN_UNAUTHORIZED)
GET_LEAD = errors(ADMIN_UNAUTHORIZED, _NO_LEAD, _LEAD_ID)
PAUSE = errors(
    ADMIN_UNAUTHORIZED,
    _NO_LEAD,
    Answer(409, "nothing_to_pause", f"lead {LEAD} has no active enrollment"),
    _LEAD_ID,
    _BODY,
)
RESUME = errors(
    ADMIN_UNAUTHORIZED,
    _NO_LEAD,
    _SUPPRESSED,
    Answer(409, "nothing_to_resume", f"lead {LEAD} has no paused enrollment"),
    _LEAD_ID,
    _BODY,
)
ENROLL = errors(
    ADMIN_UNAUTHORIZED,
    _NO_LEAD,
    _SUPPRESSED,
    Answer(409, "converted", f"lead {LEAD} has converted: it is a customer now"),
    Answer(409, "already_enrolled", f"lead {LEAD} is already in sequence web-welcome"),
    invalid(
        "sequence_id",
        "unknown sequence 'spring'; known: web-welcome, trade-show-follow-up",
        "Unknown sequence",
    ),
    invalid(
        "start_at",
        "start_at must be within a year from now",
        "start_at without an offset or too far ahead",
    ),
    _LEAD_ID,
)
UNENROLL = errors(
    ADMIN_UNAUTHORIZED,
    _NO_LEAD,
    Answer(
        404,
        "not_enrolled",
        f"lead {LEAD} is not in sequence web-welcome",
        summary="The lead is not in that sequence",
    ),
    _LEAD_ID,
    _BODY,
)
