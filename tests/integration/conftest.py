"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from shared.kafka.producer import EventProducer
from tests.router_env import make_router_env


@pytest.fixture
async def env(stack):
    """An isolated router environment: its own database and topic prefix."""
    return await make_router_env(stack)


@pytest.fixture
async def producer(stack):
    p = EventProducer(stack.bootstrap)
    await p.start(required=True)
    yield p
    await p.stop()
