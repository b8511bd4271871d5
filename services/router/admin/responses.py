"""The admin API's answers as the OpenAPI document shows them: an example body per success and
the problems each operation answers (``shared.openapi``)."""

from __future__ import annotations

from typing import Any

from shared.openapi import ADMIN_UNAUTHORIZED, Answer, errors, invalid, not_found, request_invalid

LEAD = "0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f"
OTHER = "7d2a9e4b-1c3f-4b5a-8e6d-0f1a2b3c4d5e"

_HOURS = {"mon-fri": "08:00-17:00"}
TEAM: dict[str, Any] = {
    "id": "emea-mid",
    "name": "EMEA mid-market",
    "timezone": "Europe/Berlin",
    "business_hours": _HOURS,
    "sla_minutes": 60,
    "warning_minutes": 45,
    "escalation": "reassign",
    "manager": None,
    "recycle_after_days": 30,
    "away_after_days": 3,
    "on_rep_away": "reroute",
    "country": "DE",
    "subdivision": "BE",
    "holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
}
REP: dict[str, Any] = {
    "id": "rep-ana",
    "name": "Ana Lima",
    "email": "ana@example.com",
    "team": "emea-mid",
    "timezone": "Europe/Berlin",
    "working_hours": _HOURS,
    "out_of_office": [],
    "weight": 2,
    "capacity": 50,
    "active": True,
    "open_leads": 12,
    "daily_cap": 10,
    "weekly_cap": None,
    "new_leads_today": 3,
    "new_leads_this_week": 14,
    "local_day": "2026-11-23",
    "country": None,
    "subdivision": None,
    "holidays": [],
}
REP_SAVED = REP | {"released": {"leads": 0, "why": None}}
RULE = {"name": "dach", "team": "emea-mid", "when": {"countries": ["DE", "AT", "CH"]}}
CALENDAR = {
    "team": "emea-mid",
    "year": 2026,
    "timezone": "Europe/Berlin",
    "country": "DE",
    "subdivision": "BE",
    "holidays": [
        {"date": "2026-10-03", "name": "Tag der Deutschen Einheit", "source": "public"},
        {"date": "2026-12-24", "name": "Christmas Eve", "source": "added"},
    ],
}
HOLIDAY = {"date": "2026-12-24", "name": "Christmas Eve", "source": "added"}
SUMMARY = {
    "id": LEAD,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "company": "Analytical Engines",
    "status": "assigned",
    "owner": "rep-ana",
    "team": "emea-mid",
    "merged_into": None,
}
REVIEW = {
    "lead_id": LEAD,
    "other_lead_id": OTHER,
    "lead": SUMMARY,
    "other_lead": SUMMARY | {"id": OTHER, "name": "Ada Lovelase", "owner": None},
    "reason": "similar name at the same company",
    "reported_by": "router",
    "evidence": {"name_ratio": 93, "company": "analytical engines"},
    "status": "open",
    "created_at": "2026-11-23T14:05:00+00:00",
    "decided_at": None,
    "decided_by": None,
    "note": None,
}
MERGE = {
    "id": "2e4f6a8b-0c1d-4e3f-8a5b-7c9d1e2f3a4b",
    "action": "merge",
    "lead_id": LEAD,
    "other_lead_id": OTHER,
    "submission_ids": [OTHER],
    "identities": [{"kind": "email", "value": "ada@example.com"}],
    "decided_by": "admin",
    "reason": "same person, typo in the name",
    "evidence": {},
    "at": "2026-11-23T15:00:00+00:00",
}
MERGED = {
    "merge": MERGE,
    "survivor": SUMMARY,
    "merged": SUMMARY | {"id": OTHER, "merged_into": LEAD},
    "reviews": [{"lead_id": LEAD, "other_lead_id": OTHER, "status": "merged"}],
    "released_rep_id": None,
}
SPLIT = {
    "split": MERGE | {"action": "split"},
    "lead": SUMMARY,
    "new_lead": SUMMARY | {"id": OTHER, "name": "Grace Hopper", "owner": "rep-bo"},
    "shared_identities": [{"kind": "phone", "value": "+4930901820"}],
    "decision": {
        "outcome": "assigned",
        "kind": "new",
        "rep_id": "rep-bo",
        "team_id": "emea-mid",
        "queue": None,
        "rule": "dach",
        "reason": "weighted round robin",
    },
}
LEAD_WHOLE = {
    "id": LEAD,
    "erased": False,
    "status": "assigned",
    "sales_status": {"status": "working", "reason": None, "at": "2026-11-23T14:30:00+00:00"},
    "lifecycle_stage": {"stage": "sql", "since": "2026-11-23T14:30:00+00:00"},
    "owner": {"rep_id": "rep-ana", "team_id": "emea-mid", "queue": None},
    "score": {"total": 42, "temperature": "hot", "criteria": [{"name": "job_title", "points": 12}]},
    "received_at": "2026-11-23T14:05:00+00:00",
    "first_touch_at": "2026-11-23T14:20:00+00:00",
    "purchased_list": False,
    "merges": [],
    "open_reviews": [],
    "submissions": [
        {
            "submission_id": LEAD,
            "source": "website",
            "channel": "web",
            "matched_by": None,
            "received_at": "2026-11-23T14:05:00+00:00",
        }
    ],
    "decisions": [
        {
            "outcome": "assigned",
            "kind": "new",
            "rep_id": "rep-ana",
            "team_id": "emea-mid",
            "rule": "dach",
            "reason": "weighted round robin",
            "decided_at": "2026-11-23T14:05:01+00:00",
        }
    ],
    "sla": {
        "state": "met",
        "team_id": "emea-mid",
        "rep_id": "rep-ana",
        "started_at": "2026-11-23T14:05:00+00:00",
        "warn_at": "2026-11-23T14:50:00+00:00",
        "due_at": "2026-11-23T15:05:00+00:00",
        "stopped_at": "2026-11-23T14:20:00+00:00",
        "escalations": 0,
    },
}
FUNNEL_STAGES = [
    {
        "stage": "lead",
        "reached": 120,
        "rate_from_previous": 1.0,
        "rate_from_cohort": 1.0,
        "median_seconds_to_reach": 0.0,
        "current": 40,
    },
    {
        "stage": "mql",
        "reached": 60,
        "rate_from_previous": 0.5,
        "rate_from_cohort": 0.5,
        "median_seconds_to_reach": 86400.0,
        "current": 25,
    },
]
FUNNEL = {
    "from": "2026-10-24T00:00:00Z",
    "to": "2026-11-23T00:00:00Z",
    "by": None,
    "as_of": "2026-11-23T09:00:00Z",
    "total": {
        "key": None,
        "cohort": 120,
        "stages": FUNNEL_STAGES,
        "side_stages": [
            {
                "stage": "disqualified",
                "entered": 8,
                "rate_from_cohort": 0.0667,
                "current": 8,
                "by_reason": {"bad_timing": 5, "(none)": 3},
            }
        ],
    },
    "groups": [],
}
FUNNEL["groups"] = [FUNNEL["total"]]
SEGMENTS = {
    "by": "inactivity",
    "as_of": "2026-11-23T09:00:00Z",
    "total": 1500,
    "segments": [
        {"value": "under_3_months", "count": 900},
        {"value": "3_to_12_months", "count": 450},
        {"value": "over_1_year", "count": 150},
    ],
}
SEGMENT_LEADS = {
    "as_of": "2026-11-23T09:00:00Z",
    "leads": [
        {
            "id": LEAD,
            "stage": "recycled",
            "status": "recycled",
            "owner": None,
            "team": "emea-mid",
            "source": "website",
            "channel": "web",
            "received_at": "2026-03-02T10:00:00Z",
            "last_activity_at": "2026-05-10T12:00:00Z",
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "company": "Analytical Engines",
            "country": "GB",
            "campaign": "spring-launch",
            "segment": "3_to_12_months",
        }
    ],
    "next_cursor": "eyJhZnRlciI6IjBiNmYzYzFlIn0",
}
SEGMENT_CSV = (
    "id,stage,status,owner,team,source,channel,received_at,last_activity_at,email,name,company,"
    "country,campaign,segment\n"
    f"{LEAD},recycled,recycled,,emea-mid,website,web,2026-03-02T10:00:00+00:00,"
    "2026-05-10T12:00:00+00:00,ada@example.com,Ada Lovelace,Analytical Engines,GB,spring-launch,"
    "3_to_12_months\n"
)

# --- problems --------------------------------------------------------------------------------
_ID_DIFFERS = invalid("id", "id 'emea' in the body differs from 'emea-mid' in the path")
_UNKNOWN_TEAM = invalid("team", "unknown team 'apac'")
_BODY = request_invalid("body.name")
_DAY = request_invalid("path.day", "Input should be a valid date or datetime")
_LEAD_ID = request_invalid("path.lead_id", "Input should be a valid UUID")
_BUSY = Answer(
    409, "busy", "these leads kept changing while this was decided: try again",
    summary="The leads kept changing while this was decided: send it again",
)  # fmt: skip
_DECIDED = Answer(409, "already_decided", f"the review of {LEAD} and {OTHER} is merged already")
_ALREADY_MERGED = Answer(409, "already_merged", f"lead {OTHER} was merged into {LEAD}")
_SAME_LEAD = Answer(409, "same_lead", f"{LEAD} and {OTHER} are one lead already")
_NO_LEAD = not_found(f"no lead {LEAD}", "No such lead")


def _no(kind: str) -> Answer:
    return not_found(
        f"no {kind} emea-mid" if kind == "team" else f"no {kind} rep-ana", f"No such {kind}"
    )


LIST = errors(ADMIN_UNAUTHORIZED)
PUT_TEAM = errors(ADMIN_UNAUTHORIZED, _ID_DIFFERS, _BODY)
PUT_REP = errors(ADMIN_UNAUTHORIZED, _ID_DIFFERS, _UNKNOWN_TEAM, _BODY)
PATCH_REP = errors(
    ADMIN_UNAUTHORIZED,
    _no("rep"),
    _UNKNOWN_TEAM,
    Answer(
        422, "validation_error", "invalid rep", summary="The rep after the change is invalid",
        errors=(("weight", "Input should be less than or equal to 100", "less_than_equal"),),
    ),
)  # fmt: skip
_YEAR = request_invalid("query.year", "Input should be greater than or equal to 1970")


def calendar_errors(
    kind: str, *, write: bool = False, delete: bool = False
) -> dict[int | str, Any]:
    missing = [_no(kind)]
    if delete:
        missing.append(
            Answer(
                404,
                "not_found",
                f"2026-12-25 is not an added date of {kind} emea-mid",
                summary="Not an added date (public holidays stay)",
                name="not_found.date",
            )
        )
    more = [_DAY, request_invalid("body.name")] if write else [_DAY] if delete else [_YEAR]
    return errors(ADMIN_UNAUTHORIZED, *missing, *more)


PUT_RULES = errors(
    ADMIN_UNAUTHORIZED,
    invalid("rules.0.team", "rule dach: unknown team 'apac'", "A rule names an unknown team"),
    request_invalid("body.rules", "Value error, rule names must be unique: dach"),
)
GET_LEAD = errors(ADMIN_UNAUTHORIZED, _NO_LEAD, _LEAD_ID)
LIST_DUPLICATES = errors(
    ADMIN_UNAUTHORIZED, invalid("status", "status must be open, merged or dismissed, not 'new'")
)
MERGE_REVIEW = errors(
    ADMIN_UNAUTHORIZED,
    not_found(f"no open review of {LEAD} and {OTHER}", "No such review or lead"),
    _BUSY,
    _DECIDED,
    _ALREADY_MERGED,
    invalid("survivor", "the survivor must be one of the pair"),
    _LEAD_ID,
)
DISMISS_REVIEW = errors(
    ADMIN_UNAUTHORIZED,
    not_found(f"no open review of {LEAD} and {OTHER}", "No such review"),
    _BUSY,
    _DECIDED,
    _LEAD_ID,
)
MERGE_LEAD = errors(
    ADMIN_UNAUTHORIZED,
    _NO_LEAD,
    _BUSY,
    _ALREADY_MERGED,
    _SAME_LEAD,
    request_invalid("body.lead_id"),
)
SPLIT_LEAD = errors(
    ADMIN_UNAUTHORIZED,
    _NO_LEAD,
    _BUSY,
    _ALREADY_MERGED,
    Answer(
        409,
        "fields_not_kept",
        f"submission {OTHER} was recorded before leadflow kept submitted fields: the lead "
        "cannot be rebuilt without it, so it cannot be split",
        summary="A submission older than the kept fields: the lead cannot be split",
    ),
    Answer(
        422,
        "validation_error",
        f"not submissions of this lead: {OTHER}",
        summary="Submissions not on this lead, none to move, or all of them",
        errors=(("submission_ids", f"{OTHER} is not a submission of this lead", "value_error"),),
    ),
)
REPORT = errors(
    ADMIN_UNAUTHORIZED,
    invalid(
        "from", "from must be an ISO 8601 date-time with an offset", "A bad or unknown parameter"
    ),
)

# --- lead search and the queue ---------------------------------------------------------------
LEAD_SUMMARY = {
    "id": LEAD,
    "status": "assigned",
    "stage": "mql",
    "owner": "rep-ana",
    "team": "emea-mid",
    "queue": None,
    "temperature": "hot",
    "score": 72,
    "source": "website",
    "channel": "web",
    "campaign": "spring-launch",
    "received_at": "2026-11-23T08:55:00Z",
    "updated_at": "2026-11-23T09:00:00Z",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "company": "Analytical Engines",
}
LEAD_SEARCH = {
    "items": [LEAD_SUMMARY],
    "next_cursor": "eyJ2IjoxLCJyIjoiMjAyNi0xMS0yM1QwODo1NTowMCswMDowMCJ9",
    "total": None,
}
LEAD_SEARCH_CSV = (
    "id,status,stage,owner,team,queue,temperature,score,source,channel,campaign,received_at,"
    "updated_at,name,email,company\n"
    f"{LEAD},assigned,mql,rep-ana,emea-mid,,hot,72,website,web,spring-launch,"
    "2026-11-23T08:55:00Z,2026-11-23T09:00:00Z,Ada Lovelace,ada@example.com,Analytical Engines\n"
)
QUEUE = {
    "total": 1,
    "items": [
        {
            "position": 1,
            "lead_id": LEAD,
            "team": None,
            "queue": "unassigned",
            "reason": "No rep is available in emea-mid: queued to 'unassigned'.",
            "queued_at": "2026-11-23T08:55:01Z",
            "temperature": "hot",
            "stage": "sql",
            "lifecycle_stage": "sql",
            "score": 91,
            "received_at": "2026-11-23T08:55:00Z",
        }
    ],
    "next_offset": None,
}
SEARCH = errors(
    ADMIN_UNAUTHORIZED,
    invalid("status", "status must be one of new, assigned, queued, ..., got 'open'",
            "A bad or unknown parameter"),
)  # fmt: skip
LIST_QUEUE = errors(ADMIN_UNAUTHORIZED, invalid("team", "team must not be empty"))
