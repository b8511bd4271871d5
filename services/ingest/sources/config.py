"""Lead sources, configured in a YAML file; secrets come from the environment.

A source has an id and a kind:
- ``signed``: server-to-server webhooks (form providers, CRMs), Standard Webhooks signatures;
  may also post activities.
- ``public``: browser forms posting directly; allowed origins, a honeypot field, a rate limit,
  and optionally the thank-you and error pages a plain HTML form is redirected to.
- ``list``: purchased lists, signed like ``signed``; their records are names, not leads.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.ingest.domain.redirects import redirect_url_problem
from shared.settings import is_placeholder

SourceKind = Literal["signed", "public", "list"]


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    per_minute: float = Field(30, gt=0)
    burst: int = Field(10, ge=1)


class FormRedirect(BaseModel):
    """Where a plain HTML form's visitor is sent (303) after posting to a public source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    thank_you_url: str
    error_url: str


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    kind: SourceKind
    description: str = ""
    # signed / list: the environment variable holding one or more whsec_ secrets (space or
    # comma separated: several are active at once while a secret is rotated).
    secrets_env: str | None = None
    # public
    allowed_origins: list[str] = []
    honeypot_field: str | None = None
    rate_limit: RateLimit = RateLimit()
    redirect: FormRedirect | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        return [o.rstrip("/").lower() for o in v]


class Source(BaseModel):
    """A source with its secrets resolved."""

    model_config = ConfigDict(frozen=True)
    config: SourceConfig
    secrets: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def kind(self) -> SourceKind:
        return self.config.kind

    @property
    def is_signed(self) -> bool:
        return self.config.kind in ("signed", "list")


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[SourceConfig]


class SourceConfigError(ValueError):
    pass


def parse_secret(value: str) -> str:
    """Check a Standard Webhooks secret: ``whsec_`` + base64 of at least 24 bytes."""
    if not value.startswith("whsec_"):
        raise SourceConfigError("webhook secrets must start with whsec_ (Standard Webhooks format)")
    try:
        raw = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except ValueError as exc:
        raise SourceConfigError("webhook secret is not valid base64 after whsec_") from exc
    if len(raw) < 24:
        raise SourceConfigError("webhook secret must hold at least 24 random bytes")
    return value


def load_sources(
    path: Path,
    *,
    dev: bool,
    dev_secret: str,
    environ: dict[str, str] | None = None,
) -> dict[str, Source]:
    """Load and check the sources file. Fails with a message naming the problem."""
    env = os.environ if environ is None else environ
    try:
        parsed = SourcesFile.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError as exc:
        raise SourceConfigError(f"sources file {path} not found") from exc
    except (ValidationError, yaml.YAMLError) as exc:
        raise SourceConfigError(f"sources file {path} is invalid: {exc}") from exc
    sources: dict[str, Source] = {}
    for cfg in parsed.sources:
        if cfg.id in sources:
            raise SourceConfigError(f"source {cfg.id!r} is defined twice in {path}")
        secrets: tuple[str, ...] = ()
        if cfg.kind in ("signed", "list"):
            if not cfg.secrets_env:
                raise SourceConfigError(f"source {cfg.id!r} is {cfg.kind} but has no secrets_env")
            raw = env.get(cfg.secrets_env, "").replace(",", " ").split()
            if not raw:
                if not dev:
                    raise SourceConfigError(
                        f"source {cfg.id!r}: environment variable {cfg.secrets_env} is not set"
                    )
                raw = [dev_secret]
            for secret in raw:
                if not dev and is_placeholder(secret):
                    raise SourceConfigError(
                        f"source {cfg.id!r}: {cfg.secrets_env} holds a placeholder secret"
                    )
                try:
                    parse_secret(secret)
                except SourceConfigError as exc:
                    raise SourceConfigError(
                        f"source {cfg.id!r} ({cfg.secrets_env}): {exc}"
                    ) from exc
            secrets = tuple(raw)
        elif cfg.kind == "public" and not cfg.allowed_origins:
            raise SourceConfigError(f"public source {cfg.id!r} needs allowed_origins")
        _check_redirect(cfg)
        sources[cfg.id] = Source(config=cfg, secrets=secrets)
    return sources


def _check_redirect(cfg: SourceConfig) -> None:
    if cfg.redirect is None:
        return
    if cfg.kind != "public":
        raise SourceConfigError(
            f"source {cfg.id!r} is {cfg.kind}: only public sources may have a redirect"
        )
    for name in ("thank_you_url", "error_url"):
        url = getattr(cfg.redirect, name)
        problem = redirect_url_problem(url, cfg.allowed_origins)
        if problem is not None:
            raise SourceConfigError(f"source {cfg.id!r}: redirect.{name} {url!r} {problem}")
