"""A standalone Spark cluster (one master, one worker) from PySpark's own classes.

    python -m spark.cluster        # start both, print the master URL, stop on Ctrl-C

Both bind to 127.0.0.1 on the ports in Settings (spark_master_port, spark_master_ui_port,
spark_worker_ui_port). Jobs reach it with SPARK_MASTER=spark://127.0.0.1:<port>. Ready means
the master's status page reports the worker ALIVE, not that a process exists.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.runner.child import ChildProcess, ChildStartError, Probe, first_to_exit, log_tail
from services.runner.wait import NotReady
from services.settings import Settings, SettingsError, load_settings

#: What the worker offers to applications; the machine has 2 cores.
WORKER_CORES = 2
WORKER_MEMORY = "2g"
#: Heap of the master and worker daemons themselves (Spark's default is 1g each).
DAEMON_MEMORY = "512m"


class ClusterError(RuntimeError):
    """The standalone cluster did not come up; the message names the log to read."""


@dataclass
class StandaloneCluster:
    master_url: str
    ui_url: str
    master: ChildProcess
    worker: ChildProcess
    logs: tuple[Path, Path]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def master_url(settings: Settings) -> str:
    return f"spark://127.0.0.1:{settings.spark_master_port}"


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _daemon(
    settings: Settings, name: str, args: list[str], timeout: float, probe: Probe | None = None
) -> ChildProcess:
    """A master or worker JVM as a ChildProcess (own process group, log in .local/logs)."""
    work = settings.state_dir / "spark" / name
    work.mkdir(parents=True, exist_ok=True)
    env = {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(work),
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        # Executors the worker launches run this interpreter if they ever need Python.
        "PYSPARK_PYTHON": sys.executable,
    }
    return ChildProcess(
        f"spark-{name}",
        [str(spark_home() / "bin" / "spark-class"), *args],
        log=settings.logs_dir / f"spark-{name}.log",
        env=env,
        cwd=work,
        probe=probe,
        start_timeout=timeout,
        stop_timeout=20.0,
    )


def _master_state(ui_url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=2) as resp:
            state: dict[str, object] = json.load(resp)
            return state
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _worker_listed(master: ChildProcess, ui_url: str) -> Probe:
    """Ready: the master's status page lists an ALIVE worker (not merely two processes)."""

    def probe() -> str:
        code = master.wait(timeout=0)
        if code is not None:
            # The worker alone will never be listed: end the start-up now, with the master's log.
            raise ChildStartError(
                f"{master.name} exited with code {code} during start-up",
                exit_code=code,
                log=master.log,
            )
        state = _master_state(ui_url)
        if state is None:
            raise NotReady(f"{ui_url}/json/ does not answer yet")
        workers = state.get("workers", [])
        if state.get("status") != "ALIVE":
            raise NotReady(f"master status {state.get('status')}")
        if not (isinstance(workers, list) and any(w.get("state") == "ALIVE" for w in workers)):
            raise NotReady("the master lists no ALIVE worker yet")
        return "a worker is ALIVE"

    return probe


def start_cluster(settings: Settings, *, timeout: float = 90.0) -> StandaloneCluster:
    """Start a master and a worker and wait until the master lists the worker as ALIVE."""
    ports = {
        "SPARK_MASTER_PORT": settings.spark_master_port,
        "SPARK_MASTER_UI_PORT": settings.spark_master_ui_port,
        "SPARK_WORKER_UI_PORT": settings.spark_worker_ui_port,
    }
    for var, port in ports.items():
        if _port_in_use(port):
            raise ClusterError(
                f"port {port} on 127.0.0.1 is already in use, so the Spark cluster cannot bind "
                f"it: stop whatever listens there (a cluster already running?) or set {var}."
            )
    url = master_url(settings)
    ui_url = f"http://127.0.0.1:{settings.spark_master_ui_port}"
    master = _daemon(
        settings,
        "master",
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(settings.spark_master_port),
            "--webui-port",
            str(settings.spark_master_ui_port),
        ],
        timeout,
    )
    worker = _daemon(
        settings,
        "worker",
        [
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--webui-port",
            str(settings.spark_worker_ui_port),
            "--cores",
            str(WORKER_CORES),
            "--memory",
            WORKER_MEMORY,
            url,
        ],
        timeout,
        probe=_worker_listed(master, ui_url),
    )
    cluster = StandaloneCluster(url, ui_url, master, worker, (master.log, worker.log))
    try:
        # Both JVMs start at once; the worker's probe is the cluster's readiness. Its start()
        # stops the worker on any failure, and the master is stopped below.
        master.start()
        worker.start()
    except ChildStartError as exc:
        stop_cluster(cluster)
        if exc.exit_code is not None:
            raise ClusterError(
                f"a Spark daemon exited with code {exc.exit_code} during start-up; "
                f"the end of {exc.log}:\n{log_tail(exc.log, 12) if exc.log else ''}"
            ) from None
        raise ClusterError(
            f"the Spark master at {url} did not list an ALIVE worker within "
            f"{timeout:.0f}s; see {master.log} and {worker.log}."
        ) from None
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: StandaloneCluster, timeout: float = 20.0) -> None:
    """Stop the worker, then the master: SIGTERM, then SIGKILL after `timeout` seconds."""
    for daemon in (cluster.worker, cluster.master):
        daemon.stop_timeout = timeout
        daemon.stop()


@contextmanager
def standalone_cluster(settings: Settings) -> Iterator[StandaloneCluster]:
    cluster = start_cluster(settings)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def main() -> int:
    try:
        settings = load_settings()
        cluster = start_cluster(settings)
    except (ClusterError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Spark master {cluster.master_url} (UI {cluster.ui_url}), one worker: Ctrl-C stops.")
    print(f"Run a job on it: SPARK_MASTER={cluster.master_url} make batch")
    try:
        # Blocks until Ctrl-C or a daemon exits; nothing to probe meanwhile.
        exited = first_to_exit([cluster.master, cluster.worker])
        if exited is not None:
            print(
                f"{exited.name} exited with code {exited.wait(0)}; see {exited.log}",
                file=sys.stderr,
            )
    except KeyboardInterrupt:
        pass
    finally:
        stop_cluster(cluster)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
