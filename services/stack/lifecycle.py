"""`up`, `down`, `clean`, `status`: the stack's life, native or docker.

`up` is idempotent: healthy services are left alone, stopped or crashed ones are started,
each in dependency order and each behind a real readiness probe with a deadline.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.runner.wait import WaitTimeout, wait_until
from services.settings import Settings
from services.stack import bootstrap, configs, connectors, docker_runtime, install, probes
from services.stack.definitions import Service, all_services, on_demand_services
from services.stack.errors import ServiceFailed, StackError
from services.stack.ports import is_listening, listener_pid
from services.stack.supervisor import Supervisor

Say = Callable[[str], None]


def _say(msg: str) -> None:
    print(msg, flush=True)


def up(settings: Settings, *, quiet: bool = False) -> None:
    say = (lambda _m: None) if quiet else _say
    if settings.pipeline_target == "aws":
        # The AWS services are the user's; nothing local is needed (`make check-aws` probes).
        say("PIPELINE_TARGET=aws: the local stack is not started (try `make check-aws`)")
        return
    started = time.monotonic()
    docker = docker_runtime.runtime(settings) == "docker"
    if docker:
        docker_runtime.up(settings)
    else:
        _native_up(settings, say)
    ensure_namespace(settings)
    if not docker and settings.spark_service:
        _start_batch_service(settings, say)
    # Not an "ok" line: that prefix is a service's verdict (tests read it).
    say(f"  connector   {_connector_line(settings)}")
    say(
        f"stack healthy in {time.monotonic() - started:.1f} s; namespace "
        f"'{settings.pipeline_user_id}': topics {', '.join(settings.topics)}, "
        f"bucket {settings.bucket}"
    )


def _native_up(settings: Settings, say: Say) -> None:
    plugin_rebuilt = install.install_all(settings)
    configs.prepare(settings)  # the files and folders the definitions below name
    services = all_services(settings)
    sup = Supervisor(settings)
    sup.ensure_running(services + on_demand_services(settings))
    if plugin_rebuilt and sup.state("connect") in ("RUNNING", "STARTING"):
        # A worker scans plugin.path only at start-up.
        say("  ..  connect: the S3 sink connector was rebuilt; restarting the worker to load it")
        sup.stop("connect")
    for svc in services:
        _start_one(settings, sup, svc, say)


def _start_one(settings: Settings, sup: Supervisor, svc: Service, say: Say) -> None:
    t0 = time.monotonic()
    state = sup.state(svc.name)
    if state in ("RUNNING", "STARTING"):
        try:
            detail = probes.wait_until(svc.probe, settings, timeout=svc.start_timeout)
            _after_healthy(settings, svc)
            say(f"  ok  {svc.name:<11} {svc.endpoint}  ({detail})")
            return
        except probes.ProbeError as exc:
            sup.stop(svc.name)
            say(f"  !!  {svc.name} was running but unhealthy ({exc}); restarting it")
    for port in svc.ports:
        if is_listening(port):
            raise ServiceFailed(
                svc.name,
                f"port {port} is already taken by {listener_pid(port)}",
                None,
                "stop that process, or move this service to another port in .env "
                "(see .env.example), then `make up` again",
            )
    if svc.before_start is not None:
        svc.before_start(settings)
    sup.start(svc.name)
    try:
        detail = _wait_healthy(settings, sup, svc)
        _after_healthy(settings, svc)
    except ServiceFailed:
        sup.stop(svc.name)  # nothing half-started is left behind
        raise
    say(f"  up  {svc.name:<11} {svc.endpoint}  healthy in {time.monotonic() - t0:.1f} s ({detail})")


def _wait_healthy(settings: Settings, sup: Supervisor, svc: Service) -> str:
    def healthy() -> str:
        state = sup.state(svc.name)
        if state in ("EXITED", "FATAL", "BACKOFF", "STOPPED"):
            raise ServiceFailed(
                svc.name,
                f"exited during start-up ({state}): {_log_tail(settings, svc)}",
                svc.log(settings),
                svc.fix,
            )
        return svc.probe(settings)

    try:
        return wait_until(
            healthy, timeout=svc.start_timeout, what=svc.name, retry_on=(probes.ProbeError,)
        )
    except WaitTimeout as exc:
        raise ServiceFailed(
            svc.name,
            f"not healthy within {svc.start_timeout:.0f} s (last probe: {exc.last})",
            svc.log(settings),
            svc.fix,
        ) from None


def _after_healthy(settings: Settings, svc: Service) -> None:
    if svc.after_healthy is not None:
        svc.after_healthy(settings)


def _log_tail(settings: Settings, svc: Service, lines: int = 3) -> str:
    log = svc.log(settings)
    if not log.exists():
        return "no log yet"
    tail = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(tail[-lines:])[-400:]


def ensure_namespace(settings: Settings) -> None:
    """The namespace's topics, its bucket, and its S3 sink connector that lands them."""
    try:
        bootstrap.namespace(settings)
    except StackError:
        raise  # already says what to fix
    except Exception as exc:
        raise StackError(
            f"could not create the topics or bucket of namespace '{settings.pipeline_user_id}': "
            f"{exc}. Check `make status`."
        ) from exc
    connectors.ensure(settings)


def _connector_line(settings: Settings) -> str:
    name, _config = connectors.local_connector_config(settings)
    state = connectors.connector_state(settings, name)
    return f"{name} {state.connector} (lands {settings.pipeline_user_id}.* into {settings.bucket})"


def _start_batch_service(settings: Settings, say: Say) -> None:
    """The warm batch service, last: it warms itself up in the background (`--warm-up`), so
    the first `make batch` or `make demo` finds compiled code. Optional: a failure is said,
    not raised, because every job can run in its own process instead."""
    if importlib.util.find_spec("pyspark") is None:
        # `make up` alone installs no Spark; `make batch` and `make demo` do, and start it.
        say("  --  spark-batch not started: Spark is not installed yet (`make batch` installs it)")
        return
    from spark import jars

    try:
        # Fetched here, not inside the service's start-up deadline (the first time only).
        jars.ensure_jars(settings, jars.ALL)
        start_on_demand(settings, "spark-batch", say)
    except (ServiceFailed, jars.JarResolutionError) as exc:
        say(f"  !!  spark-batch: {exc}\n      batch jobs run in their own process until it starts")


def start_on_demand(settings: Settings, name: str, say: Say | None = None) -> bool:
    """Start one of `on_demand_services` behind its probe (a no-op when it is healthy).

    Only under a running native stack (`make up`): returns False when there is none (the
    docker runtime, or no stack), so the caller does the work without the service.
    """
    if settings.pipeline_target == "aws" or docker_runtime.runtime(settings) == "docker":
        return False
    sup = Supervisor(settings)
    if not sup.is_running():
        return False
    svc = next(s for s in on_demand_services(settings) if s.name == name)
    configs.prepare(settings)
    sup.ensure_running(all_services(settings) + on_demand_services(settings))
    _start_one(settings, sup, svc, say or _say)
    return True


def stop_on_demand(settings: Settings, name: str) -> None:
    """Stop an on-demand program if supervisord runs it (tests restore the stack so)."""
    sup = Supervisor(settings)
    if sup.is_running() and sup.state(name) in ("RUNNING", "STARTING"):
        sup.stop(name)


def down(settings: Settings) -> None:
    if docker_runtime.runtime(settings) == "docker":
        docker_runtime.compose(["down"], settings)
        return
    sup = Supervisor(settings)
    if not sup.is_running():
        _say("stack is not running")
        return
    sup.shutdown()
    _say(f"stack stopped (data kept in {settings.data_dir})")


def clean(settings: Settings) -> None:
    down(settings)
    for folder in (settings.data_dir, settings.logs_dir, settings.run_dir):
        shutil.rmtree(folder, ignore_errors=True)
    if docker_runtime.runtime(settings) == "docker":
        docker_runtime.compose(["down", "--volumes"], settings)
    _say(f"local data deleted ({settings.data_dir}); downloads stay cached in {settings.cache_dir}")


@dataclass
class ServiceStatus:
    name: str
    endpoint: str
    up: bool
    detail: str
    log: str
    #: Started on demand (`on_demand_services`): not running is idle, not a failure.
    on_demand: bool = False


def status(settings: Settings) -> list[ServiceStatus]:
    sup = Supervisor(settings)
    running = sup.is_running()
    rows = []
    for svc in all_services(settings):
        state = sup.state(svc.name) if running else "supervisor not running"
        try:
            detail, ok = (svc.status_probe or svc.probe)(settings), True
        except probes.ProbeError as exc:
            detail, ok = f"{state}: {exc}"[:120], False
        except Exception as exc:  # a status table must never crash on one bad service
            detail, ok = f"{state}: {type(exc).__name__}: {exc}"[:120], False
        rows.append(ServiceStatus(svc.name, svc.endpoint, ok, detail, str(svc.log(settings))))
    rows.extend(_connector_rows(settings))
    if running:
        for svc in on_demand_services(settings):
            state = sup.state(svc.name)
            idle = False
            try:
                detail, ok = svc.probe(settings), True
            except Exception as exc:
                ok = False
                # Never started, stopped, or exited by itself after its idle minutes: the
                # first job that needs it starts it. Crashed or stuck: a failure like any.
                info = sup.info(svc.name) if state == "EXITED" else {}
                idle = state in ("STOPPED", "ABSENT") or (
                    state == "EXITED" and info.get("exitstatus") == 0
                )
                detail = (
                    f"{state}: {exc}"[:120]
                    if not idle
                    else "not started: SPARK_SERVICE=0"
                    if not settings.spark_service
                    else "not running; `make up` or the first `make batch` starts it"
                )
            rows.append(
                ServiceStatus(
                    svc.name, svc.endpoint, ok, detail, str(svc.log(settings)), on_demand=idle
                )
            )
    return rows


def _connector_rows(settings: Settings) -> list[ServiceStatus]:
    """One row per Kafka Connect connector: its state and each task's."""
    endpoint = settings.kafka_connect_url.rstrip("/") + "/connectors"
    log = str(settings.logs_dir / "connect.log")
    try:
        states = connectors.all_states(settings)
    except Exception as exc:  # the Connect row above already says why the worker is down
        return [ServiceStatus("connectors", endpoint, False, f"{type(exc).__name__}", log)]
    if not states:
        detail = "none registered: `make up` registers this namespace's S3 sink"
        return [ServiceStatus("connectors", endpoint, False, detail, log)]
    return [
        ServiceStatus(f"connector {s.name}", endpoint, s.running, s.summary(), log) for s in states
    ]


def restart(settings: Settings, name: str) -> None:
    """Stop one service and bring it back behind its probe (used by fault tests)."""
    configs.prepare(settings)
    services = all_services(settings)
    sup = Supervisor(settings)
    sup.ensure_running(services + on_demand_services(settings))  # picks up a changed config
    sup.stop(name)
    svc = next(s for s in services + on_demand_services(settings) if s.name == name)
    _start_one(settings, sup, svc, lambda _m: None)
