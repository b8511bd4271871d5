"""How topics are replicated for the cluster they are created on."""

from __future__ import annotations

import pytest

from shared.kafka.topics import TopicPolicyError, topic_policy


@pytest.mark.parametrize(
    ("brokers", "rf", "isr"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2), (9, 3, 2)]
)
def test_defaults_follow_the_cluster(brokers: int, rf: int, isr: int) -> None:
    policy = topic_policy(brokers)
    assert (policy.replication_factor, policy.min_insync_replicas) == (rf, isr)


def test_overrides_are_checked_against_the_cluster() -> None:
    assert topic_policy(5, replication_factor=5).min_insync_replicas == 4
    assert topic_policy(3, min_insync_replicas=3).min_insync_replicas == 3
    with pytest.raises(TopicPolicyError, match="needs at least 3 brokers; the cluster has 1"):
        topic_policy(1, replication_factor=3)
    with pytest.raises(TopicPolicyError, match="between 1 and the replication factor 3"):
        topic_policy(3, min_insync_replicas=4)


def test_dead_letters_are_kept_30_days_unless_told() -> None:
    assert topic_policy(1).dlq_retention_ms == 30 * 86_400_000
    assert topic_policy(1, dlq_retention_days=45).dlq_retention_ms == 45 * 86_400_000
    with pytest.raises(TopicPolicyError, match="at least 1"):
        topic_policy(1, dlq_retention_days=0)
    policy = topic_policy(3, dlq_retention_days=30)
    assert policy.configs("leads.received.v1.dlq") == {
        "min.insync.replicas": "2",
        "retention.ms": str(30 * 86_400_000),
    }
    assert policy.configs("leads.received.v1") == {"min.insync.replicas": "2"}
