"""Checked-in contracts: each service's OpenAPI document (the JSON Schemas live in events/)."""

from __future__ import annotations

import json
from pathlib import Path

from shared.stack.common import REPO_ROOT


def render_openapi() -> dict[Path, str]:
    from services.ingest.app import create_app
    from services.ingest.settings import IngestSettings

    ingest = create_app(
        IngestSettings(env="dev", database_url="postgresql+asyncpg://unused/unused")
    )
    return {
        REPO_ROOT / "services" / "ingest" / "openapi.json": json.dumps(
            ingest.openapi(), indent=2, sort_keys=True
        )
        + "\n"
    }
