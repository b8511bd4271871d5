"""Test fixtures: a real PostgreSQL and a real Kafka, started once per test session.

The session's stack lives in a temporary folder on free ports, so tests run beside a
`make run` stack. Tests isolate themselves by the ids they create (and their own
topics or consumer groups where they need them)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.kafka.producer import EventProducer
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess, Stack
from tests.router_env import make_router_env

INGEST = next(s for s in SERVICES if s.name == "ingest")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath) or "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="leadflow-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(tmp_root: Path) -> Iterator[Stack]:
    stack = Stack(
        root=tmp_root / "stack",
        pg_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        durable=False,
        # every test makes its own prefixed topics on this one broker: over 17,000 partitions
        # by the end of the run, which ran 512 MB of heap out of memory
        kafka_heap="2048m",
    )
    stack.up()
    yield stack
    stack.kafka.destroy()
    stack.postgres.destroy()


def start_ingest(
    stack: Stack, log_dir: Path, *, name: str = "ingest", **env: str
) -> ServiceProcess:
    proc = ServiceProcess(
        INGEST,
        stack.env(LEADFLOW_ENV="test", LEADFLOW_LOG_LEVEL="WARNING", **env),
        port=free_port(),
        log=log_dir / f"{name}.log",
    )
    proc.start()
    proc.wait_ready()
    return proc


@pytest.fixture(scope="session")
def ingest(stack: Stack, tmp_root: Path) -> Iterator[ServiceProcess]:
    """The ingest service as a real process over real HTTP."""
    proc = start_ingest(stack, tmp_root)
    yield proc
    proc.stop()


@pytest.fixture
async def env(stack):
    """An isolated environment: its own database (every service's schema) and topic prefix."""
    return await make_router_env(stack)


@pytest.fixture
async def producer(stack):
    p = EventProducer(stack.bootstrap)
    await p.start(required=True)
    yield p
    await p.stop()
