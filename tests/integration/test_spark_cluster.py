"""Cluster-ready, proven: the same batch job on a standalone Spark cluster gives the same outputs.

A master and a worker start from PySpark's own classes (`spark.cluster`) on free loopback
ports; `python -m spark.batch` runs against them with SPARK_MASTER=spark://127.0.0.1:<port>,
exactly as a user would, and its summary must equal the local-mode run's.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from bench.landed import upload, write_events
from seed_data.generate import events
from services.settings import TABLES, Settings
from spark import batch
from spark.cluster import StandaloneCluster, _master_state, standalone_cluster
from tests.support.batch_cli import run_full_batch
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration
__all__ = ["spark_session"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def landed_ns(module_ns: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root: Path = tmp_path_factory.mktemp("cluster-landed")
    extra = {"pin": [b"{broken"], "geo": [], "user": []}
    write_events(root, module_ns, events(size=500, seed=3), per_object=200, extra=extra)
    upload(module_ns, root)
    return module_ns


@pytest.fixture(scope="module")
def cluster(landed_ns: Settings) -> Iterator[StandaloneCluster]:
    ports = landed_ns.model_copy(
        update={
            "spark_master_port": _free_port(),
            "spark_master_ui_port": _free_port(),
            "spark_worker_ui_port": _free_port(),
        }
    )
    with standalone_cluster(ports) as running:
        yield running


def test_same_outputs_on_a_standalone_cluster(
    landed_ns: Settings, cluster: StandaloneCluster, spark_session: SparkSession
) -> None:
    local = batch.run(landed_ns)
    assert local.master.startswith("local")

    # A full rebuild: the local run before it left nothing new for an incremental one.
    done = run_full_batch(
        {
            "PIPELINE_USER_ID": landed_ns.pipeline_user_id,
            "S3_ENDPOINT": landed_ns.s3_endpoint,
            "SPARK_MASTER": cluster.master_url,
        }
    )
    assert done.returncode == 0, done.stderr[-3000:]
    remote = batch.RunSummary.from_json(done.stdout)

    assert remote.master == cluster.master_url
    assert remote.rows_read == local.rows_read
    assert remote.corrupt_lines == local.corrupt_lines == {"pin": 1, "geo": 0, "user": 0}
    assert remote.cleaned_rows == local.cleaned_rows == dict.fromkeys(TABLES, 500)
    assert remote.output_rows == local.output_rows
    assert remote.answers == json.loads(json.dumps(local.answers))
    # The summary in the bucket is the cluster run's.
    assert batch.load_summary(landed_ns).master == cluster.master_url

    # The work ran on the worker: the master lists the finished application.
    state = _master_state(cluster.ui_url)
    assert state is not None
    apps = state.get("completedapps", [])
    assert isinstance(apps, list)
    assert any(app.get("name") == "pinterest-batch" for app in apps)


def test_a_cluster_not_ready_in_time_leaves_no_daemon(base_settings: Settings) -> None:
    from services.runner.child import command_line
    from spark.cluster import ClusterError, start_cluster

    ports = base_settings.model_copy(
        update={
            "spark_master_port": _free_port(),
            "spark_master_ui_port": _free_port(),
            "spark_worker_ui_port": _free_port(),
        }
    )
    # One second is too short for two JVMs: the start-up must fail and stop both.
    with pytest.raises(ClusterError, match="did not list an ALIVE worker within 1s") as raised:
        start_cluster(ports, timeout=1)
    assert "spark-master.log" in str(raised.value)
    assert "spark-worker.log" in str(raised.value)
    marker = str(ports.spark_master_port)  # in the master's --port and the worker's master URL
    left = [
        pid
        for pid in (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
        if any(marker in arg for arg in command_line(pid) or [])
        and any("org.apache.spark.deploy" in arg for arg in command_line(pid) or [])
    ]
    assert left == [], f"Spark daemons {left} outlived a failed start"
