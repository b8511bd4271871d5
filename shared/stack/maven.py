"""Pinned artifacts fetched from Maven Central with ``mvn dependency:copy-dependencies``
(the Kafka broker, OpenAPI Generator): each pom pins a version property and copies the
artifacts into a git-ignored ``target/`` directory, once per version."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


def pinned_version(pom: Path, prop: str) -> str:
    """The value of ``<prop>`` in ``pom``."""
    match = re.search(rf"<{re.escape(prop)}>([^<]+)</{re.escape(prop)}>", pom.read_text())
    assert match, f"{pom} must pin <{prop}>"
    return match.group(1)


def copy_dependencies(
    pom: Path, libs_dir: Path, *, version: str, dir_property: str, what: str
) -> Path:
    """Copy the pom's dependencies into ``libs_dir`` unless a complete copy of ``version`` is
    there (a stamp file marks it). ``dir_property`` is the pom's property for the directory."""
    stamp = libs_dir / f".complete-{version}"
    if stamp.exists():
        return libs_dir
    if shutil.which("mvn") is None:
        raise RuntimeError(f"Maven (mvn) is needed to fetch {what}")
    shutil.rmtree(libs_dir, ignore_errors=True)
    libs_dir.mkdir(parents=True)
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
         f"-D{dir_property}={libs_dir}"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"fetching {what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    stamp.touch()
    return libs_dir
