"""The docker runtime, run for real: images built from Debian, the demo flow through them.

Where no Docker engine answers, the project prepares podman (services/stack/container_engine:
the package, a Debian base image from mmdebstrap, the API socket under .local/run), as
`python -m services.stack install-docker-engine` does; the test is skipped, saying why, only
when no engine can be started at all. The compose stack runs under its own project name on
ports 2xxxx, beside the shared native stack, which it never touches; it is removed with its
volumes afterwards, and the podman service is stopped if this test started it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from services.settings import Settings
from services.stack import connectors, container_engine, docker_runtime, lifecycle
from services.stack.errors import StackError
from services.stack.ports import is_listening
from tests.support.namespaces import drop_namespace

# Cold, the engine fixture installs podman, builds a Debian base and six images (about
# 12 minutes on two cores) before the first test's own time starts.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

PROJECT = "pipeline-e2e-docker"
#: Beside the native stack's ports (3306, 9092, 8083, 9000, 8082, 8000, 4567, 7077...).
PORTS = {
    "mysql_port": 23306,
    "kafka_bootstrap_servers": "127.0.0.1:29092",
    "kafka_controller_port": 29093,
    "kafka_connect_url": "http://127.0.0.1:28083",
    "s3_endpoint": "http://127.0.0.1:29000",
    "rest_proxy_url": "http://127.0.0.1:28082",
    "legacy_api_url": "http://127.0.0.1:28000",
    "kinesis_url": "http://127.0.0.1:24567",
    "spark_master_port": 27077,
    "spark_master_ui_port": 28090,
    "spark_worker_ui_port": 28091,
}


@pytest.fixture(scope="module")
def engine(base_settings: Settings) -> Iterator[dict[str, str]]:
    started_here = container_engine.engine_env(base_settings) is None
    try:
        env = container_engine.ensure_engine(base_settings)
    except (StackError, OSError) as exc:
        pytest.skip(f"no container engine can be started here, docker runtime untested: {exc}")
    try:
        yield env
    finally:
        if started_here:
            container_engine.stop_service(base_settings)


@pytest.fixture(scope="module")
def docker_stack(
    stack: Settings, engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    settings = stack.model_copy(update={**PORTS, "runtime": "docker", "pipeline_user_id": "dk"})
    taken = [p for p in docker_runtime.host_ports(settings) if is_listening(p)]
    assert not taken, f"ports {taken} of the docker test stack are taken; free them"
    saved = os.environ.get("COMPOSE_PROJECT_NAME")
    os.environ["COMPOSE_PROJECT_NAME"] = PROJECT
    try:
        lifecycle.up(settings)
        yield settings
    finally:
        try:
            docker_runtime.compose(["down", "--volumes"], settings)
        except StackError as exc:  # must not hide why the block above failed
            print(f"docker test stack: compose down failed: {exc}")
        finally:
            if saved is None:
                os.environ.pop("COMPOSE_PROJECT_NAME", None)
            else:
                os.environ["COMPOSE_PROJECT_NAME"] = saved


def test_images_run_as_non_root_users(docker_stack: Settings, engine: dict[str, str]) -> None:
    for name in docker_runtime.STACK_IMAGES:
        if name == "java":
            continue  # a base layer, never run on its own
        tag = docker_runtime.IMAGES[name].tag
        out = docker_runtime._docker(["image", "inspect", "-f", "{{.Config.User}}", tag], engine)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() not in ("", "root", "0"), f"{tag} runs as root"


def test_make_up_adds_a_namespace_beside_the_others(docker_stack: Settings) -> None:
    other = docker_stack.model_copy(update={"pipeline_user_id": "dk-other"})
    try:
        lifecycle.up(other, quiet=True)  # PIPELINE_USER_ID=dk-other make up
        # A second connector rebalances the worker: both RUN again once it settles.
        for settings in (docker_stack, other):
            name, _ = connectors.local_connector_config(settings)
            assert connectors.wait_running(docker_stack, name, timeout=60).running, name
    finally:
        drop_namespace(other)
        name, _ = connectors.local_connector_config(other)
        requests.delete(f"{docker_stack.kafka_connect_url}/connectors/{name}", timeout=30)


def test_demo_through_the_docker_runtime_equals_the_native_one(
    docker_stack: Settings, stack: Settings
) -> None:
    from services.demo.run import run_demo

    user_id = "dk-demo"
    demo_ns = docker_stack.model_copy(update={"pipeline_user_id": user_id})
    native_id = "dk-native"
    try:
        lifecycle.up(demo_ns, quiet=True)  # its connector, as `make up` registers one
        docker = run_demo(docker_stack, user_id=user_id, progress=False)
        native = run_demo(stack, user_id=native_id, progress=False)
    finally:
        drop_namespace(demo_ns)
        drop_namespace(stack.model_copy(update={"pipeline_user_id": native_id}))
    assert docker.ok, [r.as_row() for r in docker.reconciliation]
    for row in docker.reconciliation:
        assert (row.lost, row.doubled) == (0, 0), row.as_row()
    assert len(docker.answers) == 9 and docker.answers == native.answers


def test_spark_master_and_worker_images(docker_stack: Settings) -> None:
    docker_runtime.build_images(docker_stack, ("spark",))
    docker_runtime.compose(["--profile", "spark", "up", "-d"], docker_stack)
    ui = f"http://127.0.0.1:{docker_stack.spark_master_ui_port}/json/"

    def worker_alive(_s: Settings) -> str:
        from services.stack.probes import ProbeError

        try:
            body = requests.get(ui, timeout=3).json()
        except (requests.RequestException, ValueError) as exc:
            raise ProbeError(str(exc)) from None
        alive = [w for w in body.get("workers", []) if w.get("state") == "ALIVE"]
        if not alive:
            raise ProbeError(f"no ALIVE worker yet: {body.get('workers')}")
        return f"{len(alive)} worker, {alive[0]['cores']} cores"

    from services.stack.probes import wait_until

    detail = wait_until(worker_alive, docker_stack, timeout=180)
    assert detail.startswith("1 worker")
