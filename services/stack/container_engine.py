"""A container engine for the docker runtime: the user's Docker, or podman prepared here.

A machine whose `docker info` answers keeps its engine untouched. Otherwise
`python -m services.stack install-docker-engine` (and the docker-runtime test) prepares
podman, as a new user would on Debian 12, with everything it writes kept in the project:

- `apt-get install podman` when it is missing (root only; else the command to run);
- its settings in `.local/cache/podman/containers.conf` (read through CONTAINERS_CONF, so
  /etc is left alone): no default ulimits and cgroupfs + runc, without which a container
  fails to start on setrlimit and on hybrid cgroups;
- the one image taken from outside, `debian:bookworm-slim`, made from Debian's packages
  (`mmdebstrap --variant=minbase`), the tarball cached in `.local/cache/podman/`;
- `podman system service` on `.local/cache/podman/podman.sock`: the `docker` CLI and
  docker-compose talk to it through DOCKER_HOST.

Every step is idempotent: a second call finds the socket answering and returns at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from services.runner.child import ChildStartError, command_line, start_daemon, stop_daemon
from services.runner.wait import NotReady
from services.settings import Settings
from services.stack.errors import InstallError

BASE_IMAGE = "debian:bookworm-slim"
DEBIAN_SUITE = "bookworm"

CONTAINERS_CONF = """# Written by services/stack/container_engine.py; read through CONTAINERS_CONF.
[containers]
# The engine's default ulimits fail setrlimit inside this kind of machine.
default_ulimits = []

[engine]
# Hybrid cgroup hierarchies: systemd's cgroup manager and crun fail to start containers.
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
"""


def podman_dir(settings: Settings) -> Path:
    return settings.cache_dir / "podman"


def socket_path(settings: Settings) -> Path:
    # Beside the cache, not in .local/run: `make clean` empties run/ and still needs the
    # engine afterwards to delete the stack's volumes.
    return podman_dir(settings) / "podman.sock"


def _pid_file(settings: Settings) -> Path:
    return podman_dir(settings) / "service.pid"


def _log(settings: Settings) -> Path:
    return settings.logs_dir / "podman.log"


def podman_env(settings: Settings) -> dict[str, str]:
    """What the `docker` CLI, docker-compose and podman need to use the prepared engine."""
    return {
        "DOCKER_HOST": f"unix://{socket_path(settings)}",
        "CONTAINERS_CONF": str(podman_dir(settings) / "containers.conf"),
    }


def docker_answers(env: dict[str, str] | None = None) -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        out = subprocess.run(
            ["docker", "info"],
            capture_output=True,
            timeout=15,
            env={**os.environ, **(env or {})},
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0


def engine_env(settings: Settings) -> dict[str, str] | None:
    """The environment that reaches an engine: {} for the user's own Docker, podman's
    DOCKER_HOST when the project's podman service answers, None when neither does."""
    if docker_answers():
        return {}
    if "DOCKER_HOST" not in os.environ and socket_path(settings).exists():
        env = podman_env(settings)
        if docker_answers(env):
            return env
    return None


def ensure_engine(settings: Settings) -> dict[str, str]:
    """An engine that answers `docker info`: the user's, or podman prepared and started."""
    env = engine_env(settings)
    if env is not None:
        return env
    if "DOCKER_HOST" in os.environ:
        raise InstallError(
            f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer `docker info`: start "
            "that engine, or unset DOCKER_HOST to let the project prepare podman"
        )
    if shutil.which("docker") is None:
        raise InstallError(
            "the `docker` CLI is missing: install Docker (docs.docker.com/get-docker), or "
            "Debian's docker.io package for the CLI alone, then try again"
        )
    # catatonit: the init of `init: true` (docker-compose.yml), only Recommended by podman.
    _ensure_packages(
        settings,
        {"podman": "podman", "runc": "runc", "mmdebstrap": "mmdebstrap", "catatonit": "catatonit"},
    )
    conf = podman_dir(settings) / "containers.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    env = podman_env(settings)
    _ensure_base_image(settings, env)
    _start_service(settings, env)
    _check_runs_containers(env)
    return env


def _check_runs_containers(env: dict[str, str]) -> None:
    """An engine that answers but cannot start a container (no privileges for namespaces,
    say) fails here, with its own words, rather than half-way through `make up`."""
    try:
        out = subprocess.run(
            ["docker", "run", "--rm", "--network=none", BASE_IMAGE, "true"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise InstallError(f"podman cannot run a container here: {exc}") from None
    if out.returncode != 0:
        raise InstallError(
            f"podman answers but cannot run a container here (exit {out.returncode}): "
            f"{out.stderr.strip()[-400:]}"
        )


def _ensure_packages(settings: Settings, binaries: dict[str, str]) -> None:
    from services.stack import install

    missing = sorted({pkg for b, pkg in binaries.items() if not install.find_binary(b)})
    if missing:
        log = settings.logs_dir / "install.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        install._apt_install(missing, log)


def _podman(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env={**os.environ, **env}, text=True, capture_output=True, **kw
    )  # type: ignore[call-overload]


def _ensure_base_image(settings: Settings, env: dict[str, str]) -> None:
    if _podman(["image", "exists", BASE_IMAGE], env).returncode == 0:
        return
    tarball = podman_dir(settings) / f"{DEBIAN_SUITE}-minbase.tar"
    log = _log(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    if not tarball.exists():
        print(f"  building the {BASE_IMAGE} base image with mmdebstrap (log: {log})", flush=True)
        partial = tarball.with_suffix(".partial.tar")
        with log.open("a") as out:
            rc = subprocess.run(
                ["mmdebstrap", "--variant=minbase", DEBIAN_SUITE, str(partial)],
                stdout=out,
                stderr=subprocess.STDOUT,
            ).returncode
        if rc != 0:
            partial.unlink(missing_ok=True)
            raise InstallError(
                f"mmdebstrap could not build the Debian {DEBIAN_SUITE} base (exit {rc}); see "
                f"{log}. Check that the Debian package mirror is reachable, then try again."
            )
        partial.rename(tarball)
    imported = _podman(["import", str(tarball), BASE_IMAGE], env)
    if imported.returncode != 0:
        raise InstallError(f"`podman import {tarball}` failed: {imported.stderr.strip()[-400:]}")


def _start_service(settings: Settings, env: dict[str, str]) -> None:
    sock = socket_path(settings)
    sock.parent.mkdir(parents=True, exist_ok=True)
    stop_service(settings)
    sock.unlink(missing_ok=True)
    log = _log(settings)

    def answering() -> str:
        if not (sock.exists() and docker_answers(env)):
            raise NotReady(f"{sock} does not answer `docker info` yet")
        return "answering"

    try:
        # A daemon: it outlives this command; `stop_service` (make clean, the test) stops it.
        pid = start_daemon(
            "podman's API service",
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            log=log,
            env=env,
            probe=answering,
            start_timeout=30,
        )
    except ChildStartError as exc:
        if exc.exit_code is not None:
            raise InstallError(
                f"`podman system service` exited ({exc.exit_code}); see {log}"
            ) from None
        raise InstallError(
            f"podman's API socket {sock} did not answer within 30 s; see {log}"
        ) from None
    _pid_file(settings).write_text(f"{pid}\n")


def stop_service(settings: Settings) -> bool:
    """Stop the podman API service this project started (never another process)."""
    pid_file = _pid_file(settings)
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    pid_file.unlink(missing_ok=True)
    argv = command_line(pid)
    if not argv or "podman" not in Path(argv[0]).name or "service" not in argv:
        return False  # gone already, or the pid was reused by something else
    # TERM to its process group, KILL after 10 s; its socket is removed below either way.
    stop_daemon(pid, name="podman's API service", timeout=10)
    socket_path(settings).unlink(missing_ok=True)
    return True
