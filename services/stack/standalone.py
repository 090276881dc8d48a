"""One stack service run on its own, outside supervisord: the tests' private servers.

The command line, environment, working folder and readiness probe are the service's own
definition (services/stack/definitions.py) built from a copy of the settings with a private
state folder and free ports, so a private SeaweedFS or Kafka is started exactly as `make up`
starts the shared one; `ChildProcess` runs it and stops it on any start-up failure.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from services.runner.child import ChildProcess
from services.runner.wait import NotReady
from services.settings import Settings
from services.stack import configs, probes
from services.stack.definitions import Service, python_env

#: SeaweedFS's servers also listen on their port + 10000 (gRPC).
GRPC_OFFSET = 10000


def free_port_with_grpc(lowest: int = 20000, highest: int = 55535) -> int:
    """A free port p on 127.0.0.1 whose p + 10000 is free too (SeaweedFS's gRPC port)."""
    for _ in range(200):
        with ExitStack() as held:
            first = held.enter_context(socket.socket())
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            if not lowest <= port <= highest:
                continue
            try:
                held.enter_context(socket.socket()).bind(("127.0.0.1", port + GRPC_OFFSET))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port p with p + 10000 free in 200 tries")


def private_s3_settings(base: Settings, state_dir: Path) -> Settings:
    """`base` with its own state folder and a SeaweedFS on free ports (same credentials)."""
    return base.model_copy(
        update={
            "state_dir": state_dir,
            "s3_endpoint": f"http://127.0.0.1:{free_port_with_grpc()}",
            "seaweedfs_master_port": free_port_with_grpc(),
            "seaweedfs_volume_port": free_port_with_grpc(),
            "seaweedfs_filer_port": free_port_with_grpc(),
        }
    )


def child(
    svc: Service,
    settings: Settings,
    *,
    probe: Callable[[], str] | None = None,
    log: Path | None = None,
) -> ChildProcess:
    """The service as a ChildProcess; its files are rendered from `settings` first and its
    `before_start` hook has run (MariaDB's folders and system tables, Kafka's storage), as
    `make up` does before it starts the service."""
    configs.prepare(settings)
    if svc.before_start is not None:
        svc.before_start(settings)

    def ready() -> str:
        try:
            return probe() if probe is not None else svc.probe(settings)
        except probes.ProbeError as exc:
            raise NotReady(str(exc)) from exc

    return ChildProcess(
        svc.name,
        svc.command,
        env={**python_env(), **svc.env},
        cwd=svc.cwd,
        log=log or svc.log(settings),
        probe=ready,
        start_timeout=svc.start_timeout,
    )
