"""A Python client generated from a checked-in OpenAPI document by OpenAPI Generator
(OpenAPITools), the version pinned in deploy/openapi-generator/pom.xml and fetched from Maven
Central once (cached under its target/)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from shared.stack.common import REPO_ROOT
from shared.stack.maven import copy_dependencies, pinned_version

POM = REPO_ROOT / "deploy" / "openapi-generator" / "pom.xml"
LIBS_DIR = REPO_ROOT / "deploy" / "openapi-generator" / "target" / "generator-libs"


def generator_version() -> str:
    return pinned_version(POM, "openapi-generator.version")


def fetch_generator(libs_dir: Path = LIBS_DIR) -> Path:
    """The generator's jar, downloaded with Maven the first time."""
    version = generator_version()
    if shutil.which("java") is None:
        raise RuntimeError("java is needed to run OpenAPI Generator (see README)")
    copy_dependencies(
        POM,
        libs_dir,
        version=version,
        dir_property="generator.libs.dir",
        what="OpenAPI Generator (see README)",
    )
    jar = libs_dir / f"openapi-generator-cli-{version}.jar"
    if not jar.exists():
        raise RuntimeError(f"fetching OpenAPI Generator left no {jar.name} in {libs_dir}")
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
