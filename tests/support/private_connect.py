"""A distributed Connect worker of its own group (the stack's jars and plugin):
start, SIGKILL, start again."""

from __future__ import annotations

import uuid
from pathlib import Path

import requests

from services.runner.child import ChildProcess, free_port
from services.runner.wait import NotReady
from services.settings import Settings
from services.stack import configs, connectors, install
from services.stack.probes import S3_SINK_CONNECTOR_CLASS

START_TIMEOUT_S = 240.0


class PrivateWorker:
    """A distributed Connect worker of its own group; start, SIGKILL, start again."""

    def __init__(self, stack: Settings, root: Path, *, bootstrap: str | None = None) -> None:
        """The stack's jars, plugin.path and secrets; `bootstrap` another Kafka than its."""
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tag = uuid.uuid4().hex[:10]
        self.internal = [f"_connect-test-{tag}-{k}" for k in ("configs", "offsets", "status")]
        private = stack.model_copy(update={"state_dir": root})
        self.log4j = configs.log4j2_properties(private)
        self.props = root / "connect.properties"
        self.props.write_text(
            f"""bootstrap.servers={bootstrap or stack.kafka_bootstrap_servers}
group.id=test-connect-{tag}
key.converter=org.apache.kafka.connect.converters.ByteArrayConverter
value.converter=org.apache.kafka.connect.converters.ByteArrayConverter
config.storage.topic={self.internal[0]}
offset.storage.topic={self.internal[1]}
status.storage.topic={self.internal[2]}
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:{self.port}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={self.port}
plugin.path={install.connect_plugins(stack)}
# A killed worker's tasks move at once, and its dead consumer leaves the group in 10 s.
scheduled.rebalance.max.delay.ms=0
consumer.session.timeout.ms=10000
consumer.heartbeat.interval.ms=2000
"""
            + connectors.worker_config_providers(stack)
        )
        tmp = self.root / "java-tmp"
        tmp.mkdir(exist_ok=True)
        libs = install.kafka_libs(stack)
        cmd = [
            "java",
            "-Xms64m",
            "-Xmx384m",
            "-XX:+UseG1GC",
            "-XX:-UsePerfData",
            f"-Djava.io.tmpdir={tmp}",
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-cp",
            f"{libs}/*",
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.props),
        ]
        self.child = ChildProcess(
            "private-connect",
            cmd,
            log=self.root / "connect.log",
            probe=self._plugin_listed,
            start_timeout=START_TIMEOUT_S,
            stop_timeout=30,
        )

    def _plugin_listed(self) -> str:
        plugins = requests.get(f"{self.url}/connector-plugins", timeout=2).json()
        if not any(p.get("class") == S3_SINK_CONNECTOR_CLASS for p in plugins):
            raise NotReady(f"{S3_SINK_CONNECTOR_CLASS} not listed yet")
        return "plugin listed"

    def start(self) -> None:
        self.child.start()

    def kill(self) -> int:
        """SIGKILL: the worker's exit code (-9)."""
        self.child.kill()
        assert self.child.proc is not None
        return self.child.proc.wait(30)

    def stop(self) -> None:
        self.child.stop()

    def log_tail(self) -> str:
        log = self.root / "connect.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "no log"
