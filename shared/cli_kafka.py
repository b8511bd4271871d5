"""What the Kafka commands of the command line share (``create-topics``, ``leadflow dlq``):
their settings, read like a service reads them, and how an authentication failure ends them."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from shared.kafka.errors import KafkaAuthenticationFailed
from shared.settings import KafkaSettings

err = Console(stderr=True)


def kafka_settings(bootstrap: str | None = None) -> KafkaSettings:
    """The LEADFLOW_KAFKA_* settings (``--bootstrap`` before LEADFLOW_KAFKA_BOOTSTRAP_SERVERS);
    a bad combination ends the command with what to fix (exit code 2)."""
    overrides = {"kafka_bootstrap_servers": bootstrap} if bootstrap else {}
    try:
        return KafkaSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]{error['msg']}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None


def fail_on_authentication(exc: KafkaAuthenticationFailed) -> NoReturn:
    """End the command (exit code 1) with the message naming the settings to check."""
    err.print(f"[red]{exc}[/red]", soft_wrap=True)
    raise typer.Exit(1) from None
