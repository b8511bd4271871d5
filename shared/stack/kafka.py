"""A single-node Apache Kafka in KRaft mode (broker + controller), run with the machine's java.

The broker jars come from Maven Central through ``deploy/kafka/pom.xml`` (version pinned there).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from shared.stack.common import REPO_ROOT, pid_alive, port_open, wait_for_port
from shared.stack.maven import copy_dependencies, pinned_version

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LIBS_DIR = REPO_ROOT / "deploy" / "kafka" / "target" / "kafka-libs"


def kafka_version() -> str:
    return pinned_version(POM, "kafka.version")


def fetch_jars(libs_dir: Path = LIBS_DIR) -> Path:
    """Download the pinned broker and its dependencies with Maven (once; cached after)."""
    return copy_dependencies(
        POM,
        libs_dir,
        version=kafka_version(),
        dir_property="kafka.libs.dir",
        what="the Kafka broker jars",
    )


SCRAM = "SCRAM-SHA-256"
# the local broker's own keystore, made and read on this machine only
KEYSTORE_PASSWORD = "leadflow-local-keystore"

LOG4J2 = """\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass
class KafkaBroker:
    root: Path
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"
    heap: str = "512m"
    # name -> password. Given, clients authenticate with SASL/SCRAM-SHA-256 on a SASL_PLAINTEXT
    # listener (the first user is also the broker's own); the controller listener stays
    # plaintext. Empty: one PLAINTEXT listener, no authentication (the local default).
    scram_users: dict[str, str] = field(default_factory=dict)
    # With scram_users: a second client listener on this port, SASL_SSL (SCRAM over TLS), with a
    # self-signed certificate for the host made by the JDK's keytool; clients trust ``ca_file``.
    tls_port: int | None = None

    @property
    def security_protocol(self) -> str:
        return "SASL_PLAINTEXT" if self.scram_users else "PLAINTEXT"

    @property
    def tls_bootstrap(self) -> str:
        assert self.tls_port is not None
        return f"{self.host}:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        """The broker's certificate (PEM), its own CA: what a TLS client is given to trust."""
        return self.root / "tls" / "ca.pem"

    @property
    def _keystore(self) -> Path:
        return self.root / "tls" / "broker.p12"

    def _make_certificate(self) -> None:
        if self._keystore.exists():
            return
        self._keystore.parent.mkdir(parents=True, exist_ok=True)
        java = Path(shutil.which("java") or "java").resolve()
        keytool = shutil.which("keytool") or str(java.parent / "keytool")
        store = ["-keystore", str(self._keystore), "-storepass", KEYSTORE_PASSWORD]
        for args in (
            ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
             "-validity", "30", "-dname", f"CN={self.host}",
             "-ext", f"SAN=ip:{self.host},dns:localhost", "-storetype", "PKCS12",
             "-keypass", KEYSTORE_PASSWORD],
            ["-exportcert", "-rfc", "-alias", "broker", "-file", str(self.ca_file)],
        ):  # fmt: skip
            subprocess.run([keytool, *args, *store], check=True, capture_output=True, text=True)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "kafka.log"

    def _listeners(self) -> tuple[str, str, str]:
        """(listeners, advertised.listeners, listener.security.protocol.map)"""
        listener = self.security_protocol
        clients = [f"{listener}://{self.host}:{self.port}"]
        protocols = [f"{listener}:{listener}", "CONTROLLER:PLAINTEXT"]
        if self.scram_users and self.tls_port is not None:
            clients.append(f"SASL_SSL://{self.host}:{self.tls_port}")
            protocols.append("SASL_SSL:SASL_SSL")
        controller = f"CONTROLLER://{self.host}:{self.controller_port}"
        return ",".join([*clients, controller]), ",".join(clients), ",".join(protocols)

    def _sasl_config(self) -> list[str]:
        if not self.scram_users:
            return []
        name, password = next(iter(self.scram_users.items()))
        login = (
            f"{SCRAM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{name}" password="{password}";'
        )
        config = [
            f"sasl.enabled.mechanisms={SCRAM}",
            f"sasl.mechanism.inter.broker.protocol={SCRAM}",
            f"listener.name.sasl_plaintext.{login}",
        ]
        if self.tls_port is not None:
            config += [
                f"listener.name.sasl_ssl.{login}",
                "listener.name.sasl_ssl.ssl.keystore.type=PKCS12",
                f"listener.name.sasl_ssl.ssl.keystore.location={self._keystore}",
                f"listener.name.sasl_ssl.ssl.keystore.password={KEYSTORE_PASSWORD}",
                f"listener.name.sasl_ssl.ssl.key.password={KEYSTORE_PASSWORD}",
            ]
        return config

    def _write_config(self) -> Path:
        props = self.root / "server.properties"
        listeners, advertised, protocols = self._listeners()
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
                    f"listeners={listeners}",
                    f"advertised.listeners={advertised}",
                    "controller.listener.names=CONTROLLER",
                    f"inter.broker.listener.name={self.security_protocol}",
                    f"listener.security.protocol.map={protocols}",
                    *self._sasl_config(),
                    f"log.dirs={self.data_dir}",
                    "num.partitions=1",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=5",
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        (self.root / "log4j2.properties").write_text(LOG4J2.format(log=self.log_file))
        return props

    def _java(self, libs: Path, *args: str) -> list[str]:
        java = shutil.which("java") or "java"
        return [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{min(256, int(self.heap.rstrip('m')))}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 90) -> None:
        libs = fetch_jars()
        self.root.mkdir(parents=True, exist_ok=True)
        if self.running():
            wait_for_port(self.host, self.port, timeout, what="Kafka")
            return
        if port_open(self.host, self.port):
            raise RuntimeError(
                f"port {self.port} is taken by another process; set LEADFLOW_KAFKA_PORT"
            )
        if self.scram_users and self.tls_port is not None:
            self._make_certificate()
        props = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            # "--cluster-id=": a base64url id may begin with "-" and would be read as an option
            subprocess.run(
                self._java(
                    libs,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(props),
                    *(
                        arg
                        for name, password in self.scram_users.items()
                        for arg in ("--add-scram", f"{SCRAM}=[name={name},password={password}]")
                    ),
                ),
                check=True,
                capture_output=True,
                text=True,
            )
        with open(self.root / "kafka.out", "ab") as out:
            proc = subprocess.Popen(
                self._java(libs, "kafka.Kafka", str(props)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        try:
            wait_for_port(
                self.host, self.port, timeout, what="Kafka", alive=lambda: proc.poll() is None
            )
        except (RuntimeError, TimeoutError) as exc:
            tail = self.log_file.read_text()[-3000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{exc}\n--- kafka.log ---\n{tail}") from exc

    def stop(self, timeout: float = 30) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            _reap(pid)
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """kill -9: what a crash looks like."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
