"""Reading the sequences file (validation lives in ``domain/sequences.py``)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from services.nurture.domain.sequences import SequencesConfig


class SequencesFileError(ValueError):
    pass


def load_sequences(path: Path) -> SequencesConfig:
    try:
        return SequencesConfig.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError as exc:
        raise SequencesFileError(f"sequences file {path} not found") from exc
    except yaml.YAMLError as exc:
        raise SequencesFileError(f"sequences file {path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise SequencesFileError(f"sequences file {path} is invalid: {problems(exc)}") from exc


def problems(exc: ValidationError) -> str:
    """Each problem as ``key.path: message``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors(include_url=False)
    )
