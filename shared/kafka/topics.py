"""Topics and their partition counts. Partitions are the unit of consumer parallelism."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.kafka.security import Kafka, client_options, start_client

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
# erasures of people (right to erasure): the request to nurture and ingest and the notice to
# sales tools
LEADS_ERASURE = "leads.erasure.v1"
NURTURE_STEPS = "nurture.steps.v1"
NURTURE_LIFECYCLE = "nurture.lifecycle.v1"
# webhook endpoints delivery disabled (a 410, or failing for days)
DELIVERY_ENDPOINTS = "delivery.endpoints.v1"

PARTITIONS: dict[str, int] = {
    LEADS_RECEIVED: 12,
    LEADS_BULK: 12,
    LEADS_ASSIGNED: 12,
    LEADS_ACTIVITY: 12,
    LEADS_SLA: 6,
    LEADS_LIFECYCLE: 12,
    LEADS_MERGES: 12,
    LEADS_ERASURE: 6,
    NURTURE_STEPS: 12,
    NURTURE_LIFECYCLE: 12,
    DELIVERY_ENDPOINTS: 3,
}
DLQ_PARTITIONS = 3
DLQ_SUFFIX = ".dlq"
# dead letters wait this long for someone to look, fix and replay (LEADFLOW_KAFKA_DLQ_RETENTION_DAYS)
DLQ_RETENTION_DAYS = 30


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


def all_topics(prefix: str = "") -> dict[str, int]:
    topics: dict[str, int] = {}
    for name, partitions in PARTITIONS.items():
        topics[prefix + name] = partitions
        topics[prefix + dlq_topic(name)] = DLQ_PARTITIONS
    return topics


@dataclass(frozen=True)
class TopicPolicy:
    """How leadflow's topics are created on a cluster.

    - ``replication_factor``: copies of each partition. Given, or three on a cluster of three
      brokers or more (fewer brokers: one copy each).
    - ``min_insync_replicas``: copies that must have a write before acks=all acknowledges it,
      so "202 means durable" holds when a broker is lost: one less than the replication
      factor from three copies on (two copies: one, so a single broker down does not stop
      writes).
    - ``dlq_retention_ms``: how long dead letters are kept (``LEADFLOW_KAFKA_DLQ_RETENTION_DAYS``,
      30 days by default): long enough to be noticed, fixed and replayed. The consumers keep
      processed event ids at least as long (``LEADFLOW_PROCESSED_EVENT_RETENTION_DAYS`` is
      checked to be no shorter), so a replayed dead letter that was processed already is
      recognised.
    """

    replication_factor: int
    min_insync_replicas: int
    dlq_retention_ms: int

    def configs(self, name: str) -> dict[str, str]:
        configs = {"min.insync.replicas": str(self.min_insync_replicas)}
        if name.endswith(DLQ_SUFFIX):
            configs["retention.ms"] = str(self.dlq_retention_ms)
        return configs


class TopicPolicyError(ValueError):
    pass


def topic_policy(
    brokers: int,
    *,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
    dlq_retention_days: int = DLQ_RETENTION_DAYS,
) -> TopicPolicy:
    """The policy for a cluster of ``brokers``, with the operator's overrides checked."""
    rf = replication_factor if replication_factor is not None else min(3, max(1, brokers))
    if not 1 <= rf <= brokers:
        raise TopicPolicyError(
            f"replication factor {rf} needs at least {rf} brokers; the cluster has {brokers}"
        )
    isr = min_insync_replicas if min_insync_replicas is not None else (rf - 1 if rf >= 3 else 1)
    if not 1 <= isr <= rf:
        raise TopicPolicyError(
            f"min.insync.replicas {isr} must be between 1 and the replication factor {rf}"
        )
    if dlq_retention_days < 1:
        raise TopicPolicyError(f"dead-letter retention {dlq_retention_days} days: at least 1")
    return TopicPolicy(rf, isr, dlq_retention_days * 24 * 3600 * 1000)


async def ensure_topics(
    bootstrap: Kafka,
    topics: dict[str, int],
    replication_factor: int | None = None,
    *,
    min_insync_replicas: int | None = None,
    dlq_retention_days: int = DLQ_RETENTION_DAYS,
) -> list[str]:
    """Create missing topics under :func:`topic_policy`; returns the names created. Existing
    topics are left as they are."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap), request_timeout_ms=15000)
    await start_client(admin, bootstrap)
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        policy = topic_policy(
            brokers,
            replication_factor=replication_factor,
            min_insync_replicas=min_insync_replicas,
            dlq_retention_days=dlq_retention_days,
        )
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, n, policy.replication_factor, topic_configs=policy.configs(name))
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
