"""deploy/k8s/: valid against the Kubernetes API schemas (kubernetes-validate) and consistent with
the code: service ports and apps, settings names, config files, probes, scaling.

After changing a file in deploy/config/, refresh its copy in the ConfigMap with
``python -m tests.unit.test_k8s_manifests``."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from services.delivery.settings import DeliverySettings
from services.ingest.settings import IngestSettings
from services.nurture.settings import NurtureSettings
from services.router.settings import RouterSettings
from shared.kafka.security import KafkaConnection, security_problems
from shared.kafka.topics import PARTITIONS
from shared.settings import KafkaSettings, is_placeholder
from shared.stack.stack import SERVICES

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
CONFIG = REPO / "deploy" / "config"
CONFIGMAP = K8S / "10-configmap.yaml"
KUBERNETES_VERSION = "1.30.0"  # the oldest API version the manifests promise to work on
APPS = {"ingest": 8000, "router": 8001, "nurture": 8002, "delivery": 8003}


def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def find(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for _, d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def settings_classes() -> list[type[BaseSettings]]:
    return [IngestSettings, RouterSettings, NurtureSettings, DeliverySettings]


def env_names() -> set[str]:
    return {f"LEADFLOW_{field}".upper() for cls in settings_classes() for field in cls.model_fields}


def secrets_envs() -> set[str]:
    sources = yaml.safe_load((CONFIG / "sources.yaml").read_text())["sources"]
    return {s["secrets_env"] for s in sources if s.get("secrets_env")}


def render_config_files() -> str:
    """The data of the leadflow-config ConfigMap: every file in deploy/config/, verbatim."""
    lines = []
    for path in sorted(CONFIG.glob("*.yaml")):
        lines.append(f"  {path.name}: |")
        lines += [f"    {line}" if line else "" for line in path.read_text().splitlines()]
    return "\n".join(lines) + "\n"


def _split_configmap() -> tuple[str, str]:
    text = CONFIGMAP.read_text()
    head, sep, tail = text.rpartition("name: leadflow-config\n")
    before, data, files = tail.partition("data:\n")
    return head + sep + before + data, files


@pytest.mark.parametrize(
    ("name", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else v["metadata"]["name"]
)
def test_manifest_is_valid_against_the_kubernetes_schemas(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_rejects_a_broken_manifest() -> None:
    doc = copy.deepcopy(find("Deployment", "leadflow-router"))
    doc["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    doc = copy.deepcopy(find("Deployment", "leadflow-router"))
    doc["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_everything_lives_in_the_leadflow_namespace() -> None:
    for name, doc in documents():
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "leadflow", (name, doc["metadata"]["name"])


def test_config_files_are_the_ones_in_deploy_config() -> None:
    _, files = _split_configmap()
    assert files == render_config_files(), (
        "deploy/k8s/10-configmap.yaml differs from deploy/config/: "
        "run python -m tests.unit.test_k8s_manifests"
    )


def test_environment_names_are_read_by_the_code_and_secrets_are_placeholders() -> None:
    env = find("ConfigMap", "leadflow-env")["data"]
    secret = find("Secret", "leadflow-secrets")["stringData"]
    known = env_names() | secrets_envs()
    assert set(env) - known == set(), "ConfigMap variables no settings class reads"
    assert set(secret) - known == set(), "Secret variables no settings class reads"
    assert set(env) & set(secret) == set()
    assert secrets_envs() | {"LEADFLOW_DATABASE_URL"} <= set(secret)
    assert "LEADFLOW_ADMIN_TOKEN" not in secret, "admin tokens come from the tokens file"
    for var, value in secret.items():
        if var != "LEADFLOW_DATABASE_URL":
            assert is_placeholder(value), f"{var} holds what looks like a real secret"
    assert ":changeme@" in secret["LEADFLOW_DATABASE_URL"]
    config_files = set(find("ConfigMap", "leadflow-config")["data"])
    for var, value in env.items():
        if var.endswith("_FILE") and var != "LEADFLOW_ADMIN_TOKENS_FILE":
            assert value.startswith("/etc/leadflow/") and value.rsplit("/", 1)[1] in config_files


def test_every_service_reads_the_admin_tokens_from_the_mounted_secret() -> None:
    """LEADFLOW_ADMIN_TOKENS_FILE names a key of the leadflow-admin-tokens Secret in the
    directory each deployment mounts it at (a directory: a subPath would never see a
    rotation), and the Secret holds a placeholder that start-up rejects."""
    from shared.auth import TokensFileError, parse_tokens

    path = find("ConfigMap", "leadflow-env")["data"]["LEADFLOW_ADMIN_TOKENS_FILE"]
    directory, key = path.rsplit("/", 1)
    secret = find("Secret", "leadflow-admin-tokens")
    assert set(secret["stringData"]) == {key}
    with pytest.raises(TokensFileError, match="sha256"):
        parse_tokens(secret["stringData"][key])
    for app in APPS:
        spec = find("Deployment", f"leadflow-{app}")["spec"]["template"]["spec"]
        volumes = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        (container,) = spec["containers"]
        mounts = [
            m for m in container["volumeMounts"]
            if volumes.get(m["name"]) == "leadflow-admin-tokens"
        ]  # fmt: skip
        assert [(m["mountPath"], m.get("readOnly"), m.get("subPath")) for m in mounts] == [
            (directory, True, None)
        ], app


def test_every_config_file_a_service_reads_comes_from_the_mounted_configmap() -> None:
    """A settings field whose default is a file in deploy/config/ must point at the mounted
    copy, or the service reads the file baked into the image instead of the ConfigMap."""
    env = find("ConfigMap", "leadflow-env")["data"]
    expected = {}
    for cls in settings_classes():
        for name, field in cls.model_fields.items():
            default = field.default
            if isinstance(default, Path) and default.parent.resolve() == CONFIG.resolve():
                expected[f"LEADFLOW_{name}".upper()] = f"/etc/leadflow/{default.name}"
    assert "LEADFLOW_NURTURE_SEQUENCES_FILE" in expected
    assert {var: env.get(var) for var in expected} == expected


def test_every_file_of_the_configmap_is_read_by_a_service() -> None:
    """The reverse wiring: a file in the ConfigMap that no setting names is edited in vain."""
    env = find("ConfigMap", "leadflow-env")["data"]
    named = {
        value.rsplit("/", 1)[1]
        for var, value in env.items()
        if var.endswith("_FILE") and value.startswith("/etc/leadflow/")
    }
    assert set(find("ConfigMap", "leadflow-config")["data"]) - named == set()


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


@pytest.mark.parametrize("service", sorted(APPS))
def test_service_deployment_runs_the_app_with_probes_resources_and_config(service: str) -> None:
    deployment = find("Deployment", f"leadflow-{service}")
    container = _container(deployment)
    port = APPS[service]
    command = container["command"]
    assert command[:3] == ["uvicorn", f"services.{service}.app:create_app", "--factory"]
    assert command[command.index("--port") + 1] == str(port)
    # client addresses come only from ingest's trusted-proxy setting, not uvicorn's default
    assert "--no-proxy-headers" in command
    # request lines carry query strings (lead search's q: emails, names): never logged
    assert "--no-access-log" in command
    spec = next((s for s in SERVICES if s.name == service), None)
    if spec is not None:  # built: the stack's definition agrees
        assert (spec.app, spec.port) == (command[1], port)
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), (service, kind)
    assert {e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]} == {
        "leadflow-env",
        "leadflow-secrets",
    }
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    svc = find("Service", service)
    assert svc["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["port"] == port


def test_ingest_scales_on_cpu_and_consumers_by_partitions() -> None:
    hpa = find("HorizontalPodAutoscaler", "leadflow-ingest")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "leadflow-ingest",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    autoscaled = {
        d["spec"]["scaleTargetRef"]["name"]
        for _, d in documents()
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    assert autoscaled == {"leadflow-ingest"}, "consumers are sized by partitions, not CPU"
    partitions = min(PARTITIONS["leads.received.v1"], PARTITIONS["leads.activity.v1"])
    for consumer in ("router", "nurture"):
        replicas = find("Deployment", f"leadflow-{consumer}")["spec"]["replicas"]
        assert 2 <= replicas <= partitions, consumer


def test_the_migration_job_migrates_then_creates_topics() -> None:
    job = find("Job", "leadflow-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    command = " ".join(shlex.quote(c) for c in container["command"])
    assert "leadflow migrate && leadflow create-topics" in command
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


def test_the_topics_job_creates_three_copies_and_acks_wait_for_two() -> None:
    job = find("Job", "leadflow-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    assert env["LEADFLOW_KAFKA_REPLICATION_FACTOR"] == "3"
    assert env["LEADFLOW_KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    settings = KafkaSettings.model_validate(
        {k.removeprefix("LEADFLOW_").lower(): v for k, v in env.items()}
    )
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2)


def test_the_scoring_evaluation_runs_daily_with_the_routers_wiring() -> None:
    """`leadflow scoring evaluate --store` once a day, never two at once, with the router's
    environment and the rules file the router reads (the mounted leadflow-config)."""
    cron = find("CronJob", "leadflow-scoring-evaluate")
    spec = cron["spec"]
    minute, hour, *every = spec["schedule"].split()
    assert every == ["*", "*", "*"] and minute.isdigit() and hour.isdigit(), spec["schedule"]
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["leadflow", "scoring", "evaluate", "--store", "--since", "365d"]
    router = _container(find("Deployment", "leadflow-router"))
    assert container["image"] == router["image"]
    assert container["envFrom"] == router["envFrom"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    scoring_file = find("ConfigMap", "leadflow-env")["data"]["LEADFLOW_ROUTER_SCORING_FILE"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    directory, key = scoring_file.rsplit("/", 1)
    assert volumes[mounts[directory]]["configMap"]["name"] == "leadflow-config"
    assert key in find("ConfigMap", "leadflow-config")["data"]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


def _kafka_workloads() -> list[tuple[str, dict[str, Any]]]:
    """Every pod template that runs a Kafka client: the four services and the topics job."""
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for _, d in documents()
        if d["kind"] in ("Deployment", "Job")
    ]


def test_every_kafka_client_gets_the_security_settings_and_the_ca() -> None:
    env = find("ConfigMap", "leadflow-env")["data"]
    secret = find("Secret", "leadflow-secrets")["stringData"]
    ca = find("Secret", "leadflow-kafka-ca")["stringData"]
    kafka = {**env, **secret}
    assert kafka["LEADFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert kafka["LEADFLOW_KAFKA_SASL_MECHANISM"].startswith("SCRAM-")
    assert "LEADFLOW_KAFKA_SASL_PASSWORD" in secret  # a secret, never in the ConfigMap
    assert "ca.crt" in ca and is_placeholder(ca["ca.crt"])
    cafile = kafka["LEADFLOW_KAFKA_SSL_CAFILE"]
    mount, _, key = cafile.rpartition("/")
    assert key in ca
    workloads = _kafka_workloads()
    assert {name for name, _ in workloads} == {
        "leadflow-ingest", "leadflow-router", "leadflow-nurture", "leadflow-delivery",
        "leadflow-migrate",
    }  # fmt: skip
    for name, pod in workloads:
        (container,) = pod["containers"]
        sources = {
            ref.get("configMapRef", ref.get("secretRef", {})).get("name")
            for ref in container["envFrom"]
        }
        assert {"leadflow-env", "leadflow-secrets"} <= sources, name
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounted = [
            vol for vol, path in mounts.items()
            if path == mount and volumes[vol].get("secret", {}).get("secretName") == "leadflow-kafka-ca"
        ]  # fmt: skip
        assert mounted, f"{name} does not mount leadflow-kafka-ca at {mount}"
    # the combination is one the services accept (the CA file is the mounted Secret's key)
    conn = KafkaConnection(
        kafka["LEADFLOW_KAFKA_BOOTSTRAP_SERVERS"],
        security_protocol=kafka["LEADFLOW_KAFKA_SECURITY_PROTOCOL"],  # type: ignore[arg-type]
        sasl_mechanism=kafka["LEADFLOW_KAFKA_SASL_MECHANISM"],  # type: ignore[arg-type]
        sasl_username=kafka["LEADFLOW_KAFKA_SASL_USERNAME"],
        sasl_password=kafka["LEADFLOW_KAFKA_SASL_PASSWORD"],
        ssl_cafile=cafile,
    )
    assert security_problems(conn, exists=lambda path: path == cafile) == []


if __name__ == "__main__":
    head, _ = _split_configmap()
    CONFIGMAP.write_text(head + render_config_files())
    print(f"wrote {CONFIGMAP.relative_to(REPO)}")
