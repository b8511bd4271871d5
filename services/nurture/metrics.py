"""Nurture's metric catalogue. Labels are bounded (sequence, step, channel, reason): never ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import HttpMetrics

HTTP = HttpMetrics("nurture")

STEPS_EMITTED = Counter(
    "leadflow_nurture_steps_emitted_total",
    "Steps emitted to nurture.steps.v1, by sequence, step number and channel",
    ["sequence", "step", "channel"],
)
STEPS_DEFERRED = Counter(
    "leadflow_nurture_steps_deferred_total",
    "Due steps moved to a later time (outside the send window or quiet hours, or over the cap)",
    ["reason"],
)
STEPS_SKIPPED = Counter(
    "leadflow_nurture_steps_skipped_total",
    "Steps not sent, by channel and reason: no_contact (no email for email, ...), consent "
    "(an email or SMS without the consent the lead's country requires), "
    "confirmation_not_needed (a double opt-in request where none is needed, or asked before)",
    ["channel", "reason"],
)
STEPS_FAILED = Counter(
    "leadflow_nurture_steps_failed_total",
    "Steps given up after repeated errors (a bug or bad data: see the step's note)",
)
TIMERS_PENDING = Gauge("leadflow_nurture_timers_pending", "Scheduled steps not yet emitted")
TIMERS_OVERDUE = Gauge(
    "leadflow_nurture_timers_overdue", "Scheduled steps whose due time has passed, not yet emitted"
)
STEP_LATENESS = Histogram(
    "leadflow_nurture_step_lateness_seconds",
    "How late a due step was picked up (emitted, or moved to its next allowed time)",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
)
SUPPRESSIONS = Counter(
    "leadflow_nurture_suppressions_total",
    "Leads suppressed everywhere, by reason (unsubscribed, hard_bounce, invalid_contact)",
    ["reason"],
)
ENROLLMENTS = Counter(
    "leadflow_nurture_enrollments_total", "Enrollments started, by sequence", ["sequence"]
)
ENROLLMENTS_ENDED = Counter(
    "leadflow_nurture_enrollments_ended_total",
    "Enrollments ended, by sequence and how (completed, stopped, unenrolled)",
    ["sequence", "how"],
)
REMARKET = Counter(
    "leadflow_nurture_remarket_total",
    "Leads moved to the remarket list, by reason (unresponsive: the sweep; sales_recycled: "
    "sales gave it back, leads.lifecycle.v1)",
    ["reason"],
)
SUNSET = Counter("leadflow_nurture_sunset_total", "Leads sunset after a failed re-engagement")
REENGAGED = Counter(
    "leadflow_nurture_reengaged_total", "Leads put into re-engagement, by segment", ["segment"]
)
ACTIVITIES_SKIPPED = Counter(
    "leadflow_nurture_activities_skipped_total",
    "Activities of a kind this nurture version does not know (a newer producer's): skipped",
)
ERASURES = Counter(
    "leadflow_nurture_erasures_total",
    "Erasures (leads.erasure.v1) applied: the leads' rows deleted, their hashes on do-not-contact",
)
DROPPED_ERASED = Counter(
    "leadflow_nurture_erased_events_dropped_total",
    "Events about an erased lead or submission dropped (the tombstone wins)",
)
