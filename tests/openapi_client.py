"""A Python client generated from a checked-in OpenAPI document by OpenAPI Generator
(OpenAPITools), the version pinned in deploy/openapi-generator/pom.xml and fetched from Maven
Central once (cached under its target/)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from shared.stack.common import REPO_ROOT

POM = REPO_ROOT / "deploy" / "openapi-generator" / "pom.xml"
LIBS_DIR = REPO_ROOT / "deploy" / "openapi-generator" / "target" / "generator-libs"


def generator_version() -> str:
    match = re.search(r"<openapi-generator.version>([^<]+)<", POM.read_text())
    assert match, "deploy/openapi-generator/pom.xml must pin <openapi-generator.version>"
    return match.group(1)


def fetch_generator(libs_dir: Path = LIBS_DIR) -> Path:
    """The generator's jar, downloaded with Maven the first time."""
    version = generator_version()
    jar = libs_dir / f"openapi-generator-cli-{version}.jar"
    stamp = libs_dir / f".complete-{version}"
    if stamp.exists() and jar.exists():
        return jar
    for tool in ("mvn", "java"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is needed to fetch and run OpenAPI Generator (see README)")
    shutil.rmtree(libs_dir, ignore_errors=True)
    libs_dir.mkdir(parents=True)
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
         f"-Dgenerator.libs.dir={libs_dir}"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if result.returncode != 0 or not jar.exists():
        raise RuntimeError(
            f"fetching OpenAPI Generator failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    stamp.touch()
    return jar


def generate_python_client(spec: Path, out: Path, package: str) -> ModuleType:
    """Generate the ``python`` client (urllib3 transport) of ``spec`` into ``out``; import it."""
    jar = fetch_generator()
    result = subprocess.run(
        ["java", "-jar", str(jar), "generate", "-g", "python", "-i", str(spec), "-o", str(out),
         f"--additional-properties=packageName={package},library=urllib3",
         "--global-property=apiTests=false,modelTests=false,apiDocs=false,modelDocs=false"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"generating the client failed:\n{result.stdout[-5000:]}")
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()
    return importlib.import_module(package)
