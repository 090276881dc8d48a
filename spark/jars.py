"""The extra JVM jars Spark needs, resolved once with Maven into the project cache.

PySpark ships Spark and Hadoop's client jars but not the connectors: `s3a` (hadoop-aws and the
AWS SDK it was built against), Kafka and Delta. Each connector is a Maven coordinate in a
tuple below; `ensure_jars` resolves every coordinate with its runtime dependencies into
`<cache_dir>/spark-jars/<artifact>-<version>/`, skipping artifacts PySpark already bundles, and
marks the folder complete. Later runs find the marker and never touch the network, so a job
never downloads at run time once the cache is warm (`python -m spark.jars` warms it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.settings import Settings, SettingsError, load_settings

#: hadoop-aws must match the Hadoop client PySpark bundles (pyspark 4.0.1 -> Hadoop 3.4.1);
#: its pom pins the AWS SDK v2 bundle it was tested with.
S3A: tuple[str, ...] = (
    "org.apache.hadoop:hadoop-aws:3.4.1",
    # Spark's binding to Hadoop's S3A committers (write without copy-renames); its own
    # dependencies are the Azure, GCS and other cloud connectors, which s3a does not need.
    "org.apache.spark:spark-hadoop-cloud_2.13:4.0.1:nodeps",
)
#: For the streaming job (Kafka source and Delta sink); resolved only when asked for.
KAFKA: tuple[str, ...] = ("org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1",)
DELTA: tuple[str, ...] = ("io.delta:delta-spark_2.13:4.0.1",)
#: Every connector any job here needs (`spark.session.CONNECTORS`): here, so `make up` can
#: fetch them for the batch service without importing PySpark.
ALL: tuple[str, ...] = S3A + KAFKA + DELTA

#: Versions forced on transitive dependencies (Maven dependencyManagement), for artifacts
#: the package registry this project can reach does not serve: it lacks
#: spark-token-provider-kafka 4.0.1, and 4.0.0 is the same code line (Spark 4.0 patch).
MANAGED: tuple[str, ...] = ("org.apache.spark:spark-token-provider-kafka-0-10_2.13:4.0.0",)

_MARKER = ".complete"
_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.pipeline</groupId>
  <artifactId>spark-jars-{artifact}</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencyManagement>
    <dependencies>
{managed}
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>{exclusions}
    </dependency>
  </dependencies>
</project>
"""
_MANAGED_ENTRY = """\
      <dependency>
        <groupId>{group}</groupId>
        <artifactId>{artifact}</artifactId>
        <version>{version}</version>
      </dependency>"""

_NO_DEPS = """
      <exclusions>
        <exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>"""


class JarResolutionError(RuntimeError):
    """Maven could not resolve a connector jar; the message says what to check."""


@dataclass(frozen=True)
class Coordinate:
    group: str
    artifact: str
    version: str
    #: Only the artifact's own jar (`group:artifact:version:nodeps`), none of its dependencies.
    nodeps: bool = False

    @classmethod
    def parse(cls, text: str) -> Coordinate:
        parts = text.split(":")
        nodeps = len(parts) == 4 and parts[3] == "nodeps"
        if nodeps:
            parts = parts[:3]
        if len(parts) != 3 or not all(parts):
            raise SettingsError(
                f"Maven coordinate {text!r} must be group:artifact:version[:nodeps]"
            )
        group, artifact, version = parts
        return cls(group, artifact, version, nodeps=nodeps)

    @property
    def folder(self) -> str:
        return f"{self.artifact}-{self.version}"


def jars_dir(settings: Settings) -> Path:
    return settings.cache_dir / "spark-jars"


def pyspark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def ensure_jars(settings: Settings, coordinates: Iterable[str] = S3A) -> list[Path]:
    """Every jar the coordinates need beyond PySpark's own, resolving what is not cached."""
    out: list[Path] = []
    seen: set[str] = set()
    for text in coordinates:
        coord = Coordinate.parse(text)
        folder = jars_dir(settings) / coord.folder
        if not (folder / _MARKER).exists():
            _resolve(settings, coord, folder)
        for jar in sorted(folder.glob("*.jar")):
            # Two connectors may share a dependency; the classpath needs it once.
            if jar.name not in seen:
                seen.add(jar.name)
                out.append(jar)
    return out


def pom_text(coord: Coordinate) -> str:
    """A throw-away pom whose only dependency is `coord`, with the MANAGED version pins."""
    managed = "\n".join(
        _MANAGED_ENTRY.format(group=m.group, artifact=m.artifact, version=m.version)
        for m in map(Coordinate.parse, MANAGED)
    )
    return _POM.format(
        group=coord.group,
        artifact=coord.artifact,
        version=coord.version,
        managed=managed,
        exclusions=_NO_DEPS if coord.nodeps else "",
    )


def _resolve(settings: Settings, coord: Coordinate, folder: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError(
            f"Spark needs {coord.group}:{coord.artifact}:{coord.version} and its dependencies, "
            f"which are not cached in {folder} yet, and Maven (`mvn`) is not installed to fetch "
            "them: install Maven (Debian: apt-get install maven) and run `python -m spark.jars` "
            "once with network access to Maven Central."
        )
    work = folder.with_name(folder.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "pom.xml").write_text(pom_text(coord))
    listing = work / "dependencies.txt"
    log = work / "mvn.log"
    cmd = [
        mvn,
        "-B",
        "-q",
        f"-Dmaven.repo.local={settings.cache_dir / 'm2'}",
        "-f",
        str(work / "pom.xml"),
        "dependency:list",
        "-DincludeScope=runtime",
        "-DoutputAbsoluteArtifactFilename=true",
        f"-DoutputFile={listing}",
    ]
    with log.open("w") as fh:
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not listing.exists():
        raise JarResolutionError(
            f"Maven could not resolve {coord.group}:{coord.artifact}:{coord.version} "
            f"(exit {done.returncode}); its log is {log}. The first resolution needs network "
            "access to Maven Central; later runs use the cache in "
            f"{settings.cache_dir / 'm2'} and {folder}."
        )
    bundled = _bundled_artifacts()
    folder.mkdir(parents=True, exist_ok=True)
    for jar in _jars_in_listing(listing.read_text()):
        artifact, path = jar
        if artifact in bundled:
            continue
        _link_or_copy(path, folder / path.name)
    (folder / _MARKER).write_text(f"{coord.group}:{coord.artifact}:{coord.version}\n")
    shutil.rmtree(work, ignore_errors=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    # The AWS SDK bundle is over 500 MB: a hard link keeps one copy on disk when the Maven
    # cache and the jar folder share a file system.
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _jars_in_listing(text: str) -> list[tuple[str, Path]]:
    """(artifactId, file) for each jar line of `mvn dependency:list` output.

    A line reads `group:artifact:jar[:classifier]:version:scope:/abs/path.jar`, possibly
    followed by ` -- module name` on newer plugin versions.
    """
    out: list[tuple[str, Path]] = []
    for raw in text.splitlines():
        line = raw.strip().split(" -- ")[0].strip()
        if ".jar" not in line or ":jar:" not in line:
            continue
        head, _, path = line.partition(":/")
        fields = head.split(":")
        out.append((fields[1], Path("/" + path)))
    return out


def _bundled_artifacts() -> set[str]:
    """Artifact ids of the jars PySpark ships (files are named `<artifact>-<version>.jar`)."""
    names: set[str] = set()
    for jar in pyspark_jars().glob("*.jar"):
        stem = jar.name.removesuffix(".jar")
        parts = stem.split("-")
        # The version starts at the first dash-separated part that begins with a digit.
        for i in range(1, len(parts)):
            if parts[i][:1].isdigit():
                names.add("-".join(parts[:i]))
                break
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spark.jars",
        description="Resolve the Spark connector jars once into the project cache.",
    )
    parser.add_argument(
        "--with",
        dest="extra",
        action="append",
        choices=["kafka", "delta", "msk-iam"],
        default=[],
        help="also resolve the streaming connectors (msk-iam: MSK IAM's login module, which "
        "the streaming job needs with PIPELINE_TARGET=aws and KAFKA_AUTH=iam)",
    )
    args = parser.parse_args(argv)
    # Here, not at the top: every Spark session imports this module, few need AWS's clients.
    from services.clients.aws import MSK_IAM_AUTH_JAR

    coords = list(S3A)
    for name in args.extra:
        coords += list({"kafka": KAFKA, "delta": DELTA, "msk-iam": (MSK_IAM_AUTH_JAR,)}[name])
    try:
        jars = ensure_jars(load_settings(), coords)
    except (JarResolutionError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for jar in jars:
        print(jar)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
