"""The native services: how each starts, what it depends on, how it is probed.

Pure descriptions: building them writes nothing (`make status` and `make logs` build them
too); `configs.prepare` renders the files they name, as the first step of `make up`. What a
service needs done around its start is a hook on it (`before_start`, `after_healthy`), run
by `lifecycle` for whichever service declares one.

`all_services` returns them in start order, computed from each one's `depends_on`: the
declared order wherever the dependencies allow it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.settings import PROJECT_ROOT, Settings
from services.stack import bootstrap, configs, install, mysql_layout, probes
from services.stack.errors import StackError
from services.stack.ports import bootstrap_port, url_port

#: A step run around a service's start, with the settings it was started with.
Hook = Callable[[Settings], None]


class DependencyError(StackError):
    """The services' `depends_on` name an unknown service or form a cycle."""


@dataclass(frozen=True)
class Service:
    name: str  # the supervisord program name, and what `make status` shows
    title: str  # what it stands in for
    ports: tuple[int, ...]
    endpoint: str
    command: tuple[str, ...]
    probe: probes.Probe
    start_timeout: float
    fix: str  # the likely fix when it does not become healthy
    env: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    cwd: Path = PROJECT_ROOT
    # Servers stay down after a crash (visible in `make status`, restarted by `make up`).
    autorestart: str = "false"
    #: Before each start, once its ports are known to be free (folders, a one-time format).
    before_start: Hook | None = None
    #: Once the probe passes, whether `make up` started it or found it running.
    after_healthy: Hook | None = None
    #: What `make status` asks when it differs from the start-up probe.
    status_probe: probes.Probe | None = None

    def log(self, settings: Settings) -> Path:
        return settings.logs_dir / f"{self.name}.log"


def _java_opts(settings: Settings, heap: str) -> list[str]:
    return [
        "-Xms128m",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={configs.log4j2_properties_path(settings)}",
        f"-Dkafka.logs.dir={settings.logs_dir}",
        # Nothing outside the project's folders: no /tmp/hsperfdata_<user>, and native
        # libraries (lz4, zstd, snappy) unpack into .local/run/java-tmp instead of /tmp.
        "-XX:-UsePerfData",
        f"-Djava.io.tmpdir={configs.scratch_dirs(settings)['java_tmp']}",
    ]


def venv_python() -> str:
    """The environment's interpreter under one stable name. `sys.executable` is `python` or
    `python3` depending on how the caller was started (make, pytest's shebang); a command
    line that flips between them would change supervisord's config and restart the proxy."""
    stable = Path(sys.prefix) / "bin" / "python"
    return str(stable) if stable.exists() else sys.executable


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package does not exist (yet)
        return False


def mysql(settings: Settings) -> Service:
    cmd = [
        install.find_binary("mariadbd") or "mariadbd",
        "--no-defaults",
        f"--datadir={mysql_layout.datadir(settings)}",
        f"--socket={mysql_layout.socket_path(settings)}",
        f"--pid-file={mysql_layout.pid_path(settings)}",
        f"--tmpdir={mysql_layout.tmp_dir(settings)}",
        f"--port={settings.mysql_port}",
        "--bind-address=127.0.0.1",
        # Also what keeps `localhost` accounts (the socket superuser) off TCP: without it,
        # a connection from 127.0.0.1 would resolve to `localhost`.
        "--skip-name-resolve",
        # LOAD_FILE, SELECT ... INTO OUTFILE and server-side LOAD DATA: this folder only.
        f"--secure-file-priv={mysql_layout.files_dir(settings)}",
        # LOCAL infile is the client sending its own file (the loader's chunks); it gives
        # the server no access to the machine's files.
        "--local-infile=1",
        "--max-allowed-packet=256M",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        "--innodb-buffer-pool-size=512M",
        "--innodb-log-file-size=256M",
        # A sandbox: durability at commit is traded for bulk-load speed (the OS still flushes).
        "--innodb-flush-log-at-trx-commit=2",
        "--performance-schema=OFF",
        "--skip-log-bin",
    ]
    if (user := mysql_layout.server_user()) is not None:
        # Started as root: the server drops to an unprivileged user (SECURITY.md).
        cmd.append(f"--user={user}")
    return Service(
        name="mysql",
        title="RDS MySQL",
        ports=(settings.mysql_port,),
        endpoint=f"mysql://{settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}",
        command=tuple(cmd),
        probe=probes.mysql_socket,
        # Users reach it over TCP with the accounts `after_healthy` applies: status asks so.
        status_probe=probes.mysql_tcp,
        before_start=bootstrap.before_mysql_start,
        after_healthy=bootstrap.after_mysql_healthy,
        start_timeout=60,
        fix=(
            "check the log for InnoDB errors. 'Access denied' from the socket probe means the "
            "data folder was set up by `make up` as another OS user: run it as that user. "
            "`make clean` resets the data folder"
        ),
    )


def _kafka_java(settings: Settings, heap: str, main: str, properties: Path) -> tuple[str, ...]:
    """A JVM from the Kafka jars: the broker and the Connect worker start the same way."""
    libs = install.kafka_libs(settings)
    return ("java", *_java_opts(settings, heap), "-cp", f"{libs}/*", main, str(properties))


def kafka(settings: Settings) -> Service:
    port = bootstrap_port(settings.kafka_bootstrap_servers)
    return Service(
        name="kafka",
        title="MSK (Kafka, KRaft)",
        ports=(port, settings.kafka_controller_port),
        endpoint=settings.kafka_bootstrap_servers,
        command=_kafka_java(
            settings, "768m", "kafka.Kafka", configs.kafka_properties_path(settings)
        ),
        probe=probes.kafka,
        before_start=bootstrap.format_kafka_storage,
        start_timeout=90,
        fix="look for 'Exiting Kafka' in the log; `make clean` resets a broken log folder",
        depends_on=(),
    )


def connect(settings: Settings) -> Service:
    return Service(
        name="connect",
        title="MSK Connect (Kafka Connect)",
        ports=(url_port(settings.kafka_connect_url, 8083),),
        endpoint=settings.kafka_connect_url,
        command=_kafka_java(
            settings,
            "512m",
            "org.apache.kafka.connect.cli.ConnectDistributed",
            configs.connect_properties_path(settings),
        ),
        probe=probes.connect,
        start_timeout=120,
        fix="the worker needs Kafka: check `make status`; its log names the failing topic",
        depends_on=("kafka",),
    )


def s3(settings: Settings) -> Service:
    port = url_port(settings.s3_endpoint, 9000)
    data = configs.scratch_dirs(settings)["seaweedfs_data"]
    weed_ports = (
        settings.seaweedfs_master_port,
        settings.seaweedfs_volume_port,
        settings.seaweedfs_filer_port,
    )
    return Service(
        name="s3",
        title="S3 (SeaweedFS)",
        ports=(port, *weed_ports, *(p + 10000 for p in weed_ports)),
        endpoint=settings.s3_endpoint,
        command=(
            str(install.weed_binary()),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            f"-master.port={settings.seaweedfs_master_port}",
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={settings.seaweedfs_volume_port}",
            # Volumes are not preallocated, so many small slots cost little disk.
            "-volume.max=2000",
            "-filer",
            f"-filer.port={settings.seaweedfs_filer_port}",
            f"-filer.localSocket={settings.run_dir / 'seaweedfs-filer.sock'}",
            "-s3",
            f"-s3.port={port}",
            f"-s3.config={configs.s3_identities_path(settings)}",
            f"-s3.localSocket={settings.run_dir / 'seaweedfs-s3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-metricsPort=0",
        ),
        probe=probes.s3,
        start_timeout=60,
        # weed reads master.toml from its working directory.
        cwd=configs.seaweedfs_conf_dir(settings),
        # Its glog files go to TMPDIR: keep them inside the project's state folder.
        env={"TMPDIR": str(configs.scratch_dirs(settings)["seaweedfs_tmp"])},
        fix=(
            f"ports {', '.join(map(str, weed_ports))} and each + 10000 must be free too "
            "(SeaweedFS's master, volume, filer: SEAWEEDFS_*_PORT in .env)"
        ),
    )


def rest_proxy(settings: Settings) -> Service:
    return Service(
        name="rest-proxy",
        title="API Gateway + Kafka REST proxy + Kinesis",
        ports=(
            url_port(settings.rest_proxy_url, 8082),
            url_port(settings.legacy_api_url, 8000),
            url_port(settings.kinesis_url, 4567),
        ),
        endpoint=(
            f"{settings.rest_proxy_url} (+ legacy {settings.legacy_api_url}, "
            f"Kinesis {settings.kinesis_url})"
        ),
        command=(venv_python(), "-m", "services.rest_proxy"),
        probe=probes.rest_proxy,
        start_timeout=30,
        fix="the proxy needs Kafka: check `make status`",
        depends_on=("kafka",),
        # Python's tempfile goes here rather than /tmp (SECURITY.md).
        env={"TMPDIR": str(configs.scratch_dirs(settings)["python_tmp"])},
    )


def spark_service(settings: Settings) -> Service:
    return Service(
        name="spark-batch",
        title="warm Spark driver for the batch job (Databricks cluster)",
        ports=(settings.spark_service_port,),
        endpoint=probes.spark_service_url(settings),
        command=(
            venv_python(),
            "-m",
            "spark.service",
            "--port",
            str(settings.spark_service_port),
            "--idle-minutes",
            f"{settings.spark_service_idle_minutes:g}",
            "--warm-up",
        ),
        probe=probes.spark_service,
        # A JVM with every connector jar on its class path; 25 s seen on a cold disk.
        start_timeout=120,
        fix="see its log; SPARK_SERVICE_PORT moves it, SPARK_SERVICE=0 runs jobs without it",
        env={"TMPDIR": str(configs.scratch_dirs(settings)["python_tmp"])},
    )


def on_demand_services(settings: Settings) -> list[Service]:
    """Optional programs: `make up` starts them last without failing when they do, they
    may exit when idle, and the first job that needs one starts it again
    (`lifecycle.start_on_demand`); `make down` stops them with the rest."""
    return [spark_service(settings)]


def all_services(settings: Settings) -> list[Service]:
    services = [mysql(settings), kafka(settings), connect(settings), s3(settings)]
    # The project's own Python services join as soon as their packages exist.
    if _module_exists("services.rest_proxy.__main__"):
        services.append(rest_proxy(settings))
    # No landing service: each namespace's S3 sink is a connector in the Connect worker
    # (services/stack/connectors.py), registered by `make up`.
    return start_order(services)


def start_order(services: Sequence[Service]) -> list[Service]:
    """`services` ordered so each starts after everything it depends on, keeping the given
    order wherever the dependencies allow it (a stable topological sort)."""
    known = {svc.name for svc in services}
    for svc in services:
        for dep in svc.depends_on:
            if dep not in known:
                raise DependencyError(
                    f"service '{svc.name}' depends on '{dep}', which is not a service of the "
                    f"stack ({', '.join(sorted(known))}): fix its depends_on in "
                    "services/stack/definitions.py"
                )
    ordered: list[Service] = []
    started: set[str] = set()
    pending = list(services)
    while pending:
        ready = next((s for s in pending if set(s.depends_on) <= started), None)
        if ready is None:
            raise DependencyError(
                f"services depend on each other in a cycle ({' -> '.join(_cycle(pending))}), "
                "so none of them can start first: fix depends_on in services/stack/definitions.py"
            )
        ordered.append(ready)
        started.add(ready.name)
        pending.remove(ready)
    return ordered


def _cycle(pending: list[Service]) -> list[str]:
    """A dependency cycle among `pending`, each of which waits on another pending one."""
    by_name = {svc.name: svc for svc in pending}
    path = [pending[0].name]
    while True:
        nxt = next(d for d in by_name[path[-1]].depends_on if d in by_name)
        if nxt in path:
            return [*path[path.index(nxt) :], nxt]
        path.append(nxt)


def python_env() -> dict[str, str]:
    return {"PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}
