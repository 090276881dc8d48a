"""One streaming job per namespace: a lease object in the namespace's bucket.

Two jobs on one namespace would run two queries per checkpoint and write the same Delta
tables; Spark does not stop that across processes. The job takes the lease before Spark
starts and renews it every few seconds:

    s3://<bucket>/checkpoints/_job_lease.json   {"token", "host", "pid", "started_at", ...}

It is created with a conditional PUT (`If-None-Match: *`) and renewed or taken over with
`If-Match: <ETag>`, so of two jobs starting at once exactly one wins. A crashed job cannot
hold it forever: a lease not renewed for TTL_S seconds is free, and one held by a process
of this host that no longer runs is free at once (the usual case: a killed `make stream`
started again). Times are wall-clock epoch seconds, so hosts sharing a bucket need clocks
within a few seconds of each other.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from services.clients import clients_for
from services.settings import Settings
from spark.streaming.layout import CHECKPOINT_PREFIX

log = logging.getLogger("spark.streaming")

LEASE_KEY = f"{CHECKPOINT_PREFIX}/_job_lease.json"
TTL_S = 30.0
RENEW_S = 5.0
_TAKEN = "PreconditionFailed"
_S3_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)


class LeaseHeld(RuntimeError):
    """Another streaming job holds the namespace; the message names it and the fix."""


@dataclass(frozen=True)
class Holder:
    token: str
    host: str
    pid: int
    started_at: float
    renewed_at: float

    @property
    def expires_at(self) -> float:
        return self.renewed_at + TTL_S


def process_gone(pid: int) -> bool:
    """True if no process `pid` runs here, or it is not a streaming job (a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"spark.streaming" not in cmdline.read_bytes()
    except OSError:
        return False  # no /proc (not Linux): trust that it runs


def is_stale(holder: Holder, now: float, host: str, gone: Callable[[int], bool]) -> bool:
    """A lease nobody holds any more: not renewed in time, or its process here is gone."""
    return holder.expires_at <= now or (holder.host == host and gone(holder.pid))


def describe(holder: Holder, bucket: str, now: float) -> str:
    started = time.strftime("%H:%M:%S UTC", time.gmtime(holder.started_at))
    return (
        f"pid {holder.pid} on {holder.host}, running since {started}, last renewed "
        f"{max(0.0, now - holder.renewed_at):.0f} s ago (s3://{bucket}/{LEASE_KEY})"
    )


class NamespaceLease:
    """Take with `acquire()`, keep with `start_renewing()`, give back with `release()`."""

    def __init__(
        self,
        s3: Minio,
        bucket: str,
        namespace: str,
        *,
        clock: Callable[[], float] = time.time,
        gone: Callable[[int], bool] = process_gone,
    ) -> None:
        self.s3, self.bucket, self.namespace = s3, bucket, namespace
        self.clock, self.gone = clock, gone
        self.host = socket.gethostname()
        self.token = uuid.uuid4().hex
        self.started_at = clock()
        self.etag: str | None = None
        #: Set when a renewal found someone else's lease: the job must stop.
        self.lost = threading.Event()
        self.lost_reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- taking and giving back -----------------------------------------------------------
    def acquire(self) -> None:
        """Take the lease, or raise LeaseHeld naming the job that holds it."""
        for _ in range(3):  # a holder may release it between our two calls
            if self._put({"If-None-Match": "*"}):
                log.info("took the streaming lease of namespace %s", self.namespace)
                return
            current = self._read()
            if current is None:
                continue
            holder, etag = current
            now = self.clock()
            if not is_stale(holder, now, self.host, self.gone):
                raise LeaseHeld(
                    f"another streaming job is running for namespace {self.namespace}: "
                    f"{describe(holder, self.bucket, now)}. Two jobs would write the same "
                    "Delta tables and checkpoints, so this one stops here. Stop that job "
                    "first (Ctrl-C, or SIGTERM to its pid); if it crashed on another host, "
                    f"its lease frees itself {TTL_S:.0f} s after its last renewal."
                )
            if self._put({"If-Match": f'"{etag}"'}):
                log.warning(
                    "took over the streaming lease of namespace %s from a job that is gone (%s)",
                    self.namespace,
                    describe(holder, self.bucket, now),
                )
                return
        raise LeaseHeld(
            f"the streaming lease of namespace {self.namespace} (s3://{self.bucket}/"
            f"{LEASE_KEY}) keeps changing hands: another job is starting; run this one later"
        )

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(RENEW_S + 15)
        if self.etag is None or self.lost.is_set():
            return
        try:
            current = self._read()
            if current is not None and current[0].token == self.token:
                self.s3.remove_object(self.bucket, LEASE_KEY)
        except _S3_FAILURES as exc:
            log.warning("could not release the streaming lease (it expires by itself): %s", exc)
        self.etag = None

    # --- keeping it -----------------------------------------------------------------------
    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="lease", daemon=True)
        self._thread.start()

    def renew(self) -> None:
        """Extend the lease; sets `lost` if someone else's lease replaced ours."""
        if not self._put({"If-Match": f'"{self.etag}"'}):
            current = self._read()
            who = describe(current[0], self.bucket, self.clock()) if current else "nobody"
            self.lost_reason = (
                f"the streaming lease of namespace {self.namespace} was taken over ({who}), "
                "most likely after this job could not renew it for "
                f"{TTL_S:.0f} s; stopping so that only one job writes the tables"
            )
            self.lost.set()

    def _renew_loop(self) -> None:
        while not self._stop.wait(RENEW_S) and not self.lost.is_set():
            try:
                self.renew()
            except _S3_FAILURES as exc:
                # Kept trying: S3 down also stops the queries, and the lease is ours until
                # another job takes it over after TTL_S.
                log.warning("could not renew the streaming lease: %s (retrying)", exc)

    # --- S3 -------------------------------------------------------------------------------
    def _put(self, condition: dict[str, str]) -> bool:
        """Write our lease under `condition`; False if the condition failed."""
        now = self.clock()
        body = orjson.dumps(
            asdict(Holder(self.token, self.host, os.getpid(), self.started_at, now))
        )
        try:
            # The public put_object() would send the condition as user metadata.
            result = self.s3._put_object(
                self.bucket,
                LEASE_KEY,
                body,
                headers={"Content-Type": "application/json", **condition},
            )
        except S3Error as exc:
            if exc.code in (_TAKEN, "NoSuchKey"):
                return False
            raise
        self.etag = result.etag
        return True

    def _read(self) -> tuple[Holder, str] | None:
        try:
            response = self.s3.get_object(self.bucket, LEASE_KEY)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return None
            raise
        try:
            body = response.read()
            etag = (response.headers.get("ETag") or "").strip('"')
        finally:
            response.close()
            response.release_conn()
        try:
            return Holder(**orjson.loads(body)), etag
        except (orjson.JSONDecodeError, TypeError):
            # Not a lease this code wrote: treat it as expired, so it can be taken over.
            return Holder("?", "?", 0, 0.0, 0.0), etag


def lease_for(settings: Settings) -> NamespaceLease:
    return NamespaceLease(clients_for(settings).s3(), settings.bucket, settings.pipeline_user_id)
