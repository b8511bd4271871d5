"""Bring the whole local system up and down: PostgreSQL, Kafka, migrations, topics, services."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.kafka.topics import all_topics, ensure_topics
from shared.stack.common import REPO_ROOT, state_dir, wait_for_port
from shared.stack.kafka import KafkaBroker
from shared.stack.postgres import EmbeddedPostgres


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    app: str  # uvicorn factory
    port: int
    migrations: Path | None
    schema: str


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "ingest",
        "services.ingest.app:create_app",
        8000,
        REPO_ROOT / "services" / "ingest" / "migrations",
        "ingest",
    ),
    ServiceSpec(
        "router",
        "services.router.app:create_app",
        8001,
        REPO_ROOT / "services" / "router" / "migrations",
        "router",
    ),
    ServiceSpec(
        "nurture",
        "services.nurture.app:create_app",
        8002,
        REPO_ROOT / "services" / "nurture" / "migrations",
        "nurture",
    ),
    ServiceSpec(
        "delivery",
        "services.delivery.app:create_app",
        8003,
        REPO_ROOT / "services" / "delivery" / "migrations",
        "delivery",
    ),
)


@dataclass
class Stack:
    root: Path = field(default_factory=state_dir)
    pg_port: int = int(os.environ.get("LEADFLOW_PG_PORT", "54329"))
    kafka_port: int = int(os.environ.get("LEADFLOW_KAFKA_PORT", "9092"))
    kafka_controller_port: int = int(os.environ.get("LEADFLOW_KAFKA_CONTROLLER_PORT", "9093"))
    durable: bool = True
    # the broker's JVM heap; the test suite's one broker holds every test's topics (thousands
    # of partitions), which a local stack's default does not
    kafka_heap: str = "512m"

    def __post_init__(self) -> None:
        self.postgres = EmbeddedPostgres(
            self.root / "postgres", port=self.pg_port, durable=self.durable
        )
        self.kafka = KafkaBroker(
            self.root / "kafka",
            port=self.kafka_port,
            controller_port=self.kafka_controller_port,
            heap=self.kafka_heap,
        )

    @property
    def database_url(self) -> str:
        return self.postgres.url()

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("LEADFLOW_ENV", "dev")
        env.setdefault("LEADFLOW_LOG_FORMAT", "json")
        env["LEADFLOW_DATABASE_URL"] = self.database_url
        env["LEADFLOW_KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        env.update(extra)
        return env

    def up(self, progress: Callable[[str], None] | None = None) -> None:
        say = progress or (lambda _msg: None)
        self.root.mkdir(parents=True, exist_ok=True)
        say("starting PostgreSQL")
        self.postgres.start()
        say("starting Kafka (first run downloads the broker with Maven)")
        self.kafka.start()
        say("running migrations")
        self.migrate()
        say("creating topics")
        asyncio.run(
            ensure_topics(self.bootstrap, all_topics(os.environ.get("LEADFLOW_TOPIC_PREFIX", "")))
        )
        (self.root / "stack.json").write_text(
            json.dumps({"database_url": self.database_url, "kafka": self.bootstrap}, indent=2)
        )

    def migrate(self) -> None:
        from shared import db

        for spec in SERVICES:
            if spec.migrations is not None:
                db.upgrade(spec.migrations, self.database_url, spec.schema)

    def down(self) -> None:
        self.kafka.stop()
        self.postgres.stop()

    def status(self) -> dict[str, str]:
        return {
            "postgres": f"{'up' if self.postgres.running() else 'down'}  {self.database_url}",
            "kafka": f"{'up' if self.kafka.running() else 'down'}  {self.bootstrap}",
        }


class ServiceProcess:
    """One service as a uvicorn subprocess."""

    def __init__(
        self,
        spec: ServiceSpec,
        env: dict[str, str],
        port: int | None = None,
        log: Path | None = None,
    ) -> None:
        self.spec = spec
        self.env = env
        self.port = port or spec.port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            self.spec.app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            # client addresses come from the app's own trusted-proxy list (ingest's settings)
            "--no-proxy-headers",
            "--timeout-graceful-shutdown",
            "10",
        ]
        out = open(self.log, "ab") if self.log else None
        self.proc = subprocess.Popen(
            cmd, env=self.env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT if out else None
        )
        wait_for_port(
            "127.0.0.1",
            self.port,
            timeout,
            what=self.spec.name,
            alive=lambda: self.proc is not None and self.proc.poll() is None,
        )

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait_ready(self, timeout: float = 30) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.spec.name} not ready within {timeout:.0f}s")
