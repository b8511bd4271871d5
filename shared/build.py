"""What build is running: the package version, the commit the image was built from, Python."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform

from prometheus_client import Gauge

# Set by the image build (``--build-arg LEADFLOW_BUILD_COMMIT=$(git rev-parse HEAD)``).
COMMIT_ENV = "LEADFLOW_BUILD_COMMIT"

BUILD_INFO = Gauge(
    "leadflow_build_info",
    "Always 1; the labels say which leadflow build this process runs",
    ["service", "version", "commit", "python"],
)


@functools.cache
def version() -> str:
    try:
        return importlib.metadata.version("leadflow")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that is not installed
        return "0+unknown"


def commit() -> str:
    return os.environ.get(COMMIT_ENV, "").strip()[:40] or "unknown"


def describe() -> str:
    """One line for ``leadflow --version``."""
    return f"leadflow {version()} (commit {commit()}, Python {platform.python_version()})"


def record_build_info(service: str) -> None:
    BUILD_INFO.labels(service, version(), commit(), platform.python_version()).set(1)
