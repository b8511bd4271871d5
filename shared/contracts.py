"""Checked-in contracts: each service's OpenAPI document (the JSON Schemas live in events/).

``SERVICES`` lists every HTTP service once; rendering, ``leadflow openapi --write`` and the
drift tests iterate it (and a test fails for a ``services/*/app.py`` missing from it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from shared.stack.common import REPO_ROOT

# Settings that build an app without reaching anything: the documents need no database.
_UNUSED_DB = "postgresql+asyncpg://unused/unused"


def _ingest() -> FastAPI:
    from services.ingest.app import create_app
    from services.ingest.settings import IngestSettings

    return create_app(IngestSettings(env="dev", database_url=_UNUSED_DB))


def _router() -> FastAPI:
    from services.router.app import create_app
    from services.router.settings import RouterSettings

    return create_app(RouterSettings(env="dev", database_url=_UNUSED_DB))


def _nurture() -> FastAPI:
    from services.nurture.app import create_app
    from services.nurture.settings import NurtureSettings

    return create_app(NurtureSettings(env="dev", database_url=_UNUSED_DB))


def _delivery() -> FastAPI:
    from services.delivery.app import create_app
    from services.delivery.settings import DeliverySettings

    return create_app(DeliverySettings(env="dev", database_url=_UNUSED_DB))


@dataclass(frozen=True)
class Service:
    name: str
    create_app: Callable[[], FastAPI]

    @property
    def openapi_path(self) -> Path:
        return REPO_ROOT / "services" / self.name / "openapi.json"


SERVICES: tuple[Service, ...] = (
    Service("ingest", _ingest),
    Service("router", _router),
    Service("nurture", _nurture),
    Service("delivery", _delivery),
)


def openapi_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def render_openapi() -> dict[Path, str]:
    """Every service's OpenAPI document, by the path it is checked in at."""
    return {s.openapi_path: openapi_text(s.create_app().openapi()) for s in SERVICES}
