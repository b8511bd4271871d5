"""Ingest's metric catalogue. Labels are bounded: source kind, channel, reason; never ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import HttpMetrics

HTTP = HttpMetrics("ingest")

LEADS_RECEIVED = Counter(
    "leadflow_ingest_leads_received_total",
    "Lead submissions received (before validation)",
    ["source_kind", "channel"],
)
LEADS_ACCEPTED = Counter(
    "leadflow_ingest_leads_accepted_total",
    "Leads acknowledged by Kafka and answered 2xx",
    ["source_kind", "channel"],
)
LEADS_REJECTED = Counter(
    "leadflow_ingest_leads_rejected_total",
    "Lead submissions refused, by reason (validation, unauthorized, honeypot, rate_limited, origin, "
    "too_large, kafka_unavailable, database_unavailable, idempotency)",
    ["source_kind", "reason"],
)
IDEMPOTENT_REPLAYS = Counter(
    "leadflow_ingest_idempotent_replays_total",
    "Retries answered from the stored first response",
    ["source_kind"],
)
ACTIVITIES = Counter(
    "leadflow_ingest_activities_total", "Activities accepted from sales tools, by kind", ["kind"]
)
IMPORT_ROWS = Counter(
    "leadflow_ingest_import_rows_total",
    "Import job rows recorded, by kind (trade_show, list) and outcome (accepted, rejected)",
    ["kind", "outcome"],
)
IMPORT_JOBS = Counter(
    "leadflow_ingest_import_jobs_total",
    "Import jobs entering a status (queued, running, done, cancelled, failed), by kind",
    ["kind", "status"],
)
IMPORT_JOBS_RUNNING = Gauge(
    "leadflow_ingest_import_jobs_running", "Import jobs this process is working on now"
)
IMPORT_BATCH_SECONDS = Histogram(
    "leadflow_ingest_import_batch_duration_seconds",
    "One import batch: validate its rows, publish them (acks=all), record the step",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# what an import row counts as among all leads: (source_kind, channel)
_IMPORT_LEAD_LABELS = {
    "trade_show": ("trade_show", "trade_show"),
    "list": ("list", "purchased_list"),
}


def count_import_rows(kind: str, accepted: int, rejected: int) -> None:
    """One recorded batch, counted once (a batch re-sent after a crash was not recorded)."""
    source_kind, channel = _IMPORT_LEAD_LABELS[kind]
    IMPORT_ROWS.labels(kind, "accepted").inc(accepted)
    IMPORT_ROWS.labels(kind, "rejected").inc(rejected)
    LEADS_RECEIVED.labels(source_kind, channel).inc(accepted + rejected)
    LEADS_ACCEPTED.labels(source_kind, channel).inc(accepted)
    if rejected:
        LEADS_REJECTED.labels(source_kind, "validation").inc(rejected)


ERASURES = Counter(
    "leadflow_ingest_erasures_total",
    "Erasures (leads.erasure.v1) applied: stored answers and import rows of the leads redacted",
)
