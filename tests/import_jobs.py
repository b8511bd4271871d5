"""Following import jobs over HTTP in tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from shared.settings import DEV_ADMIN_TOKEN

ADMIN = {"authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
FINISHED = ("done", "cancelled", "failed")


async def job(client: httpx.AsyncClient, import_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/imports/{import_id}", params={"limit": 0}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_finished(
    client: httpx.AsyncClient, import_id: str, timeout: float = 60
) -> dict[str, Any]:
    """Poll until the job is done, cancelled or failed; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        current = await job(client, import_id)
        if current["status"] in FINISHED:
            return current
        assert time.monotonic() < deadline, f"import still {current['status']}: {current}"
        await asyncio.sleep(0.1)


async def all_rows(
    client: httpx.AsyncClient, import_id: str, status: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Every recorded row result, page by page."""
    rows: list[dict[str, Any]] = []
    after = 0
    while True:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if status:
            params["status"] = status
        response = await client.get(f"/v1/imports/{import_id}", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page["rows"])
        if page["next_after"] is None:
            return rows
        after = page["next_after"]
