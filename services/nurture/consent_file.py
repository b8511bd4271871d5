"""Reading the consent policy file (validation lives in ``domain/consent.py``)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from services.nurture.domain.consent import ConsentPolicy
from services.nurture.sequences_file import problems


class ConsentPolicyFileError(ValueError):
    pass


def load_consent_policy(path: Path) -> ConsentPolicy:
    try:
        return ConsentPolicy.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError as exc:
        raise ConsentPolicyFileError(f"consent policy file {path} not found") from exc
    except yaml.YAMLError as exc:
        raise ConsentPolicyFileError(
            f"consent policy file {path} is not valid YAML: {exc}"
        ) from exc
    except ValidationError as exc:
        raise ConsentPolicyFileError(
            f"consent policy file {path} is invalid: {problems(exc)}"
        ) from exc
