"""Baseline for the ingest benchmark: a bare FastAPI app with one POST endpoint.

It does the least a JSON endpoint can do (read and parse the body, answer 202 with a small
JSON), so ingest/bare ratios show what signature checks, validation, PostgreSQL and Kafka
cost on top of FastAPI + uvicorn. Served exactly like the ingest service:
``uvicorn tests.bench.bare_app:create_app --factory``.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI(title="bench bare app")

    @app.post("/v1/leads", status_code=202)
    async def submit(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {"status": "accepted", "lead_id": str(uuid.uuid4()), "fields": len(body)},
            status_code=202,
        )

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app
