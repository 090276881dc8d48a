"""The docker runtime: `docker-compose.yml` driven by the same settings and probes as native.

`lifecycle` decides which runtime runs (`runtime()`); everything that talks to a container
engine lives here, so the native path never imports or shells out to Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from services.settings import PROJECT_ROOT, Settings
from services.stack import probes
from services.stack.errors import StackError
from services.stack.ports import url_port


def runtime(settings: Settings) -> str:
    """native unless RUNTIME=docker, or RUNTIME=auto and a Docker engine answers."""
    if settings.runtime != "auto":
        return settings.runtime
    if shutil.which("docker") is None:
        return "native"
    try:
        ok = subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return "docker" if ok else "native"


def compose_env(settings: Settings) -> dict[str, str]:
    """Every setting as the environment variable compose interpolates (`${VAR:?}`)."""
    env = {k.upper(): v for k, v in settings.masked().items()}
    for name in ("mysql_password", "mysql_admin_password", "s3_access_key", "s3_secret_key"):
        env[name.upper()] = getattr(settings, name).get_secret_value()
    env["COMPOSE_PROJECT_NAME"] = "pinterest-pipeline"
    env["S3_PORT"] = str(url_port(settings.s3_endpoint, 9000))
    return env


def compose(args: list[str], settings: Settings) -> None:
    # Debian's docker-compose (1.x) or the Docker CLI's compose plugin, whichever exists.
    base = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    cmd = [*base, "-f", str(PROJECT_ROOT / "docker-compose.yml"), *args]
    env = {**os.environ, **compose_env(settings)}
    rc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env).returncode
    if rc != 0:
        raise StackError(f"`{' '.join(cmd)}` failed (exit {rc}); see its output above")


def up(settings: Settings) -> None:
    from services.stack import configs

    configs.s3_identities(settings)  # mounted into the SeaweedFS container
    compose(["up", "-d", "--build"], settings)
    # docker-compose 1.x has no `up --wait`: the same probes as the native runtime decide.
    checks = (probes.mysql_tcp, probes.kafka, probes.connect, probes.s3, probes.rest_proxy)
    for probe in (*checks, probes.s3_sink):
        try:
            probes.wait_until(probe, settings, timeout=180)
        except probes.ProbeError as exc:
            raise StackError(
                f"docker runtime: {probe.__name__} not healthy within 180 s ({exc}); "
                "see `docker-compose logs`"
            ) from None
