"""The sources file's ``redirect`` option: checked at start-up, refused with a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.ingest.settings import DEFAULT_SOURCES_FILE
from services.ingest.sources.config import SourceConfigError, load_sources
from shared.settings import DEV_WEBHOOK_SECRET


def _load(tmp_path: Path, *sources: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": list(sources)}))
    return load_sources(path, dev=True, dev_secret=DEV_WEBHOOK_SECRET)


def _public(**redirect: str) -> dict[str, Any]:
    return {
        "id": "site-form",
        "kind": "public",
        "allowed_origins": ["https://www.example.com/"],
        "redirect": redirect,
    }


def test_a_public_source_may_name_its_thank_you_and_error_pages(tmp_path: Path) -> None:
    sources = _load(
        tmp_path,
        _public(
            thank_you_url="https://www.example.com/thanks",
            error_url="https://www.example.com/form-error?form=demo",
        ),
    )
    redirect = sources["site-form"].config.redirect
    assert redirect is not None
    assert redirect.thank_you_url == "https://www.example.com/thanks"
    assert redirect.error_url == "https://www.example.com/form-error?form=demo"


def test_without_a_redirect_a_source_has_none(tmp_path: Path) -> None:
    source = {"id": "plain", "kind": "public", "allowed_origins": ["https://www.example.com"]}
    assert _load(tmp_path, source)["plain"].config.redirect is None


@pytest.mark.parametrize("field", ["thank_you_url", "error_url"])
@pytest.mark.parametrize(
    "url", ["https://evil.example/thanks", "/thanks", "http://www.example.com/thanks"]
)
def test_a_url_off_the_allowed_origins_is_refused_naming_source_and_url(
    tmp_path: Path, field: str, url: str
) -> None:
    urls = {
        "thank_you_url": "https://www.example.com/ok",
        "error_url": "https://www.example.com/ko",
    }
    urls[field] = url
    with pytest.raises(SourceConfigError) as raised:
        _load(tmp_path, _public(**urls))
    message = str(raised.value)
    assert "'site-form'" in message and repr(url) in message and f"redirect.{field}" in message


def test_a_redirect_needs_both_pages(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="error_url"):
        _load(tmp_path, _public(thank_you_url="https://www.example.com/ok"))


@pytest.mark.parametrize("kind", ["signed", "list"])
def test_only_public_sources_may_redirect(tmp_path: Path, kind: str) -> None:
    source = {
        "id": "backend",
        "kind": kind,
        "secrets_env": "LEADFLOW_SOURCE_BACKEND_SECRETS",
        "allowed_origins": ["https://www.example.com"],
        "redirect": {
            "thank_you_url": "https://www.example.com/ok",
            "error_url": "https://www.example.com/ko",
        },
    }
    with pytest.raises(SourceConfigError, match=f"'backend' is {kind}: only public sources"):
        _load(tmp_path, source)


def test_the_dev_sources_file_loads_with_its_form_pages() -> None:
    sources = load_sources(DEFAULT_SOURCES_FILE, dev=True, dev_secret=DEV_WEBHOOK_SECRET)
    redirect = sources["web-form"].config.redirect
    assert redirect is not None and redirect.thank_you_url.startswith("http://localhost:3000/")
