"""The dispositions file: the reasons a lead may be disqualified with, and what each does.

Ingest loads it to refuse an unknown reason (422, listing the allowed ones); the router
loads it to act on a reason. One file, so both always agree."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_DISPOSITIONS_FILE = (
    Path(__file__).resolve().parents[1] / "deploy" / "config" / "dispositions.yaml"
)
REASON_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


class ReasonAction(StrEnum):
    recycle = "recycle"  # not now: back to marketing's remarket list
    close = "close"  # disqualified for good: marketing stops
    suppress = "suppress"  # contact data invalid: closed and suppressed
    duplicate = "duplicate"  # the same person as another lead: closed, pair to review


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: ReasonAction
    label: str = Field(min_length=1, max_length=200)


class Dispositions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    disqualify_reasons: dict[str, Reason]

    @model_validator(mode="after")
    def _valid(self) -> Dispositions:
        import re

        if not self.disqualify_reasons:
            raise ValueError("disqualify_reasons is empty: name at least one reason")
        for code in self.disqualify_reasons:
            if not re.fullmatch(REASON_PATTERN, code):
                raise ValueError(
                    f"reason code {code!r}: lower-case letters, digits and _, at most 32"
                )
        return self

    @property
    def codes(self) -> list[str]:
        return sorted(self.disqualify_reasons)

    def action(self, code: str) -> ReasonAction | None:
        reason = self.disqualify_reasons.get(code)
        return reason.action if reason else None


class DispositionsError(ValueError):
    pass


def load_dispositions(path: Path = DEFAULT_DISPOSITIONS_FILE) -> Dispositions:
    try:
        return Dispositions.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError as exc:
        raise DispositionsError(f"dispositions file {path} not found") from exc
    except (ValidationError, yaml.YAMLError) as exc:
        raise DispositionsError(f"dispositions file {path} is invalid: {exc}") from exc
