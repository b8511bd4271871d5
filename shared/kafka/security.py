"""How every leadflow Kafka client connects: bootstrap servers plus TLS and SASL.

:class:`KafkaConnection` is the one value a producer, consumer or admin client is built from;
:func:`client_options` turns it into the keyword arguments of aiokafka's clients, so none can
be built without the security settings. :func:`security_problems` checks a combination of
settings (pure, for start-up), :func:`start_client` starts a client and turns an
authentication failure into :class:`KafkaAuthenticationFailed`, which names the settings to
check and is never retried.

aiokafka's bootstrap swallows the broker's answer (a wrong password surfaces as "Unable to
bootstrap", like a broker that is down), so a client that cannot start is followed by one
probe connection that tells the two apart.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shared.kafka.errors import KafkaAuthenticationFailed

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})

SASL_SETTINGS = "LEADFLOW_KAFKA_SASL_USERNAME / LEADFLOW_KAFKA_SASL_PASSWORD"
TLS_SETTINGS = (
    "LEADFLOW_KAFKA_SSL_CAFILE / LEADFLOW_KAFKA_SSL_CERTFILE / LEADFLOW_KAFKA_SSL_KEYFILE "
    "/ LEADFLOW_KAFKA_SSL_CHECK_HOSTNAME"
)


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in SASL_PROTOCOLS

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in TLS_PROTOCOLS


Kafka = KafkaConnection | str  # a bare string: bootstrap servers of a plaintext cluster (tests)


def connection(kafka: Kafka) -> KafkaConnection:
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)


def security_problems(
    conn: KafkaConnection, *, exists: Callable[[str], bool] = os.path.isfile
) -> list[str]:
    """What is wrong with a combination of security settings, each naming its setting (empty
    when it can be used)."""
    problems: list[str] = []
    if conn.uses_sasl:
        if conn.sasl_mechanism is None:
            problems.append(
                f"LEADFLOW_KAFKA_SECURITY_PROTOCOL={conn.security_protocol} needs "
                "LEADFLOW_KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            )
        if not conn.sasl_username:
            problems.append(
                f"LEADFLOW_KAFKA_SECURITY_PROTOCOL={conn.security_protocol} needs "
                "LEADFLOW_KAFKA_SASL_USERNAME"
            )
        if not conn.sasl_password:
            problems.append(
                f"LEADFLOW_KAFKA_SECURITY_PROTOCOL={conn.security_protocol} needs "
                "LEADFLOW_KAFKA_SASL_PASSWORD"
            )
    else:
        for name, value in (
            ("LEADFLOW_KAFKA_SASL_MECHANISM", conn.sasl_mechanism),
            ("LEADFLOW_KAFKA_SASL_USERNAME", conn.sasl_username),
            ("LEADFLOW_KAFKA_SASL_PASSWORD", conn.sasl_password),
        ):
            if value:
                problems.append(
                    f"{name} is set but LEADFLOW_KAFKA_SECURITY_PROTOCOL={conn.security_protocol} "
                    "does not use SASL (SASL_PLAINTEXT or SASL_SSL)"
                )
    files = (
        ("LEADFLOW_KAFKA_SSL_CAFILE", conn.ssl_cafile),
        ("LEADFLOW_KAFKA_SSL_CERTFILE", conn.ssl_certfile),
        ("LEADFLOW_KAFKA_SSL_KEYFILE", conn.ssl_keyfile),
    )
    for name, path in files:
        if path and not conn.uses_tls:
            problems.append(
                f"{name} is set but LEADFLOW_KAFKA_SECURITY_PROTOCOL={conn.security_protocol} "
                "does not use TLS (SSL or SASL_SSL)"
            )
        elif path and not exists(path):
            problems.append(f"{name}: no such file {path}")
    if bool(conn.ssl_certfile) != bool(conn.ssl_keyfile):
        problems.append(
            "LEADFLOW_KAFKA_SSL_CERTFILE and LEADFLOW_KAFKA_SSL_KEYFILE go together "
            "(a client certificate needs its key)"
        )
    if conn.ssl_key_password and not conn.ssl_keyfile:
        problems.append("LEADFLOW_KAFKA_SSL_KEY_PASSWORD is set without LEADFLOW_KAFKA_SSL_KEYFILE")
    return problems


def client_options(kafka: Kafka) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    conn = connection(kafka)
    options: dict[str, Any] = {
        "bootstrap_servers": conn.bootstrap_servers,
        "security_protocol": conn.security_protocol,
    }
    if conn.uses_sasl:
        options["sasl_mechanism"] = conn.sasl_mechanism
        options["sasl_plain_username"] = conn.sasl_username
        options["sasl_plain_password"] = conn.sasl_password
    if conn.uses_tls:
        from aiokafka.helpers import create_ssl_context

        context = create_ssl_context(
            cafile=conn.ssl_cafile,
            certfile=conn.ssl_certfile,
            keyfile=conn.ssl_keyfile,
            password=conn.ssl_key_password,
        )
        context.check_hostname = conn.ssl_check_hostname
        options["ssl_context"] = context
    return options


def authentication_message(detail: str, *, handshake: bool = False) -> str:
    """What a refused client says: the settings to check first (the TLS ones when the TLS
    handshake failed, else the SASL credentials), then the broker's own words."""
    if handshake:
        return f"Kafka authentication failed: the TLS handshake failed, check {TLS_SETTINGS} ({detail})"
    return f"Kafka authentication failed: check {SASL_SETTINGS} ({detail})"


async def authentication_failure(kafka: Kafka, probe_seconds: float = 10.0) -> str | None:
    """Connect once to each bootstrap server with the connection's security: the message of
    :class:`KafkaAuthenticationFailed` if a broker refused the credentials or the TLS
    handshake, ``None`` if one accepted them or none could be reached."""
    import ssl

    from aiokafka import errors
    from aiokafka.conn import create_conn

    conn = connection(kafka)
    if conn.security_protocol == "PLAINTEXT":
        return None
    options = client_options(conn)
    refused = (
        errors.SaslAuthenticationFailed,
        errors.AuthenticationFailedError,
        errors.AuthenticationMethodNotSupported,
        errors.UnsupportedSaslMechanismError,
        errors.IllegalSaslStateError,
    )
    for server in conn.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            probe = await asyncio.wait_for(
                create_conn(
                    host.strip("[]"),
                    int(port),
                    security_protocol=conn.security_protocol,
                    ssl_context=options.get("ssl_context"),
                    sasl_mechanism=options.get("sasl_mechanism", "PLAIN"),
                    sasl_plain_username=conn.sasl_username,
                    sasl_plain_password=conn.sasl_password,
                    request_timeout_ms=int(probe_seconds * 1000),
                ),
                probe_seconds,
            )
        except refused as exc:
            return authentication_message(f"{type(exc).__name__}: {exc}")
        except ssl.SSLError as exc:
            return authentication_message(str(exc), handshake=True)
        except (OSError, TimeoutError, errors.KafkaError, ValueError):
            continue  # not reachable: not a question of credentials
        probe.close()
        return None
    return None


class Startable(Protocol):
    async def start(self) -> None: ...


async def start_client(client: Startable, kafka: Kafka) -> None:
    """``await client.start()``; an authentication failure raises
    :class:`KafkaAuthenticationFailed` instead of the client's "Unable to bootstrap"."""
    try:
        await client.start()
    except Exception as exc:
        message = await authentication_failure(kafka)
        if message is not None:
            raise KafkaAuthenticationFailed(message) from exc
        raise
