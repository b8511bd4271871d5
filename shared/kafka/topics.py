"""Topics and their partition counts. Partitions are the unit of consumer parallelism."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

LEADS_RECEIVED = "leads.received.v1"
# the bulk lane: trade-show imports and purchased lists, same event type as leads.received.v1;
# consumed apart so a big import never delays a web lead
LEADS_BULK = "leads.bulk.v1"
LEADS_ASSIGNED = "leads.assigned.v1"
LEADS_ACTIVITY = "leads.activity.v1"
LEADS_SLA = "leads.sla.v1"
LEADS_LIFECYCLE = "leads.lifecycle.v1"
# merges and splits of leads, for CRMs that keep records of their own
LEADS_MERGES = "leads.merges.v1"
NURTURE_STEPS = "nurture.steps.v1"
NURTURE_LIFECYCLE = "nurture.lifecycle.v1"

PARTITIONS: dict[str, int] = {
    LEADS_RECEIVED: 12,
    LEADS_BULK: 12,
    LEADS_ASSIGNED: 12,
    LEADS_ACTIVITY: 12,
    LEADS_SLA: 6,
    LEADS_LIFECYCLE: 12,
    LEADS_MERGES: 12,
    NURTURE_STEPS: 12,
    NURTURE_LIFECYCLE: 12,
}
DLQ_PARTITIONS = 3


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def all_topics(prefix: str = "") -> dict[str, int]:
    topics: dict[str, int] = {}
    for name, partitions in PARTITIONS.items():
        topics[prefix + name] = partitions
        topics[prefix + dlq_topic(name)] = DLQ_PARTITIONS
    return topics


async def ensure_topics(
    bootstrap: str, topics: dict[str, int], replication_factor: int = 1
) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, n, replication_factor)
            for name, n in topics.items()
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # raced with another creator: fine
        return [t.name for t in missing]
    finally:
        await admin.close()
