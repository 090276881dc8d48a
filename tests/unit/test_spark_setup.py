"""The pieces around the job that need no Spark: jar cache, session settings, landing, summary."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from bench.landed import LayoutWriter, json_line
from services.settings import Settings, SettingsError, load_settings
from spark import jars
from spark.job import RunSummary
from spark.session import CONNECTORS, session_conf

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return load_settings(state_dir=tmp_path, **kw)


def _fake_cache(settings: Settings, coords: tuple[str, ...]) -> list[Path]:
    """Mark every coordinate as resolved, with one jar each plus one shared jar."""
    made = []
    for text in coords:
        folder = jars.jars_dir(settings) / jars.Coordinate.parse(text).folder
        folder.mkdir(parents=True)
        (folder / ".complete").write_text(text)
        own = folder / f"{folder.name}.jar"
        own.write_bytes(b"")
        (folder / "shared-1.0.jar").write_bytes(b"")
        made.append(own)
    return made


def test_coordinates_parse() -> None:
    plain = jars.Coordinate.parse("org.apache.hadoop:hadoop-aws:3.4.1")
    assert (plain.group, plain.artifact, plain.version, plain.nodeps) == (
        "org.apache.hadoop",
        "hadoop-aws",
        "3.4.1",
        False,
    )
    assert jars.Coordinate.parse("g:a:1:nodeps").nodeps
    for bad in ("g:a", "g::1", "g:a:1:2:3"):
        with pytest.raises(SettingsError, match="group:artifact:version"):
            jars.Coordinate.parse(bad)


def test_pom_pins_managed_versions_and_drops_dependencies_on_request() -> None:
    pom = jars.pom_text(
        jars.Coordinate.parse("org.apache.spark:spark-hadoop-cloud_2.13:4.0.1:nodeps")
    )
    assert "<artifactId>spark-hadoop-cloud_2.13</artifactId>" in pom
    assert "<exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>" in pom
    assert "spark-token-provider-kafka-0-10_2.13" in pom  # the MANAGED pin
    assert "<exclusion>" not in jars.pom_text(jars.Coordinate.parse("g:a:1"))


def test_dependency_listing_is_parsed() -> None:
    text = """
The following files have been resolved:
   org.apache.hadoop:hadoop-aws:jar:3.4.1:compile:/m2/hadoop-aws-3.4.1.jar -- module hadoop.aws
   software.amazon.awssdk:bundle:jar:2.24.6:compile:/m2/bundle-2.24.6.jar
   io.netty:netty-x:jar:linux-x86_64:4.1.0:runtime:/m2/netty-x-4.1.0-linux-x86_64.jar
   org.example:thing:pom:1.0:compile:/m2/thing-1.0.pom
"""
    assert jars._jars_in_listing(text) == [
        ("hadoop-aws", Path("/m2/hadoop-aws-3.4.1.jar")),
        ("bundle", Path("/m2/bundle-2.24.6.jar")),
        ("netty-x", Path("/m2/netty-x-4.1.0-linux-x86_64.jar")),
    ]


def test_pyspark_bundled_artifacts_are_known() -> None:
    bundled = jars._bundled_artifacts()
    assert {"hadoop-client-api", "hadoop-client-runtime", "scala-library", "slf4j-api"} <= bundled
    assert "hadoop-aws" not in bundled


def test_cached_jars_are_used_without_maven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    coords = ("g:one:1", "g:two:2")
    own = _fake_cache(settings, coords)
    monkeypatch.setenv("PATH", "")  # no `mvn`: the cache alone must do
    got = jars.ensure_jars(settings, coords)
    assert own[0] in got and own[1] in got
    assert [p.name for p in got].count("shared-1.0.jar") == 1


def test_missing_jars_without_maven_say_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(jars.JarResolutionError, match="apt-get install maven"):
        jars.ensure_jars(_settings(tmp_path), ("g:absent:1",))


def test_session_conf_is_quiet_small_and_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPARK_UI", raising=False)
    settings = _settings(tmp_path, spark_master="local[2]", spark_driver_memory="1g")
    own = _fake_cache(settings, CONNECTORS)
    conf = session_conf(settings)
    assert conf["spark.master"] == "local[2]"
    assert conf["spark.driver.memory"] == "1g"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.ui.showConsoleProgress"] == "false"
    assert conf["spark.sql.shuffle.partitions"] == "4"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == settings.s3_endpoint
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.access.key"] == settings.s3_access_key.get_secret_value()
    classpath = conf["spark.driver.extraClassPath"].split(":")
    assert all(str(p) in classpath for p in own)
    assert conf["spark.executor.extraClassPath"] == conf["spark.driver.extraClassPath"]
    assert "log4j2.configurationFile" in conf["spark.driver.extraJavaOptions"]
    # The parallel collector everywhere; the long-lived service's young generation capped
    # (that collector never gives memory back), and no C1-only JIT there.
    opts = conf["spark.driver.extraJavaOptions"].split()
    assert "-XX:+UseParallelGC" in opts and not any("MaxNewSize" in o for o in opts)
    service = session_conf(settings, quick_jit=False, long_lived=True)
    opts = service["spark.driver.extraJavaOptions"].split()
    assert "-XX:+UseParallelGC" in opts and "-XX:MaxNewSize=256m" in opts
    assert "-XX:TieredStopAtLevel=1" not in opts


def test_delta_only_when_its_jars_are_on_the_class_path(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _fake_cache(settings, CONNECTORS)
    with_delta = session_conf(settings)
    assert with_delta["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert with_delta["spark.sql.catalog.spark_catalog"].endswith("DeltaCatalog")
    # A session with s3a alone must not name classes it cannot load.
    s3a_only = session_conf(settings, connectors=jars.S3A)
    assert "spark.sql.extensions" not in s3a_only
    assert "spark.sql.catalog.spark_catalog" not in s3a_only


def test_spark_ui_on_request_and_no_loopback_pin_for_remote_masters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARK_UI", "1")
    _fake_cache(_settings(tmp_path), CONNECTORS)
    remote = session_conf(_settings(tmp_path, spark_master="spark://10.1.2.3:7077"))
    assert remote["spark.ui.enabled"] == "true"
    assert "spark.driver.host" not in remote
    cluster = session_conf(_settings(tmp_path, spark_master="spark://127.0.0.1:7077"))
    assert cluster["spark.driver.bindAddress"] == "127.0.0.1"


def test_layout_writer_rolls_objects_like_the_sink(tmp_path: Path) -> None:
    with LayoutWriter(tmp_path, {"pin": "u.pin"}, per_object=2) as writer:
        for i in range(5):
            writer.write("pin", b'{"index": %d}' % i)
        assert writer.counts == {"pin": 5}
    folder = tmp_path / "topics" / "u.pin" / "partition=0"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "u.pin+0+0000000000.json",
        "u.pin+0+0000000002.json",
        "u.pin+0+0000000004.json",
    ]
    assert (folder / names[1]).read_bytes() == b'{"index": 2}\n{"index": 3}\n'


def test_json_line_sends_datetimes_as_mysql_text() -> None:
    line = json_line({"ind": 1, "timestamp": dt.datetime(2020, 1, 2, 3, 4, 5), "x": 1.5})
    assert line == b'{"ind":1,"timestamp":"2020-01-02 03:04:05","x":1.5}\n'


def test_run_summary_round_trips_as_json() -> None:
    summary = RunSummary(
        source="s3a://b",
        target="s3a://b",
        master="local[2]",
        started_at="2026-01-01T00:00:00+00:00",
        rows_read={"pin": 3},
        answers={"users_joined_by_year": [{"post_year": 2015, "number_users_joined": 2}]},
    )
    back = RunSummary.from_json(summary.to_json())
    assert back == summary
    assert json.loads(summary.to_json())["rows_read"] == {"pin": 3}
    assert back.answer("users_joined_by_year")[0]["number_users_joined"] == 2
    with pytest.raises(KeyError, match="no output 'nope'"):
        back.answer("nope")


# --- the warm batch service's request checks and warm-up data (spark/service.py) ----------


def _run_request(settings: Settings, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "user_id": settings.pipeline_user_id,
        "bucket": settings.bucket,
        "topics": {t: settings.topic(t) for t in ("pin", "geo", "user")},
        "full": True,
    }
    return {**body, **changes}


def test_a_run_request_names_the_namespace_the_service_reads(tmp_path: Path) -> None:
    from spark.service import namespace_settings

    base = _settings(tmp_path)
    other = base.model_copy(update={"pipeline_user_id": "alice"})
    settings, full = namespace_settings(base, _run_request(other))
    assert (settings.pipeline_user_id, settings.bucket, full) == ("alice", other.bucket, True)
    settings, full = namespace_settings(base, {**_run_request(other), "full": False})
    assert full is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"user_id": ""}, "user_id"),
        ({"full": "yes"}, '"full" must be true or false'),
        ({"bucket": "elsewhere"}, "restart it"),
        ({"topics": {"pin": "x.pin"}}, "SPARK_SERVICE=0"),
    ],
)
def test_a_run_request_that_does_not_match_is_refused_with_the_fix(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    from spark.service import RunRequestError, namespace_settings

    base = _settings(tmp_path)
    with pytest.raises(RunRequestError, match=message):
        namespace_settings(base, _run_request(base, **changes))
    with pytest.raises(RunRequestError, match="JSON object"):
        namespace_settings(base, ["not", "an", "object"])


def test_the_warm_up_events_are_in_the_sinks_layout(tmp_path: Path) -> None:
    from services.contracts.keys import parse_key
    from spark.service import WARM_UP_PER_OBJECT, write_warm_up_events

    settings = _settings(tmp_path)
    url = write_warm_up_events(tmp_path / "w", settings, size=2_500)
    assert url == (tmp_path / "w").resolve().as_uri()
    for table in ("pin", "geo", "user"):
        objects = sorted((tmp_path / "w").rglob(f"*{settings.topic(table)}*.json"))
        assert len(objects) == 3  # 1,000 + 1,000 + 500 lines
        keys = [parse_key(p.relative_to(tmp_path / "w").as_posix()) for p in objects]
        assert all(k is not None for k in keys)
        lines = [ln for p in objects for ln in p.read_bytes().splitlines()]
        assert len(lines) == 2_500
        assert all(json.loads(ln) for ln in lines[:: WARM_UP_PER_OBJECT // 4])


def test_the_service_stops_when_idle_only_with_nothing_running(tmp_path: Path) -> None:
    from spark.service import BatchService, ServiceClosing

    service = BatchService(_settings(tmp_path), spark=None)  # type: ignore[arg-type]
    assert service.stop_if_idle(minutes=1) is False  # just used (started)
    service.last_used -= 120
    with service.lock:  # a run holds the driver
        assert service.stop_if_idle(minutes=1) is False
    assert service.closing is False
    assert service.stop_if_idle(minutes=1) is True
    # A request that was waiting for the lock is told to go elsewhere, not run.
    with pytest.raises(ServiceClosing):
        service.run(_run_request(service.settings))


def test_the_fingerprint_follows_the_settings_a_run_depends_on(tmp_path: Path) -> None:
    from spark.service import fingerprint

    base = _settings(tmp_path)
    same = fingerprint(base.model_copy(update={"pipeline_user_id": "someone-else"}))
    assert same == fingerprint(base)  # the namespace is the request's, not the service's
    other = fingerprint(base.model_copy(update={"spark_master": "spark://127.0.0.1:7077"}))
    assert other["settings"] != fingerprint(base)["settings"]
    assert other["code"] == fingerprint(base)["code"]
    assert "pipeline-local-secret" not in str(fingerprint(base))
    # Nor a hash of it: /health shows the fingerprint to anyone on the machine.
    resecret = base.model_copy(update={"s3_secret_key": SecretStr("another-secret")})
    assert fingerprint(resecret) == fingerprint(base)


class _FakeContext:
    """Records cancelAllJobs; the warm pass below ends when it is called."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.cancels = 0

    def cancelAllJobs(self) -> None:  # PySpark's name
        self.cancels += 1
        self.cancelled.set()


def _fake_spark(context: _FakeContext | None = None) -> SimpleNamespace:
    return SimpleNamespace(sparkContext=context or _FakeContext())


def test_a_run_request_interrupts_the_background_warm_up_and_is_never_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark import batch
    from spark.service import BatchService

    context = _FakeContext()
    service = BatchService(_settings(tmp_path), spark=_fake_spark(context))  # type: ignore[arg-type]
    passes: list[str] = []
    in_pass = threading.Event()

    def warm_pass(events: int) -> tuple[float, object]:
        passes.append("started")
        in_pass.set()
        if not context.cancelled.wait(timeout=30):
            raise AssertionError("the request never cancelled the warm-up")
        raise RuntimeError("Job cancelled")  # what a cancelled Spark job raises

    cancels_during_run: list[int] = []

    def run(settings: Settings, spark: object, full: bool) -> str:
        assert service.warming is False  # the warm-up unwound before the run got the driver
        cancels_during_run.append(context.cancels)
        return "summary"

    monkeypatch.setattr(service, "_warm_pass", warm_pass)
    monkeypatch.setattr(batch, "run", run)
    warm = threading.Thread(target=service.warm_up_in_background, kwargs={"passes": 3})
    warm.start()
    assert in_pass.wait(timeout=30)
    assert service.run(_run_request(service.settings)) == "summary"
    warm.join(timeout=30)
    assert not warm.is_alive()
    assert passes == ["started"]  # interrupted: no second pass after the request
    assert context.cancels >= 1 and service.warmed is False
    assert service.runs == 1 and not service.lock.locked()
    # Once the run started, nothing cancelled its jobs.
    assert context.cancels == cancels_during_run[0]


def test_the_background_warm_up_does_not_start_while_a_run_holds_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark.service import BatchService

    spark = _fake_spark()
    service = BatchService(_settings(tmp_path), spark=spark)  # type: ignore[arg-type]
    calls: list[int] = []

    def warm_pass(events: int) -> tuple[float, None]:
        calls.append(events)
        return 0.0, None

    monkeypatch.setattr(service, "_warm_pass", warm_pass)
    with service.lock:
        service.warm_up_in_background(passes=2)
    assert calls == [] and service.warmed is False
    service.warm_up_in_background(passes=2, events=10)
    assert calls == [10, 10] and service.warmed is True and service.warm_up_passes == 2
    assert not service.lock.locked() and service.warming is False
