"""A Kafka that asks for a password (SASL/SCRAM-SHA-256, on a plaintext and on a TLS listener):
the command line and every service authenticate with the right one, and a wrong password (or
an untrusted certificate) stops them at once, naming the settings.

This module starts its own broker (the session's broker stays plaintext) and shares only the
session's PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared import db
from shared.events.registry import LEAD_ASSIGNED, LEAD_RECEIVED
from shared.kafka.errors import KafkaAuthenticationFailed
from shared.kafka.producer import EventProducer
from shared.kafka.security import KafkaConnection, client_options
from shared.stack.common import REPO_ROOT, free_port
from shared.stack.kafka import KafkaBroker
from shared.stack.stack import SERVICES, ServiceProcess, Stack
from tests.kafka_helpers import TopicReader, topic_configs, value
from tests.router_env import FIXTURES, sales_ready
from tests.signing import signed_request

USER, PASSWORD = "leadflow", "leadflow-scram-password-7f3a"
SPEC = {s.name: s for s in SERVICES}
SETTINGS_NAMED = "LEADFLOW_KAFKA_SASL_USERNAME / LEADFLOW_KAFKA_SASL_PASSWORD"


@pytest.fixture(scope="module")
def broker(tmp_root: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(
        tmp_root / "kafka-sasl",
        port=free_port(),
        controller_port=free_port(),
        tls_port=free_port(),
        scram_users={"broker": "broker-scram-password-91c2", USER: PASSWORD},
    )
    broker.start()
    yield broker
    broker.destroy()


@pytest.fixture(scope="module")
def database_url(stack: Stack) -> str:
    name = f"sasl{uuid.uuid4().hex[:8]}"
    stack.postgres.ensure_database(name)
    url = stack.postgres.url(name)
    for spec in SERVICES:
        assert spec.migrations is not None
        db.upgrade(spec.migrations, url, spec.schema)
    return url


def kafka(broker: KafkaBroker, password: str = PASSWORD) -> KafkaConnection:
    return KafkaConnection(
        broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=USER,
        sasl_password=password,
    )


def kafka_env(
    broker: KafkaBroker, password: str = PASSWORD, *, tls: bool = False, trusted: bool = True
) -> dict[str, str]:
    """The settings of a client of the plaintext SASL listener, or of the TLS one (trusting the
    broker's certificate, or only the system's CAs)."""
    env = {
        "LEADFLOW_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "LEADFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LEADFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "LEADFLOW_KAFKA_SASL_USERNAME": USER,
        "LEADFLOW_KAFKA_SASL_PASSWORD": password,
    }
    if tls:
        env["LEADFLOW_KAFKA_BOOTSTRAP_SERVERS"] = broker.tls_bootstrap
        env["LEADFLOW_KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL"
        if trusted:
            env["LEADFLOW_KAFKA_SSL_CAFILE"] = str(broker.ca_file)
    return env


def service_env(
    stack: Stack,
    broker: KafkaBroker,
    database_url: str,
    password: str = PASSWORD,
    *,
    tls: bool = False,
) -> dict[str, str]:
    return stack.env(
        LEADFLOW_ENV="test",
        LEADFLOW_LOG_LEVEL="WARNING",
        LEADFLOW_DATABASE_URL=database_url,
        LEADFLOW_TOPIC_PREFIX="",
        LEADFLOW_ROUTER_ROUTING_FILE=str(FIXTURES / "routing-24x7.yaml"),
        LEADFLOW_NURTURE_SEQUENCES_FILE=str(FIXTURES / "nurture-24x7.yaml"),
        **kafka_env(broker, password, tls=tls),
    )


def leadflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The ``leadflow`` command line as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250", "LEADFLOW_TOPIC_PREFIX": "", **env},
        cwd=REPO_ROOT,
        timeout=120,
    )


async def replication_factor(conn: KafkaConnection, topic: str) -> int:
    admin = AIOKafkaAdminClient(**client_options(conn))
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return len(described["partitions"][0]["replicas"])


def start(name: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    proc = ServiceProcess(SPEC[name], env, port=free_port(), log=log_dir / f"{name}.log")
    proc.start()
    proc.wait_ready()
    return proc


def refused_start(name: str, env: dict[str, str], log_dir: Path) -> tuple[int, str]:
    """Start a service that must not come up: its exit code and its output."""
    log = log_dir / f"{name}-wrong-password.log"
    proc = ServiceProcess(SPEC[name], env, port=free_port(), log=log)
    try:
        proc.start(timeout=45)
    except RuntimeError:  # exited before listening
        pass
    else:
        proc.stop()
        raise AssertionError(f"{name} started with a wrong Kafka password")
    assert proc.proc is not None
    return proc.proc.wait(timeout=10), log.read_text()


async def test_cli_and_services_authenticate_and_a_wrong_password_stops_them(
    broker, database_url, stack, tmp_path
):
    right = kafka_env(broker)
    # create-topics: replication from the settings, checked against the one broker
    too_many = leadflow("create-topics", env={**right, "LEADFLOW_KAFKA_REPLICATION_FACTOR": "3"})
    assert too_many.returncode != 0
    assert "replication factor 3 needs at least 3 brokers" in too_many.stderr, too_many.stderr
    created = leadflow(
        "create-topics",
        env={
            **right,
            "LEADFLOW_KAFKA_REPLICATION_FACTOR": "1",
            "LEADFLOW_KAFKA_MIN_INSYNC_REPLICAS": "1",
            "LEADFLOW_KAFKA_DLQ_RETENTION_DAYS": "21",
        },
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "leads.received.v1.dlq" in created.stderr
    conn = kafka(broker)
    received = await topic_configs(conn, LEAD_RECEIVED.topic)
    dead_letters = await topic_configs(conn, f"{LEAD_RECEIVED.topic}.dlq")
    assert received["min.insync.replicas"] == "1"
    assert dead_letters["min.insync.replicas"] == "1"
    assert dead_letters["retention.ms"] == str(21 * 86_400_000)
    assert await replication_factor(conn, LEAD_RECEIVED.topic) == 1
    # the DLQ command on the new cluster, before any consumer group was used
    listed = leadflow("dlq", "list", env=right)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f" {LEAD_RECEIVED.topic}.dlq " in listed.stdout

    # ingest (over TLS), router and nurture on the authenticated broker: a lead reaches a rep
    env = service_env(stack, broker, database_url)
    procs = []
    try:
        for name in ("router", "nurture"):
            procs.append(await asyncio.to_thread(start, name, env, tmp_path))
        tls_env = service_env(stack, broker, database_url, tls=True)
        procs.append(await asyncio.to_thread(start, "ingest", tls_env, tmp_path))
        ingest = procs[-1]
        async with httpx.AsyncClient(timeout=5) as client:
            for proc in procs:  # each one's readiness asks its Kafka producer and consumer
                assert (await client.get(f"{proc.url}/readyz")).status_code == 200
        async with TopicReader(conn, LEAD_ASSIGNED.topic) as assigned:
            body, headers = signed_request(
                sales_ready(f"sasl.{uuid.uuid4().hex[:8]}@scram.example")
            )
            async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as client:
                response = await client.post("/v1/leads", content=body, headers=headers)
            assert response.status_code == 202, response.text
            submission = response.json()["lead_id"]
            records = await assigned.read(
                until=lambda rs: any(value(r)["data"]["submission_id"] == submission for r in rs),
                timeout=30,
            )
        event = next(value(r) for r in records if value(r)["data"]["submission_id"] == submission)
        assert event["data"]["outcome"] == "assigned"
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.stop)

    # the command line over TLS: with the broker's CA, and refused without it
    listed = leadflow("dlq", "list", env=kafka_env(broker, tls=True))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f" {LEAD_RECEIVED.topic}.dlq " in listed.stdout
    untrusted = leadflow("dlq", "list", env=kafka_env(broker, tls=True, trusted=False))
    assert untrusted.returncode == 1, untrusted.stdout + untrusted.stderr
    assert "the TLS handshake failed, check LEADFLOW_KAFKA_SSL_CAFILE" in untrusted.stderr

    # a wrong password: every one stops at once with the settings named, never waits
    wrong = kafka_env(broker, password="not-the-password")
    refused = leadflow("create-topics", env=wrong)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"Kafka authentication failed: check {SETTINGS_NAMED}" in refused.stderr
    refused = leadflow("dlq", "list", env=wrong)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert SETTINGS_NAMED in refused.stderr
    wrong_env = service_env(stack, broker, database_url, password="not-the-password")
    outcomes = await asyncio.gather(
        *(
            asyncio.to_thread(refused_start, name, wrong_env, tmp_path)
            for name in ("ingest", "router", "nurture")
        )
    )
    for name, (code, output) in zip(("ingest", "router", "nurture"), outcomes, strict=True):
        assert code != 0, f"{name} exited 0:\n{output}"
        assert f"Kafka authentication failed: check {SETTINGS_NAMED}" in output, output
        assert "not-the-password" not in output  # the password itself is never printed


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_a_broker_that_comes_back_refusing_the_password_stops_the_producer(broker):
    """Kafka down at start-up (the start is deferred, as ingest does), then reachable and refusing
    the password: the next connection calls the fatal handler instead of answering 503 forever."""
    host, port = "127.0.0.1", free_port()
    wrong = KafkaConnection(
        f"{host}:{port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=USER,
        sasl_password="not-the-password",
    )
    refused: list[Exception] = []
    producer = EventProducer(wrong, publish_timeout=5, on_refused=refused.append)
    await producer.start(required=False)  # nothing listens: deferred, not fatal
    assert refused == []

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(broker.host, broker.port)
        await asyncio.gather(_forward(reader, upstream_writer), _forward(upstream_reader, writer))

    server = await asyncio.start_server(relay, host, port)  # "Kafka is back"
    try:
        await asyncio.sleep(1.1)  # past the producer's one-second pause after a failed attempt
        with pytest.raises(KafkaAuthenticationFailed, match=SETTINGS_NAMED):
            await producer.connect()
        assert len(refused) == 1 and isinstance(refused[0], KafkaAuthenticationFailed)
    finally:
        server.close()
        await producer.stop()
