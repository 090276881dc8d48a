"""The warm batch service: one long-lived Spark driver that runs the batch job on request.

    python -m spark.service                 # serve on 127.0.0.1:SPARK_SERVICE_PORT (8094)
    python -m spark.service --port 8194     # another port (the tests' private services)

A batch run in a fresh process spends most of its time starting the JVM and compiling Spark's
code (at 1,000,000 events the C2 compiler alone used 35-60 s of the two cores' CPU). This
service keeps one driver up between runs, as a Databricks cluster stays up between jobs, so
from the second run on the job runs compiled code. `make batch` and `make demo` submit their
run here when it answers (`spark.batch`); `SPARK_SERVICE=0` runs the job in the caller's
process instead. Under the native stack it is a supervisord program started on first use and
stopped by `make down`; it exits by itself after `--idle-minutes` without a run.

HTTP on 127.0.0.1 only, JSON both ways:

    GET  /health    {"status": "ready", "runs": N, "s3_endpoint": ..., "warmed": bool,
                     "warming": bool, "busy": bool, "fingerprint": {...}}
    POST /runs      {"user_id": ..., "bucket": ..., "topics": {...}, "full": false}
                    -> 200 the run summary (`spark.job.RunSummary`), 422 {"error": ...}
                       when the job refuses (no landed events, no bucket), 400 for a bad
                       request, 500 with the error's text for anything else
    POST /warm-up   one full run over 11,153 generated events in a scratch bucket (compiles
                    the job's code paths before the first real run; the benchmark asks
                    for it)

Runs are serial: one driver, one job at a time; a second request waits for the first.
With `--warm-up` (the supervised service `make up` starts) it warms itself up as soon as it
serves, in small passes a run request interrupts.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from minio.deleteobjects import DeleteObject
from pydantic import SecretStr
from pyspark.sql import SparkSession

from services.clients import clients_for
from services.contracts.keys import object_key
from services.contracts.lines import encode_row
from services.runner.child import ChildProcess
from services.runner.wait import NotReady
from services.settings import TABLES, Settings, SettingsError, load_settings
from spark.job import BatchError, RunSummary

#: Events the warm-up generates: `make demo`'s default size, so every code path of the job
#: runs often enough for the JIT to compile it.
WARM_UP_EVENTS = 11_153
#: The namespace whose bucket holds a warm-up's objects while it runs (removed after),
#: one per service port: a test's private service never touches the stack's.
WARM_UP_NAMESPACE = "spark-warm-up-{port}"
#: How long a stopping service waits for an interrupted warm-up to remove its objects.
CLOSE_SECONDS = 20.0
#: Lines per warm-up object (the sink's default flush size).
WARM_UP_PER_OBJECT = 1_000
#: The warm-up a supervised service runs by itself as soon as it serves (`--warm-up`):
#: passes of a few events, because per-query work (planning, code generation, Delta's
#: log, S3A) is what the JIT has to compile, not the rows. `make bench` (demo section, at
#: c1ae852): `make demo`'s batch stage took 24.2 s on a service that had just started and
#: 10.1 s on one that had done these passes. A run request interrupts them.
BACKGROUND_WARM_UP_EVENTS = 1_000
BACKGROUND_WARM_UP_PASSES = 3
#: How often a waiting run request cancels the background warm-up's Spark jobs again
#: (one cancel can fall between two of its jobs).
INTERRUPT_EVERY_SECONDS = 0.25
#: Largest request body accepted (a run request is a few hundred bytes).
MAX_BODY = 64 * 1024


class RunRequestError(ValueError):
    """A run request the service cannot take; the message says what to send instead."""


def namespace_settings(base: Settings, body: Any) -> tuple[Settings, bool]:
    """The settings of the namespace a request names, and whether it asks for a full run.

    The request repeats the bucket and topics its sender computed: a sender with other
    settings (another bucket template, another stack) is refused, not silently pointed at
    this service's idea of its namespace.
    """
    if not isinstance(body, dict):
        raise RunRequestError('send a JSON object: {"user_id": ..., "bucket": ..., "topics": ...}')
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise RunRequestError('"user_id" (the namespace, PIPELINE_USER_ID) is missing')
    full = body.get("full", False)
    if not isinstance(full, bool):
        raise RunRequestError('"full" must be true or false')
    try:
        # model_copy skips validators: check the id as PIPELINE_USER_ID would be checked.
        Settings._check_user_id(user_id)
        settings = base.model_copy(update={"pipeline_user_id": user_id})
        bucket = settings.bucket
        topics = {t: settings.topic(t) for t in TABLES}
    except (SettingsError, ValueError) as exc:
        raise RunRequestError(f"namespace {user_id!r}: {exc}") from None
    if body.get("bucket") != bucket or body.get("topics") != topics:
        raise RunRequestError(
            f"this service reads namespace {user_id!r} as bucket {bucket} and topics "
            f"{', '.join(topics.values())}, the request names bucket {body.get('bucket')} and "
            f"topics {body.get('topics')}: the service runs with other settings; restart it "
            "(`make down`, then `make batch`) or run with SPARK_SERVICE=0"
        )
    return settings, full


def write_warm_up_events(root: Path, settings: Settings, size: int = WARM_UP_EVENTS) -> str:
    """`size` generated events in the sink's layout under `root`; returns its file:// URL."""
    from seed_data.generate import events

    outs: dict[str, Any] = {}
    counts = dict.fromkeys(TABLES, 0)
    try:
        for event in events(size=size):
            for table, row in zip(TABLES, (event.pin, event.geo, event.user), strict=True):
                if counts[table] % WARM_UP_PER_OBJECT == 0:
                    if table in outs:
                        outs[table].close()
                    path = root / object_key(settings.topic(table), 0, counts[table])
                    path.parent.mkdir(parents=True, exist_ok=True)
                    outs[table] = path.open("wb")
                outs[table].write(encode_row(row) + b"\n")
                counts[table] += 1
    finally:
        for out in outs.values():
            out.close()
    return root.resolve().as_uri()


#: What a caller's run depends on besides the request: a service started with other values
#: (or older code) is not used for it (`spark.batch.ensure_service`).
FINGERPRINT_SETTINGS = (
    "spark_master",
    "spark_driver_memory",
    "s3_endpoint",
    "s3_access_key",
    "s3_region",
)
#: The code a run executes in the service: an edit or a pull makes a new fingerprint.
FINGERPRINT_CODE = ("spark", "services/settings.py", "services/contracts", "services/clients")


def fingerprint(settings: Settings) -> dict[str, str]:
    """Hashes of the settings and code a run depends on. Not the S3 secret: /health answers
    anyone on the machine, and a short secret's hash could be guessed back."""
    from services.settings import PROJECT_ROOT

    values = []
    for name in FINGERPRINT_SETTINGS:
        value: Any = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        values.append(f"{name}={value}")
    code = hashlib.sha256()
    for entry in FINGERPRINT_CODE:
        path = PROJECT_ROOT / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                code.update(file.relative_to(PROJECT_ROOT).as_posix().encode())
                code.update(file.read_bytes())
    return {
        "settings": hashlib.sha256("\n".join(values).encode()).hexdigest()[:16],
        "code": code.hexdigest()[:16],
    }


class ServiceClosing(RuntimeError):
    """The service is stopping (idle): the caller runs the job elsewhere."""


class BatchService:
    """The session, the lock that keeps runs serial, and what /health reports."""

    def __init__(self, settings: Settings, spark: SparkSession) -> None:
        self.settings = settings
        self.spark = spark
        self.lock = threading.Lock()
        self.runs = 0
        self.warmed = False
        #: Guards `warming` and `waiting`: the background warm-up clears `warming` under it
        #: before it releases `lock`, so a request that sees `warming` set and cancels every
        #: Spark job under it can only cancel the warm-up's, never a run's.
        self._state = threading.Lock()
        self.warming = False
        self.waiting = 0
        self.warm_up_passes = 0
        self.warm_up_thread: threading.Thread | None = None
        self.started = time.monotonic()
        self.last_used = time.monotonic()
        self.closing = False
        self.fingerprint = fingerprint(settings)

    def health(self) -> dict[str, Any]:
        return {
            "status": "ready",
            "runs": self.runs,
            "busy": self.lock.locked(),
            "warmed": self.warmed,
            "warming": self.warming,
            "s3_endpoint": self.settings.s3_endpoint,
            "fingerprint": self.fingerprint,
            "uptime_seconds": round(time.monotonic() - self.started, 1),
        }

    def stop_if_idle(self, minutes: float) -> bool:
        """True (and closing from now on) when nothing ran for `minutes` and nothing runs."""
        if time.monotonic() - self.last_used <= minutes * 60:
            return False
        if not self.lock.acquire(blocking=False):
            return False  # a run holds the driver: not idle
        try:
            self.closing = True  # a request waiting for the lock now gets 503, not a run
        finally:
            self.lock.release()
        return True

    def run(self, body: Any) -> RunSummary:
        from spark import batch

        settings, full = namespace_settings(self.settings, body)
        with self._driver():
            if self.closing:
                raise ServiceClosing("the batch service is stopping (idle)")
            try:
                return batch.run(settings, self.spark, full=full)
            finally:
                self.runs += 1
                self.last_used = time.monotonic()

    @contextlib.contextmanager
    def _driver(self) -> Iterator[None]:
        """Hold the driver for a request; a background warm-up holding it is interrupted."""
        with self._state:
            self.waiting += 1
        try:
            while not self.lock.acquire(timeout=INTERRUPT_EVERY_SECONDS):
                self._interrupt_warm_up()
        finally:
            with self._state:
                self.waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

    def _interrupt_warm_up(self) -> None:
        with self._state:
            if self.warming:
                self.spark.sparkContext.cancelAllJobs()

    def start_warm_up(self) -> None:
        self.warm_up_thread = threading.Thread(
            target=self.warm_up_in_background, name="warm-up", daemon=True
        )
        self.warm_up_thread.start()

    def close(self) -> None:
        """On TERM: no new pass starts, a running one is cancelled (its JVM may be gone
        already: supervisord signals the whole group) and given time to remove its objects."""
        with self._state:
            self.closing = True
            warming = self.warming
        if warming:
            with contextlib.suppress(Exception):
                self._interrupt_warm_up()
        if self.warm_up_thread is not None:
            self.warm_up_thread.join(CLOSE_SECONDS)

    def warm_up_in_background(
        self, passes: int = BACKGROUND_WARM_UP_PASSES, events: int = BACKGROUND_WARM_UP_EVENTS
    ) -> None:
        """Small warm-up passes until `passes` are done or a request wants the driver.

        Runs in its own thread. A request that arrives mid-pass cancels the pass's Spark
        jobs (`_driver`) and waits only for the pass to unwind, not to finish.
        """
        for number in range(1, passes + 1):
            with self._state:
                if self.waiting or self.closing or not self.lock.acquire(blocking=False):
                    return
                self.warming = True
            try:
                seconds, _summary = self._warm_pass(events)
                self.warm_up_passes = number
                print(f"warm-up pass {number}: {seconds:.1f} s", flush=True)
                self.warmed = number == passes
            except Exception as exc:  # cancelled by a request, or a real failure: say which
                with self._state:
                    asked, closing = self.waiting > 0, self.closing
                why = (
                    "a run request came"
                    if asked
                    else "the service is stopping"
                    if closing
                    else f"{type(exc).__name__}: {exc}"
                )
                print(f"warm-up stopped ({why})", file=sys.stderr, flush=True)
                return
            finally:
                with self._state:
                    self.warming = False
                    self.lock.release()

    def warm_up(self) -> dict[str, Any]:
        """One full run over generated events in a scratch bucket, then all of it goes."""
        with self._driver():
            if self.closing:
                raise ServiceClosing("the batch service is stopping (idle)")
            seconds, summary = self._warm_pass(WARM_UP_EVENTS)
            self.warmed = True
            self.last_used = time.monotonic()
            return {
                "events": WARM_UP_EVENTS,
                "seconds": round(seconds, 1),
                "cleaned_rows": summary.cleaned_rows,
            }

    def _warm_pass(self, events: int) -> tuple[float, RunSummary]:
        """One full run over `events` generated events in a scratch bucket of the S3 store,
        all of it deleted after; the caller holds the driver. Returns its seconds and summary.

        On the S3 store rather than local disk: after warm-ups on local files the first real
        run was still clearly slower than the next, because S3A, the AWS SDK and Delta's S3
        log store had not run yet.
        """
        from spark.job import Files, run_job

        start = time.perf_counter()
        warm = self.warm_up_settings()
        scratch = Path(tempfile.mkdtemp(prefix="spark-warm-up-", dir=self.settings.run_dir))
        root = f"s3a://{warm.bucket}/{scratch.name}"
        try:
            remove_warm_up_bucket(warm)  # what a killed predecessor on this port left
            clients_for(warm).s3().make_bucket(warm.bucket)
            Files(self.spark).copy_from_local(write_warm_up_events(scratch, warm, events), root)
            summary = run_job(
                self.spark,
                source=root,
                target=root,
                topics={t: warm.topic(t) for t in TABLES},
                full=True,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            # Through the S3 client, not Spark: after a TERM the JVM may be gone already.
            remove_warm_up_bucket(warm)
        return time.perf_counter() - start, summary

    def warm_up_settings(self) -> Settings:
        namespace = WARM_UP_NAMESPACE.format(port=self.settings.spark_service_port)
        return self.settings.model_copy(update={"pipeline_user_id": namespace})


def remove_warm_up_bucket(warm: Settings) -> None:
    """The warm-up bucket and every object in it, if it exists."""
    s3 = clients_for(warm).s3()
    if not s3.bucket_exists(warm.bucket):
        return
    names = [DeleteObject(o.object_name) for o in s3.list_objects(warm.bucket, recursive=True)]
    for error in s3.remove_objects(warm.bucket, names):
        raise RuntimeError(f"could not remove {error.name} from {warm.bucket}: {error.message}")
    s3.remove_bucket(warm.bucket)


def _handler(service: BatchService, port: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            print(f"{self.address_string()} {format % args}", file=sys.stderr, flush=True)

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refused(self) -> str | None:
            """Why a request from a browser (another site's page, DNS rebinding) is refused:
            only local programs naming this port may use the service."""
            host = self.headers.get("Host", "")
            if host not in {f"127.0.0.1:{port}", f"localhost:{port}"}:
                return f"Host {host!r} is not this service (127.0.0.1:{port})"
            if self.headers.get("Origin") is not None:
                return "requests from web pages (with an Origin header) are not served"
            return None

        def _error(self, status: int, message: str) -> None:
            self.close_connection = True  # whatever is left of the request is not read
            self._reply(status, {"error": message})

        def do_GET(self) -> None:
            refused = self._refused()
            if refused:
                self._error(403, refused)
            elif self.path == "/health":
                self._reply(200, service.health())
            else:
                self._reply(404, {"error": f"no {self.path}: GET /health, POST /runs"})

        def do_POST(self) -> None:
            refused = self._refused()
            if refused:
                self._error(403, refused)
                return
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                self._error(415, "send the body as Content-Type: application/json")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._error(413, f"Content-Length must be 0 to {MAX_BODY} bytes")
                return
            raw = self.rfile.read(length) if length else b""
            actions: dict[str, Callable[[Any], Any]] = {
                "/runs": lambda body: asdict(service.run(body)),
                "/warm-up": lambda _body: service.warm_up(),
            }
            action = actions.get(self.path)
            if action is None:
                self._reply(404, {"error": f"no {self.path}: POST /runs or /warm-up"})
                return
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                self._error(400, f"the body is not JSON ({exc})")
                return
            try:
                status, payload = 200, action(body)
            except RunRequestError as exc:
                status, payload = 400, {"error": str(exc)}
            except ServiceClosing as exc:
                status, payload = 503, {"error": str(exc)}
            except BatchError as exc:
                status, payload = 422, {"error": str(exc), "type": type(exc).__name__}
            except Exception as exc:  # the caller gets the error; the service stays up
                print(f"run failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                status = 500
                payload = {"error": f"{type(exc).__name__}: {str(exc)[:2000]}"}
            try:
                self._reply(status, payload)
            except OSError:  # the caller left (Ctrl-C): its run is done all the same
                self.close_connection = True

    return Handler


def _stop_when_idle(server: ThreadingHTTPServer, service: BatchService, minutes: float) -> None:
    # The driver holds up to SPARK_DRIVER_MEMORY of a laptop's memory: give it back when
    # nobody has run anything for a while. The next `make batch` starts the service again.
    while True:
        time.sleep(min(30.0, minutes * 60))
        if service.stop_if_idle(minutes):
            print(f"no run for {minutes:g} min: stopping", file=sys.stderr, flush=True)
            server.shutdown()
            return


def serve(settings: Settings, port: int, idle_minutes: float, warm_up: bool = False) -> None:
    from spark.session import build_session

    # Long-lived: the optimising JIT pays for itself from the second run on.
    spark = build_session(
        settings,
        "pinterest-batch-service",
        quick_jit=False,
        long_lived=True,
    )
    service = BatchService(settings.model_copy(update={"spark_service_port": port}), spark)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(service, port))
    if idle_minutes > 0:
        threading.Thread(
            target=_stop_when_idle, args=(server, service, idle_minutes), daemon=True
        ).start()

    def stop(_signum: int, _frame: object) -> None:
        # supervisord and `make down` send TERM: leave serve_forever, stop Spark, exit 0.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"batch service on http://127.0.0.1:{port} (Spark {spark.version})", flush=True)
    if warm_up:
        service.start_warm_up()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        service.close()
        with contextlib.suppress(Exception):  # the JVM may already have had the TERM too
            spark.stop()


def private_service(
    settings: Settings, port: int, *, name: str = "spark-batch", warm_up: bool = False
) -> ChildProcess:
    """A service of its own on `port` as a child process (the benchmark's, the tests'),
    outside the stack's supervisor; never exits on idle. Start it with `.start()`."""
    from spark.batch import service_health

    on_port = settings.model_copy(update={"spark_service_port": port})

    def ready() -> str:
        health = service_health(on_port)
        if health is None:
            raise NotReady(f"no answer on 127.0.0.1:{port}/health yet")
        return f"{health['runs']} runs"

    return ChildProcess(
        name,
        [sys.executable, "-m", "spark.service", "--port", str(port), "--idle-minutes", "0"]
        + (["--warm-up"] if warm_up else []),
        log=settings.logs_dir / f"{name}-{port}.log",
        env={"PIPELINE_USER_ID": settings.pipeline_user_id},
        probe=ready,
        start_timeout=120.0,
        stop_timeout=30.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spark.service",
        description="Keep one Spark driver up and run the batch job on request (see the module).",
    )
    parser.add_argument("--port", type=int, help="default: SPARK_SERVICE_PORT (8094)")
    parser.add_argument(
        "--idle-minutes",
        type=float,
        help="exit after this long without a run; 0 never (default: SPARK_SERVICE_IDLE_MINUTES)",
    )
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="once serving, run the job a few times on generated events in a scratch bucket "
        "so the first real run finds compiled code; a run request interrupts them",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    port = args.port or settings.spark_service_port
    idle = settings.spark_service_idle_minutes if args.idle_minutes is None else args.idle_minutes
    try:
        serve(settings, port, idle, warm_up=args.warm_up)
    except OSError as exc:
        print(
            f"error: cannot serve on 127.0.0.1:{port} ({exc}): set SPARK_SERVICE_PORT",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
