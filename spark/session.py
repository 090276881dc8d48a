"""The one place that builds a SparkSession from Settings.

Master URL, driver memory and `s3a` settings come from `Settings` and the client factory, the
connector jars from the project cache (`spark.jars`), and Spark is kept quiet and small: no
UI or progress bars unless asked for, ERROR-level logs, four shuffle partitions, UTC.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import SparkSession

from services.clients import clients_for
from services.settings import Settings
from spark import jars

#: Every connector any job here needs. PySpark starts one JVM per Python process and its
#: classpath is fixed at start, so every session gets them all: a test run that builds the
#: batch session first and the streaming session second still finds Kafka and Delta.
CONNECTORS: tuple[str, ...] = jars.ALL

_LOG4J2 = """\
# Written by spark/session.py: Spark logs at {level} to stderr, nothing else.
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{{HH:mm:ss}} %p %c{{1}}: %m%n%ex
"""


def _knob(settings: Settings, name: str, default: str) -> str:
    # SPARK_UI and SPARK_LOG_LEVEL, through the settings object like every other knob.
    value = getattr(settings, name, None)
    return default if value is None else str(value)


def ui_enabled(settings: Settings) -> bool:
    return _knob(settings, "spark_ui", "0").lower() in {"1", "true", "yes"}


def _log_config(settings: Settings) -> Path:
    level = _knob(settings, "spark_log_level", "ERROR").upper()
    folder = settings.cache_dir / "spark-conf"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"log4j2-{level.lower()}.properties"
    text = _LOG4J2.format(level=level)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _is_loopback(master: str) -> bool:
    if master.startswith("local"):
        return True
    host = urlparse(master).hostname or ""
    return host in {"127.0.0.1", "localhost"}


def session_conf(
    settings: Settings,
    *,
    connectors: Iterable[str] = CONNECTORS,
    quick_jit: bool = True,
    long_lived: bool = False,
) -> dict[str, str]:
    """Every Spark setting the session gets: exposed so tests and the notebook can see it."""
    connectors = tuple(connectors)
    jar_paths = ":".join(str(p) for p in jars.ensure_jars(settings, connectors))
    java_opts = f"-Dlog4j2.configurationFile=file:{_log_config(settings)}"
    if quick_jit:
        # Only the quick (C1) JIT compiler: a job of a minute spends much of its 2 cores on
        # C2 compiling code it will not run long. Measured on this project's job: 11,153
        # events 53 s vs 110 s, 1,000,000 events 115 s vs 130 s (2 cores, shared machine).
        # Long-running jobs (streaming) pass quick_jit=False.
        java_opts += " -XX:TieredStopAtLevel=1"
    # Spark generates a class per query stage; with C1 alone (smaller code, but all of it
    # compiled) the JVM's default code cache ran out mid-job ("Out of space in CodeCache for
    # adapters", the batch at 11,153 events). 256 MiB is reserved address space, not heap.
    java_opts += " -XX:ReservedCodeCacheSize=256m"
    # On two cores the JIT compilers are the job's other big CPU user: in a full run at
    # 1,000,000 events the C2 threads used 62 s of CPU against the tasks' 76 s (per-thread
    # CPU from /proc). The parallel collector's simpler write barriers and a smaller
    # inlining budget for hot methods (FreqInlineSize, default 325 bytecodes) mean less code
    # to compile: C2 62 -> 34-41 s, tasks 76 -> 54-69 s, the run 113-118 s -> 79-100 s
    # (three runs each on a shared 2-core machine). Every session gets them, the streaming
    # job's too: throughput over pause times, with heaps of at most a few GB here.
    java_opts += " -XX:+UseParallelGC -XX:FreqInlineSize=100"
    if long_lived:
        # A driver that stays up between runs (spark/service.py) keeps whatever heap it
        # grew: the parallel collector never gives memory back. Its young generation grew
        # to 650 MiB (jcmd GC.heap_info) in the warm-up alone, so it is capped; `make bench`
        # memory section: 1,205 MiB resident after the warm-up at c1ae852, 1,553 MiB
        # uncapped at 641ebbe (2026-12-03 03:48 UTC); 1,000,000 events in 36.6 s. G1,
        # which does give memory back, was tried and made that run about a third slower.
        java_opts += " -XX:MaxNewSize=256m"
    ui = ui_enabled(settings)
    conf: dict[str, str] = {
        "spark.master": settings.spark_master,
        "spark.driver.memory": settings.spark_driver_memory,
        # Small data on 2 cores: the default 200 shuffle partitions cost more than they split.
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": str(ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        # On the class path rather than `spark.jars`: nothing is copied per application
        # (the AWS SDK bundle is 500+ MB), and Hadoop's FileSystem loader sees the classes.
        "spark.driver.extraClassPath": jar_paths,
        "spark.executor.extraClassPath": jar_paths,
        "spark.driver.extraJavaOptions": java_opts,
        "spark.executor.extraJavaOptions": java_opts,
        # Executors on a standalone worker run Python only for Python UDFs (none here), but
        # if they ever do, the same interpreter and packages.
        "spark.pyspark.python": sys.executable,
        # S3 has no rename: commit s3a output with Hadoop's "magic" S3A committer (uploads
        # become visible at job commit, nothing is copied). Other file systems keep the
        # classic FileOutputCommitter through the same binding.
        "spark.sql.sources.commitProtocolClass": (
            "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol"
        ),
        "spark.sql.parquet.output.committer.class": (
            "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"
        ),
        "spark.hadoop.mapreduce.outputcommitter.factory.scheme.s3a": (
            "org.apache.hadoop.fs.s3a.commit.S3ACommitterFactory"
        ),
        "spark.hadoop.fs.s3a.committer.name": "magic",
        "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    if set(jars.DELTA) <= set(connectors):
        # Delta for the batch job's cleaned tables and the streaming job's. Static settings:
        # only the first session of a JVM applies them, so every session carries them.
        conf["spark.sql.extensions"] = "io.delta.sql.DeltaSparkSessionExtension"
        conf["spark.sql.catalog.spark_catalog"] = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    if ui:
        conf["spark.ui.port"] = "4040"
    if _is_loopback(settings.spark_master):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    for key, value in clients_for(settings).spark_s3a_conf().items():
        conf[f"spark.hadoop.{key}"] = value
    return conf


class SparkStartError(RuntimeError):
    """The Spark JVM did not start; the message carries the end of its log."""


def driver_log(settings: Settings) -> Path:
    return settings.logs_dir / "spark-driver.log"


def _verbose(settings: Settings) -> bool:
    return _knob(settings, "spark_log_level", "ERROR").upper() not in {"ERROR", "FATAL", "OFF"}


def _start_jvm(settings: Settings, conf: Mapping[str, str]) -> None:
    """Start PySpark's JVM ourselves so its stderr goes to a log file, unless verbose.

    The AWS SDK bundle carries a shaded SLF4J 1.x that prints a NOP-logger notice on every
    start, and the JVM announces its incubator modules: noise on the terminal for nothing.
    PySpark starts the JVM (the "gateway") once per process, with the first session's conf.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.errors import PySparkRuntimeError
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None or _verbose(settings):
        return
    log = driver_log(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    spark_conf = SparkConf(loadDefaults=False).setAll(list(conf.items()))
    with log.open("ab") as fh:
        start = fh.tell()
        try:
            gateway = launch_gateway(spark_conf, popen_kwargs={"stdout": fh, "stderr": fh})
        except PySparkRuntimeError as exc:
            with log.open("rb") as out:
                out.seek(start)
                lines = out.read().decode(errors="replace").splitlines()
            # spark-submit prints its complaint, then its whole usage text: show the complaint.
            errors = [ln for ln in lines if ln.startswith(("Error", "Exception"))]
            detail = "\n".join(errors[:5] or lines[-15:])
            raise SparkStartError(
                f"the Spark JVM exited during start-up ({exc}); from {log}:\n{detail}\n"
                "Check Java 17 is installed (`java -version`), SPARK_DRIVER_MEMORY fits this "
                "machine, and extra Spark settings are valid."
            ) from None
    SparkContext._ensure_initialized(gateway=gateway)


def build_session(
    settings: Settings,
    app_name: str = "pinterest-pipeline",
    *,
    connectors: Iterable[str] = CONNECTORS,
    extra_conf: Mapping[str, str] | None = None,
    quick_jit: bool = True,
    long_lived: bool = False,
) -> SparkSession:
    """A SparkSession for `settings` (or the running one, re-pointed at these settings)."""
    if _is_loopback(settings.spark_master):
        # The driver's RPC, block manager and file server listen on loopback only.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf = {
        "spark.app.name": app_name,
        **session_conf(settings, connectors=connectors, quick_jit=quick_jit, long_lived=long_lived),
        **(extra_conf or {}),
    }
    _start_jvm(settings, conf)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # A session that already existed in this process keeps its SparkContext, whose Hadoop
    # configuration the builder does not touch: set the s3a keys on it directly.
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in conf.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key.removeprefix("spark.hadoop."), value)
    spark.sparkContext.setLogLevel(_knob(settings, "spark_log_level", "ERROR").upper())
    return spark
