"""Router's metric catalogue. Labels are bounded (outcome, team, channel, match rule): never ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import HttpMetrics

HTTP = HttpMetrics("router")

LEADS_ROUTED = Counter(
    "leadflow_router_leads_routed_total",
    "Routing decisions by outcome (assigned, queued, nurture, name) and team",
    ["outcome", "team"],
)
MERGES = Counter(
    "leadflow_router_dedupe_merges_total",
    "Submissions merged into a known lead, by match rule; an admin's merge of two leads is admin",
    ["match_rule"],
)
SPLITS = Counter(
    "leadflow_router_splits_total",
    "Submissions an admin split back out of a lead into a lead of their own (one per split)",
)
DUPLICATE_REVIEWS_DECIDED = Counter(
    "leadflow_router_dedupe_reviews_decided_total",
    "Pairs on the duplicate review list an admin decided, by why they were listed"
    " (rep_marked, doubtful_match) and the decision (merged, dismissed)",
    ["reason", "decision"],
)
SHARED_IDENTITIES = Counter(
    "leadflow_router_dedupe_shared_identities_total",
    "Phones and addresses detected as used by many different people (no longer match keys)",
    ["kind"],
)
DUPLICATE_REVIEWS = Counter(
    "leadflow_router_dedupe_reviews_created_total",
    "Possible duplicates put on the review list, by reason (doubtful_match, rep_marked)",
    ["reason"],
)
SCORES = Histogram(
    "leadflow_router_lead_score",
    "Lead score at each routing decision",
    buckets=(-20, 0, 10, 20, 25, 30, 40, 50, 55, 60, 70, 80, 100, 150),
)
INTAKE_TO_ASSIGNMENT = Histogram(
    "leadflow_router_intake_to_assignment_seconds",
    "From intake (ingest acknowledged) to the assignment decision",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)
TIME_TO_FIRST_TOUCH = Histogram(
    "leadflow_router_time_to_first_touch_seconds",
    "From intake to the first touch by a rep",
    ["team", "source"],
    buckets=(60, 300, 600, 900, 1800, 2700, 3600, 7200, 14400, 28800, 86400, 259200),
)
SLA_EVENTS = Counter(
    "leadflow_router_sla_events_total",
    "SLA warnings, breaches, reassignments and escalations",
    ["kind", "team"],
)
AWAITING_FIRST_TOUCH = Gauge(
    "leadflow_router_leads_awaiting_first_touch", "Assigned leads whose SLA clock runs"
)
OLDEST_AWAITING_SECONDS = Gauge(
    "leadflow_router_oldest_awaiting_first_touch_seconds",
    "Age of the oldest lead still awaiting its first touch",
)
SLA_TIMER_LATENESS = Histogram(
    "leadflow_router_sla_timer_lateness_seconds",
    "How late an SLA timer fired after it was due",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
# After assignment: the funnel (lifecycle stages), dispositions, recycling, releases.
LIFECYCLE_TRANSITIONS = Counter(
    "leadflow_router_lifecycle_transitions_total",
    "Leads moving between lifecycle stages (funnel), by source and channel",
    ["from_stage", "to_stage", "source", "channel"],
)
TIME_IN_STAGE = Histogram(
    "leadflow_router_time_in_stage_seconds",
    "How long a lead stayed in a lifecycle stage before it moved on",
    ["stage"],
    buckets=(60, 3600, 14400, 86400, 259200, 604800, 1209600, 2592000, 7776000, 31536000),
)
DISPOSITIONS = Counter(
    "leadflow_router_dispositions_total",
    "Sales statuses reported by sales tools, applied or superseded by a newer one",
    ["status", "outcome"],
)
DISQUALIFIED = Counter(
    "leadflow_router_disqualified_total", "Leads disqualified, by reason code", ["reason"]
)
RECYCLED = Counter(
    "leadflow_router_recycled_total",
    "Leads recycled back to marketing, by reason (inactive, or the disqualification reason)",
    ["reason"],
)
RELEASED = Counter(
    "leadflow_router_leads_released_total",
    "Open leads taken from a rep who left (rep_inactive, rep_away), re-routed or queued",
    ["why", "outcome"],
)
ACTIVITIES_SKIPPED = Counter(
    "leadflow_router_activities_skipped_total",
    "Activities of a kind this router version does not know (a newer producer's): skipped",
)
ERASURES = Counter(
    "leadflow_router_erasures_total",
    "People erased (right to erasure): one per erasure, however many leads it covered",
)
DROPPED_ERASED = Counter(
    "leadflow_router_erased_events_dropped_total",
    "Events about an erased person dropped (the tombstone wins), by kind (arrival, activity)",
    ["kind"],
)
