"""The local stack, against the real servers: each answers its real client."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid

import pytest
import requests
from sqlalchemy import text

from services.clients import clients_for
from services.settings import PROJECT_ROOT, Settings
from services.stack import lifecycle
from services.stack.definitions import all_services
from services.stack.supervisor import Supervisor

pytestmark = pytest.mark.integration


def test_mysql_answers_sqlalchemy_and_pymysql(stack: Settings) -> None:
    engine = clients_for(stack).mysql_engine(admin=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
        db = conn.execute(text("SELECT DATABASE()")).scalar()
    engine.dispose()
    assert db == stack.mysql_database


def test_mysql_listens_on_loopback_only(stack: Settings) -> None:
    engine = clients_for(stack).mysql_engine(admin=True)
    with engine.connect() as conn:
        bind = conn.execute(text("SELECT @@bind_address")).scalar()
    engine.dispose()
    assert bind == "127.0.0.1"


def test_kafka_creates_and_lists_topics(stack: Settings) -> None:
    from services.stack import bootstrap

    admin = clients_for(stack).kafka_admin()
    name = f"stack-test-{uuid.uuid4().hex[:8]}"
    # Created the way `make up` creates topics: it returns once the topic is visible.
    assert bootstrap.kafka_topics(stack, [name]) == [name]
    try:
        md = admin.list_topics(timeout=10)
        assert name in md.topics
        assert [b.host for b in md.brokers.values()] == ["127.0.0.1"]
    finally:
        admin.delete_topics([name])[name].result(timeout=20)


def test_kafka_does_not_auto_create_topics(stack: Settings) -> None:
    producer = clients_for(stack).kafka_producer(**{"message.timeout.ms": 3000})
    errors: list[object] = []
    name = f"never-created-{uuid.uuid4().hex[:8]}"
    producer.produce(name, b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(10)
    assert errors and errors[0] is not None
    assert name not in clients_for(stack).kafka_admin().list_topics(timeout=10).topics


def test_connect_rest_api(stack: Settings) -> None:
    root = requests.get(stack.kafka_connect_url, timeout=5).json()
    assert root["version"].startswith("4.")
    assert requests.get(stack.kafka_connect_url + "/connectors", timeout=5).status_code == 200
    # Beside our S3 sink connector, every worker loads the built-in converters; their
    # absence means a broken classpath.
    plugins = requests.get(
        stack.kafka_connect_url + "/connector-plugins",
        params={"connectorsOnly": "false"},
        timeout=5,
    ).json()
    classes = {p["class"] for p in plugins}
    assert "org.apache.kafka.connect.json.JsonConverter" in classes, sorted(classes)[:10]


def test_s3_put_get_list(ns: Settings) -> None:
    s3 = clients_for(ns).s3()
    assert s3.bucket_exists(ns.bucket)
    body = b'{"hello": "s3"}\n'
    s3.put_object(ns.bucket, "probe/hello.json", io.BytesIO(body), len(body))
    assert s3.get_object(ns.bucket, "probe/hello.json").read() == body
    names = [o.object_name for o in s3.list_objects(ns.bucket, prefix="probe/", recursive=True)]
    assert names == ["probe/hello.json"]


def test_s3_refuses_wrong_credentials(stack: Settings) -> None:
    from minio.error import S3Error

    bad = Settings.model_validate({**stack.model_dump(), "s3_secret_key": "not-the-secret"})
    with pytest.raises(S3Error):
        clients_for(bad).s3().list_buckets()


def test_namespace_topics_and_bucket_exist(ns: Settings) -> None:
    topics = clients_for(ns).kafka_admin().list_topics(timeout=10).topics
    for name in ns.topics + ns.streaming_topics:
        assert name in topics
    assert clients_for(ns).s3().bucket_exists(ns.bucket)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.stack", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=600,
    )


def _service_verdicts(out: str) -> dict[str, str]:
    """`up` prints one line per service: `  ok  name ...` (left alone), `  up  name ...`
    (started) or `  !!  name ...` (restarted)."""
    verdicts = {}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("  ") and len(words) >= 2 and words[0] in ("ok", "up", "!!"):
            verdicts[words[1].rstrip(":")] = words[0]
    return verdicts


def test_up_is_idempotent_and_leaves_healthy_services_alone(stack: Settings) -> None:
    first = _cli("up")
    assert first.returncode == 0, first.stderr
    sup = Supervisor(stack)
    names = [svc.name for svc in all_services(stack)]
    pids = {name: sup.info(name)["pid"] for name in names}
    second = _cli("up")
    assert second.returncode == 0, second.stderr
    assert "stack healthy" in second.stdout
    verdicts = _service_verdicts(second.stdout)
    assert verdicts == dict.fromkeys(names, "ok"), f"a healthy service was (re)started: {verdicts}"
    assert {name: sup.info(name)["pid"] for name in names} == pids, "a process was replaced"


def test_new_namespace_sits_beside_the_others(stack: Settings) -> None:
    import os

    from tests.support.namespaces import drop_namespace

    uid = f"side{uuid.uuid4().hex[:8]}"
    try:
        out = _cli("up", env={**os.environ, "PIPELINE_USER_ID": uid})
        assert out.returncode == 0, out.stderr
        topics = clients_for(stack).kafka_admin().list_topics(timeout=10).topics
        assert f"{uid}.pin" in topics and f"{stack.pipeline_user_id}.pin" in topics
        assert clients_for(stack).s3().bucket_exists(f"user-{uid}-bucket")
    finally:
        drop_namespace(stack.model_copy(update={"pipeline_user_id": uid}))


def test_status_detects_a_killed_service_and_up_restarts_it(stack: Settings) -> None:
    from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

    def connect_up() -> bool:
        return next(r for r in lifecycle.status(stack) if r.name == "connect").up

    # Polled, bounded: supervisord may restart it quickly, so "down" is seen only briefly.
    still_up_after_kill = retry(
        stop=stop_after_delay(30),
        wait=wait_fixed(0.2),
        retry=retry_if_result(bool),
        retry_error_callback=lambda state: True,
    )(connect_up)

    sup = Supervisor(stack)
    killed = sup.kill("connect")
    assert killed, "Connect was not running, so nothing was killed"
    assert not still_up_after_kill(), "status did not notice the killed Connect worker"
    status = _cli("status")
    assert status.returncode != 0 and "down" in status.stdout
    up = _cli("up")
    assert up.returncode == 0, up.stderr
    assert next(r for r in lifecycle.status(stack) if r.name == "connect").up
    assert sup.info("connect")["pid"] not in (0, killed), "Connect was not restarted"


def test_status_table_lists_every_service(stack: Settings) -> None:
    out = _cli("status")
    for name in ("mysql", "kafka", "connect", "s3", "spark-batch"):
        assert name in out.stdout
    assert "127.0.0.1:9092" in out.stdout


def _state_snapshot(stack: Settings) -> dict[str, tuple[int, int]]:
    """The rendered configuration (mtime and size of everything under conf/) and the names
    directly under the state folder and its logs folder. Not the servers' data or scratch
    folders: running servers (and other tests) write those by themselves."""
    from services.stack.configs import conf_dir

    conf = {
        str(p): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in conf_dir(stack).rglob("*")
        if p.is_file()
    }
    names = {str(p): (0, 0) for d in (stack.state_dir, stack.logs_dir) for p in d.iterdir()}
    return conf | names


def test_status_and_logs_leave_the_state_folder_untouched(stack: Settings) -> None:
    before = _state_snapshot(stack)
    for command in ("status", "logs"):
        out = _cli(command)
        # status exits 1 when a service is down (another test may have stopped one).
        assert out.returncode in (0, 1) and "kafka" in out.stdout, (command, out.stderr)
    after = _state_snapshot(stack)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"written by status/logs: {changed}"


def test_drop_namespace_removes_topics_and_bucket(stack: Settings) -> None:
    from services.stack import bootstrap
    from tests.support.namespaces import fresh_namespace

    settings = fresh_namespace(stack, prefix="drop")
    s3 = clients_for(settings).s3()
    s3.put_object(settings.bucket, "a/b.json", io.BytesIO(b"{}"), 2)
    bootstrap.drop_namespace(settings)
    topics = clients_for(stack).kafka_admin().list_topics(timeout=10).topics
    assert not any(t in topics for t in settings.topics + settings.streaming_topics)
    assert not s3.bucket_exists(settings.bucket)
