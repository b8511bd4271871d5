"""The scoring history's answers, as the OpenAPI document shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VERSION = "3f9a1c2b7d4e"
VERSION_EXAMPLE: dict[str, Any] = {
    "version": VERSION,
    "active": True,
    "recorded_from": "router",
    "content_known": True,
    "file_name": "scoring.yaml",
    "criteria_count": 14,
    "thresholds": {"warm": 20, "hot": 40, "mql": 30, "sql": 50},
    "first_loaded_at": "2026-12-02T04:40:00+00:00",
    "last_loaded_at": "2026-12-02T09:15:00+00:00",
}
VERSION_WITH_CONTENT_EXAMPLE = VERSION_EXAMPLE | {
    "content": "thresholds:\n  warm: 20\n  hot: 40\n  mql: 30\n  sql: 50\n..."
}
EVALUATION_EXAMPLE: dict[str, Any] = {
    "id": "5b1f7c3e-2a4d-4e8f-9c0b-1d2e3f4a5b6c",
    "rules_version": VERSION,
    "active": True,
    "computed_at": "2026-12-02T03:00:12+00:00",
    "source": "history",
    "parameters": {"since": "180d", "negative_after_days": 90, "as_of_days": 14},
    "n": 1840,
    "positives": 212,
    "auc": 0.78,
    "report": {"n": 1840, "positives": 212, "auc": 0.78, "rules_version": VERSION},
}


class ScoringVersionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [VERSION_EXAMPLE]})

    version: str = Field(description="the 12-hex hash of the rules file, stored with every score")
    active: bool = Field(description="the rules this router scores with now")
    recorded_from: Literal["router", "scores"] = Field(
        description="router: a router loaded this version (its file is known); scores: only "
        "seen in scores stored before versions were recorded (file, criteria and thresholds "
        "unknown, the times are when scores of it were first and last stored)"
    )
    content_known: bool = Field(description="whether the file's text is recorded")
    file_name: str | None = Field(description="the rules file's name; null when unknown")
    criteria_count: int | None
    thresholds: dict[str, int] | None = Field(description="warm, hot, mql and sql; null: unknown")
    first_loaded_at: datetime
    last_loaded_at: datetime = Field(description="the latest load by any router")


class ScoringVersionWithContent(ScoringVersionOut):
    model_config = ConfigDict(json_schema_extra={"examples": [VERSION_WITH_CONTENT_EXAMPLE]})

    content: str | None = Field(
        description="the rules file's text; null for a version only seen in stored scores"
    )


class ScoringVersionsOut(BaseModel):
    active_version: str = Field(description="the rules this router scores with now")
    versions: list[ScoringVersionOut] = Field(description="the most recently first loaded first")


class ScoringEvaluationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EVALUATION_EXAMPLE]})

    id: uuid.UUID
    rules_version: str
    active: bool = Field(description="whether the evaluated rules are the ones in force here")
    computed_at: datetime
    source: Literal["history", "csv"] = Field(
        description="history: the router's leads and their outcomes; csv: a file"
    )
    parameters: dict[str, Any] = Field(description="what the evaluation ran with")
    n: int = Field(description="rows evaluated")
    positives: int = Field(description="rows with a positive outcome")
    auc: float | None = Field(description="null when there were no positives or no negatives")
    report: dict[str, Any] = Field(
        description="the whole report of `leadflow scoring evaluate` (deciles, by temperature "
        "and stage, calibration, ...)"
    )


class ScoringEvaluationsOut(BaseModel):
    evaluations: list[ScoringEvaluationOut] = Field(description="the most recently computed first")
