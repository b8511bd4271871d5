"""Time-zone data comes from the pinned tzdata wheel, whatever the host has installed."""

from __future__ import annotations

import importlib.metadata
import re
import zoneinfo
from pathlib import Path

import pytest

import shared
from shared.domain.zones import get_zone

ROOT = Path(__file__).resolve().parents[2]


def test_the_host_zoneinfo_files_are_not_searched() -> None:
    assert shared is not None
    assert zoneinfo.TZPATH == ()


def test_zones_load_from_the_pinned_wheel() -> None:
    pinned = re.search(r'"tzdata==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned is not None
    assert importlib.metadata.version("tzdata") == pinned.group(1)
    for lock in ("requirements.lock", "requirements-runtime.lock"):
        assert f"tzdata=={pinned.group(1)}" in (ROOT / lock).read_text().split()
    assert get_zone("Europe/Berlin").key == "Europe/Berlin"
    assert "Asia/Singapore" in zoneinfo.available_timezones()


def test_an_unknown_zone_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="IANA name"):
        get_zone("Mars/Olympus_Mons")
