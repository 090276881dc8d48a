"""python -m services.stack up|down|clean|status|logs|compose ..."""

from __future__ import annotations

import argparse
import sys

from services.settings import Settings, SettingsError, load_settings
from services.stack import lifecycle
from services.stack.errors import StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.stack",
        description=(
            "The local stack: MariaDB (RDS), Kafka (MSK), Kafka Connect (MSK Connect), "
            "SeaweedFS (S3) and the REST proxy, on 127.0.0.1; each namespace's S3 sink is a "
            "connector in the Connect worker. Native processes "
            "under supervisord by default; docker compose when RUNTIME=docker (or auto and a "
            "Docker engine answers). Data, logs and sockets live in .local/."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing, start everything, wait until healthy")
    sub.add_parser("down", help="stop every service; data is kept")
    sub.add_parser("clean", help="stop every service and delete the local data")
    sub.add_parser("status", help="each service: endpoint, up/down, health detail")
    sub.add_parser("logs", help="where each service logs")
    sub.add_parser(
        "install-test-tools", help="install what only the tests need (Compose, Chromium)"
    )
    sub.add_parser(
        "install-docker-engine",
        help="the docker runtime's engine: the user's Docker if it answers, else podman "
        "prepared under .local/ (Debian, root); prints the DOCKER_HOST to use",
    )
    sub.add_parser(
        "docker-images",
        help="build the docker runtime's images that are missing or stale (Spark's too); "
        "print each one's build time and size",
    )
    compose = sub.add_parser(
        "compose",
        help="docker runtime: run docker-compose with the project's file, name and settings "
        "(e.g. `compose logs -f kafka`)",
    )
    compose.add_argument("compose_args", nargs=argparse.REMAINDER)
    restart = sub.add_parser("restart", help="restart one service")
    restart.add_argument("service")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "up":
            lifecycle.up(settings)
        elif args.command == "down":
            lifecycle.down(settings)
        elif args.command == "clean":
            lifecycle.clean(settings)
        elif args.command == "restart":
            lifecycle.restart(settings, args.service)
        elif args.command == "status":
            return _print_status(settings)
        elif args.command == "install-test-tools":
            from services.stack import install

            install.ensure_test_tools(settings)
        elif args.command == "install-docker-engine":
            from services.stack import container_engine

            env = container_engine.ensure_engine(settings)
            print(
                "the user's Docker engine answers; nothing to prepare"
                if not env
                else "podman answers; for the docker CLI: "
                + " ".join(f"export {k}={v};" for k, v in env.items())
            )
        elif args.command == "docker-images":
            _docker_images(settings)
        elif args.command == "logs":
            _print_logs(settings)
        elif args.command == "compose":
            from services.stack import container_engine, docker_runtime

            if container_engine.engine_env(settings) is None:
                raise StackError(
                    "no container engine answers: `RUNTIME=docker make up` starts the docker "
                    "runtime (and prepares podman when there is no Docker)"
                )
            docker_runtime.compose(args.compose_args or ["ps"], settings)
    except (StackError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_status(settings: Settings) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    rows = lifecycle.status(settings)
    table = Table(title="local stack")
    for col in ("service", "endpoint", "state", "detail"):
        table.add_column(col)
    for r in rows:
        state = "[green]up[/]" if r.up else "idle" if r.on_demand else "[red]down[/]"
        table.add_row(r.name, r.endpoint, state, escape(r.detail))
    Console(width=160).print(table)
    return 0 if all(r.up or r.on_demand for r in rows) else 3


def _docker_images(settings: Settings) -> None:
    from services.stack import container_engine, docker_runtime

    container_engine.ensure_engine(settings)
    docker_runtime.prepare_files(settings)
    built = docker_runtime.build_images(settings, tuple(docker_runtime.IMAGES))
    for name, size in docker_runtime.image_sizes(settings).items():
        took = f"built in {built[name]:.0f} s" if name in built else "up to date"
        print(f"  {docker_runtime.IMAGES[name].tag:<40} {size / 1e6:>6.0f} MB  {took}")


def _print_logs(settings: Settings) -> None:
    from services.stack import docker_runtime
    from services.stack.definitions import all_services, on_demand_services

    if docker_runtime.runtime(settings) == "docker":
        # The containers log to the engine; builds and installs still log here.
        print("docker runtime: each service logs to the engine; follow one with")
        print("  .venv/bin/python -m services.stack compose logs -f <service>")
        print("  (the project's compose file, name and settings; podman's socket if prepared)")
        print(f"  image builds: {settings.logs_dir}/docker-build-<image>.log")
        print(f"  install:      {settings.logs_dir / 'install.log'}")
        return
    print(f"logs folder: {settings.logs_dir}")
    for svc in all_services(settings) + on_demand_services(settings):
        print(f"  {svc.name:<11} {svc.log(settings)}")
    print(f"  {'supervisord':<11} {settings.logs_dir / 'supervisord.log'}")
    print(f"  {'install':<11} {settings.logs_dir / 'install.log'}")
    print("follow one with: tail -f <file>")


if __name__ == "__main__":
    sys.exit(main())
