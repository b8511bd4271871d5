"""Ingest's metric catalogue. Labels are bounded: source kind, channel, reason; never ids."""

from __future__ import annotations

from prometheus_client import Counter

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
    "Lead submissions refused, by reason (validation, unauthorized, replayed, honeypot, rate_limited, "
    "origin, too_large, kafka_unavailable, idempotency)",
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
    "leadflow_ingest_trade_show_rows_total",
    "Trade-show import rows, by outcome (accepted, rejected)",
    ["outcome"],
)
