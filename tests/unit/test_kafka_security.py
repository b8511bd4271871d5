"""How Kafka clients connect: the security settings, checked before any client is built."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import certifi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.kafka.security import (
    KafkaConnection,
    authentication_failure,
    authentication_message,
    client_options,
    connection,
    security_problems,
)
from shared.settings import CommonSettings, KafkaSettings
from shared.stack.common import REPO_ROOT

SCRAM = KafkaConnection(
    "kafka-0:9093",
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="leadflow",
    sasl_password="s3cret-password",
)


def everything_exists(_path: str) -> bool:
    return True


def test_plaintext_needs_nothing() -> None:
    assert security_problems(KafkaConnection("127.0.0.1:9092")) == []
    assert client_options("127.0.0.1:9092") == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert connection("a:1") == KafkaConnection("a:1")


def test_sasl_needs_a_mechanism_a_username_and_a_password() -> None:
    problems = security_problems(KafkaConnection("k:9092", security_protocol="SASL_PLAINTEXT"))
    assert problems == [
        "LEADFLOW_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs LEADFLOW_KAFKA_SASL_MECHANISM "
        "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)",
        "LEADFLOW_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs LEADFLOW_KAFKA_SASL_USERNAME",
        "LEADFLOW_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs LEADFLOW_KAFKA_SASL_PASSWORD",
    ]
    assert security_problems(SCRAM, exists=everything_exists) == []


def test_sasl_settings_without_a_sasl_protocol_are_refused() -> None:
    problems = security_problems(
        KafkaConnection("k:9092", security_protocol="SSL", sasl_mechanism="PLAIN")
    )
    assert problems == [
        "LEADFLOW_KAFKA_SASL_MECHANISM is set but LEADFLOW_KAFKA_SECURITY_PROTOCOL=SSL does not "
        "use SASL (SASL_PLAINTEXT or SASL_SSL)"
    ]


def test_tls_files_must_exist_and_need_a_tls_protocol() -> None:
    missing = KafkaConnection(
        "k:9093", security_protocol="SSL", ssl_cafile="/nowhere/ca.pem", ssl_certfile="/c.pem"
    )
    assert security_problems(missing, exists=lambda p: p != "/nowhere/ca.pem") == [
        "LEADFLOW_KAFKA_SSL_CAFILE: no such file /nowhere/ca.pem",
        "LEADFLOW_KAFKA_SSL_CERTFILE and LEADFLOW_KAFKA_SSL_KEYFILE go together "
        "(a client certificate needs its key)",
    ]
    plain = KafkaConnection("k:9092", security_protocol="SASL_PLAINTEXT", ssl_cafile="/ca.pem")
    assert any(
        "LEADFLOW_KAFKA_SSL_CAFILE is set but LEADFLOW_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"
        in problem
        for problem in security_problems(plain, exists=everything_exists)
    )


def test_client_options_carry_sasl_and_a_tls_context() -> None:
    conn = KafkaConnection(
        "k:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="leadflow",
        sasl_password="pw",
        ssl_cafile=certifi.where(),
        ssl_check_hostname=False,
    )
    options = client_options(conn)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("leadflow", "pw")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is False
    assert context.get_ca_certs()  # the CA file was loaded
    assert "pw" not in repr(conn)  # passwords stay out of logs and tracebacks


PROTOCOLS = st.sampled_from(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
MECHANISMS = st.sampled_from([None, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
MAYBE = st.one_of(st.none(), st.text(min_size=1, max_size=8))
# marked so that it cannot be mistaken for the words of a message
PASSWORDS = st.one_of(st.none(), st.text(max_size=8).map(lambda t: f"«{t}»"))


@given(protocol=PROTOCOLS, mechanism=MECHANISMS, username=MAYBE, password=PASSWORDS, cafile=MAYBE)
def test_every_problem_names_a_setting_and_usable_settings_build_a_client(
    protocol: str,
    mechanism: str | None,
    username: str | None,
    password: str | None,
    cafile: str | None,
) -> None:
    conn = KafkaConnection(
        "k:9092",
        security_protocol=protocol,  # type: ignore[arg-type]
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username=username,
        sasl_password=password,
        ssl_cafile=cafile,
    )
    problems = security_problems(conn, exists=everything_exists)
    for problem in problems:
        assert re.search(r"LEADFLOW_KAFKA_[A-Z_]+", problem)
        assert password is None or password not in problem
    if problems or cafile is not None:
        return  # a made-up CA file cannot be loaded; the TLS context is tested above
    options = client_options(conn)
    assert options["security_protocol"] == protocol
    assert ("sasl_plain_password" in options) == protocol.startswith("SASL_")
    assert ("ssl_context" in options) == protocol.endswith("SSL")


def test_the_settings_refuse_a_bad_combination_without_echoing_the_password() -> None:
    with pytest.raises(ValidationError) as refused:
        KafkaSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_password="hunter2-password",  # type: ignore[arg-type]
        )
    text = str(refused.value)
    assert "needs LEADFLOW_KAFKA_SASL_USERNAME" in text
    assert "hunter2-password" not in text
    settings = KafkaSettings(
        kafka_bootstrap_servers="kafka-0:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="leadflow",
        kafka_sasl_password="s3cret-password",  # type: ignore[arg-type]
    )
    assert settings.kafka() == SCRAM


def test_processed_ids_are_kept_at_least_as_long_as_dead_letters() -> None:
    settings = CommonSettings(env="dev")
    assert settings.kafka_dlq_retention_days == 30
    assert settings.processed_event_retention_days == 30
    with pytest.raises(ValidationError, match="LEADFLOW_PROCESSED_EVENT_RETENTION_DAYS"):
        CommonSettings(env="dev", processed_event_retention_days=14)
    assert (
        CommonSettings(
            env="dev", processed_event_retention_days=14, kafka_dlq_retention_days=14
        ).kafka_dlq_retention_days
        == 14
    )


def test_the_message_names_the_settings_to_check() -> None:
    assert authentication_message("SaslAuthenticationFailed: invalid credentials") == (
        "Kafka authentication failed: check LEADFLOW_KAFKA_SASL_USERNAME / "
        "LEADFLOW_KAFKA_SASL_PASSWORD (SaslAuthenticationFailed: invalid credentials)"
    )
    assert authentication_message("certificate verify failed", handshake=True).startswith(
        "Kafka authentication failed: the TLS handshake failed, check LEADFLOW_KAFKA_SSL_CAFILE"
    )


async def test_a_plaintext_cluster_is_never_probed() -> None:
    assert await authentication_failure("127.0.0.1:1") is None


async def test_an_unreachable_broker_is_not_an_authentication_failure() -> None:
    unreachable = KafkaConnection(
        "127.0.0.1:1",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="p",
    )
    assert await authentication_failure(unreachable, probe_seconds=2) is None


CLIENTS = re.compile(r"AIOKafka(?:Producer|Consumer|AdminClient)\(")


def test_every_client_of_the_services_is_built_with_the_security_settings() -> None:
    """No producer, consumer or admin client in shared/ or services/ is built from a bare
    bootstrap string: each takes ``**client_options(...)``."""
    bare, checked = [], 0
    for root in ("shared", "services"):
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            text = path.read_text()
            for match in CLIENTS.finditer(text):
                checked += 1
                call = text[match.end() : match.end() + 120]
                if not call.lstrip().startswith("**client_options("):
                    line = text.count("\n", 0, match.start()) + 1
                    bare.append(f"{Path(path).relative_to(REPO_ROOT)}:{line}")
    assert bare == []
    assert checked >= 8  # producer, consumer loop, topics, replay and DLQ counts
    # a consumer or producer config handed the bare address string would be plaintext
    handed_bare = re.compile(r"bootstrap_servers\s*=\s*\w+\.kafka_bootstrap_servers")
    assert [
        str(p.relative_to(REPO_ROOT))
        for root in ("shared", "services")
        for p in (REPO_ROOT / root).rglob("*.py")
        if p.name != "settings.py" and handed_bare.search(p.read_text())
    ] == []


def test_a_placeholder_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="LEADFLOW_KAFKA_SASL_PASSWORD is a placeholder"):
        KafkaSettings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="leadflow",
            kafka_sasl_password="changeme-kafka-password",  # type: ignore[arg-type]
        )
