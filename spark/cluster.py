"""A standalone Spark cluster (one master, one worker) from PySpark's own classes.

    python -m spark.cluster        # start both, print the master URL, stop on Ctrl-C

Both bind to 127.0.0.1 on the ports in Settings (spark_master_port, spark_master_ui_port,
spark_worker_ui_port). Jobs reach it with SPARK_MASTER=spark://127.0.0.1:<port>. Ready means
the master's status page reports the worker ALIVE, not that a process exists.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

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
    master: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
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


def _spawn(settings: Settings, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = settings.logs_dir / f"spark-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    work = settings.state_dir / "spark" / name
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(work),
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        # Executors the worker launches run this interpreter if they ever need Python.
        "PYSPARK_PYTHON": sys.executable,
    }
    cmd = [str(spark_home() / "bin" / "spark-class"), *args]
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=work,
            # Own process group: stopping the cluster never signals the caller.
            start_new_session=True,
        )
    return proc, log


def _master_state(ui_url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=2) as resp:
            state: dict[str, object] = json.load(resp)
            return state
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _tail(path: Path, lines: int = 12) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


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
    master, master_log = _spawn(
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
    )
    worker, worker_log = _spawn(
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
    )
    cluster = StandaloneCluster(url, ui_url, master, worker, (master_log, worker_log))
    try:
        _wait_ready(cluster, timeout)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def _wait_ready(cluster: StandaloneCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in zip((cluster.master, cluster.worker), cluster.logs, strict=True):
            if proc.poll() is not None:
                raise ClusterError(
                    f"a Spark daemon exited with code {proc.returncode} during start-up; "
                    f"the end of {log}:\n{_tail(log)}"
                )
        state = _master_state(cluster.ui_url)
        workers = state.get("workers", []) if state else []
        if (
            state
            and state.get("status") == "ALIVE"
            and isinstance(workers, list)
            and any(w.get("state") == "ALIVE" for w in workers)
        ):
            return
        time.sleep(0.5)  # polling the status page, bounded by the deadline
    raise ClusterError(
        f"the Spark master at {cluster.master_url} did not list an ALIVE worker within "
        f"{timeout:.0f}s; see {cluster.logs[0]} and {cluster.logs[1]}."
    )


def stop_cluster(cluster: StandaloneCluster, timeout: float = 20.0) -> None:
    """Stop the worker, then the master: SIGTERM, then SIGKILL after `timeout` seconds."""
    for proc in (cluster.worker, cluster.master):
        if proc.poll() is not None:
            continue
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


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
        while cluster.master.poll() is None and cluster.worker.poll() is None:
            time.sleep(1)  # waiting for Ctrl-C or a daemon to exit, nothing to probe
    except KeyboardInterrupt:
        pass
    finally:
        stop_cluster(cluster)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
