"""Fixtures of the router's integration tests: the router as a real process, and ingest
posting into the same isolated environment."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import start_ingest
from tests.integration.test_router import start_router


@pytest.fixture
async def router(env, tmp_path):
    proc = await asyncio.to_thread(start_router, env, tmp_path)
    yield proc
    await asyncio.to_thread(proc.stop)


@pytest.fixture
async def ingest_for_env(env, stack, tmp_path):
    proc = await asyncio.to_thread(
        start_ingest, stack, tmp_path, name="ingest-env", LEADFLOW_TOPIC_PREFIX=env.prefix
    )
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as client:
        yield client
    await asyncio.to_thread(proc.stop)
