"""Uploads to S3 in a small thread pool, with back-off per bucket and for the whole server.

One object per partition is in flight at a time, so each partition's objects land in offset
order (the resume logic depends on it). A failure only holds back what it concerns: a bucket
the server refuses to write (say, out of volumes) waits alone, while the other namespaces keep
landing; an unreachable server holds everything back until it answers again.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import urllib3
from minio.error import MinioException

from services.s3_sink.batches import Batch, Pending
from services.s3_sink.store import LandingConflict, LandingStore, Stored

log = logging.getLogger(__name__)

Key = tuple[str, int]

#: What a failed S3 call can raise: an S3 error response, or the network under it.
S3_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError, LandingConflict)


def server_unreachable(exc: BaseException) -> bool:
    """True when no HTTP answer came back at all (refused, reset, timed out)."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return not isinstance(exc.reason, urllib3.exceptions.ResponseError)
    if isinstance(exc, MinioException):
        return False
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


class Backoff:
    def __init__(self, first: float = 0.5, most: float = 8.0) -> None:
        self.first, self.most = first, most
        self.delay = first
        self.until = 0.0

    def failed(self, now: float) -> float:
        wait_s = self.delay
        self.until = now + wait_s
        self.delay = min(self.delay * 2, self.most)
        return wait_s

    def succeeded(self) -> None:
        self.delay, self.until = self.first, 0.0

    def waiting(self, now: float) -> bool:
        return now < self.until


@dataclass(frozen=True)
class Outcome:
    key: Key
    item: Pending
    stored: Stored | None
    error: BaseException | None

    @property
    def object_name(self) -> str | None:
        return None if self.stored is None else self.stored.key


class Uploader:
    def __init__(self, store: LandingStore, workers: int = 4) -> None:
        self.store = store
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="s3-put")
        self.inflight: dict[Key, tuple[Future[Stored], Pending]] = {}
        self.server = Backoff()
        self.buckets: dict[str, Backoff] = {}
        #: bucket -> last error, while that bucket is failing.
        self.failing: dict[str, str] = {}
        self.server_error = ""
        self.failures = 0

    # --- what may go out ------------------------------------------------------------------
    def blocked(self, bucket: str, now: float) -> bool:
        backoff = self.buckets.get(bucket)
        return self.server.waiting(now) or (backoff is not None and backoff.waiting(now))

    def can_submit(self, key: Key, now: float) -> bool:
        bucket = self.store.bucket(key[0])
        if key in self.inflight or self.blocked(bucket, now):
            return False
        # A refused write can take seconds (the client retries 5xx answers): let only one
        # failing bucket retry at a time, so the healthy ones always have workers.
        return bucket not in self.failing or not any(
            self.store.bucket(k[0]) in self.failing for k in self.inflight
        )

    def submit(self, key: Key, item: Pending) -> None:
        self.inflight[key] = (self.pool.submit(self.store.put, item), item)

    @property
    def server_down(self) -> bool:
        return bool(self.server_error)

    def next_retry(self, now: float) -> float | None:
        times = [b.until for b in (self.server, *self.buckets.values()) if b.until > now]
        return min(times) if times else None

    # --- what came back -------------------------------------------------------------------
    def collect(self, keys: set[Key] | None = None, timeout: float = 0.0) -> list[Outcome]:
        """Outcomes of finished uploads (of `keys` only, if given), waiting up to `timeout`."""
        chosen = {k: v for k, v in self.inflight.items() if keys is None or k in keys}
        if timeout and chosen:
            wait([f for f, _ in chosen.values()], timeout)
        now = time.monotonic()
        out: list[Outcome] = []
        for key, (future, item) in chosen.items():
            if not future.done():
                continue
            del self.inflight[key]
            if future.cancelled():
                continue  # released before it started: nothing was written
            error = future.exception()
            if error is None:
                self._succeeded(key)
                out.append(Outcome(key, item, future.result(), None))
            elif isinstance(error, S3_FAILURES):
                self._failed(key, error, now)
                out.append(Outcome(key, item, None, error))
            else:
                raise error  # a bug, not an S3 failure: let supervisord restart us loudly
        return out

    def release(self, keys: set[Key], timeout: float) -> list[Outcome]:
        """Stop tracking these partitions' uploads: a queued one is cancelled, a running one
        is waited for (up to `timeout`), so none of them is still writing once they go.

        Returns what finished meanwhile. A PUT still running after `timeout` (the S3 client
        gives up by itself later) is logged: its conditional PUT cannot replace anything.
        """
        chosen = {k: v for k, v in self.inflight.items() if k in keys}
        running = [f for f, _ in chosen.values() if not f.cancel()]
        if running:
            wait(running, timeout)
        out = self.collect(set(chosen), 0.0)
        for key, (_future, item) in chosen.items():
            if self.inflight.pop(key, None) is not None:
                log.warning(
                    "upload of %s[%d] from offset %d still running after %.0f s: abandoned "
                    "(it cannot replace an object; the next owner resumes after what landed)",
                    *key,
                    item.start_offset if isinstance(item, Batch) else item.offset,
                    timeout,
                )
        return out

    def _succeeded(self, key: Key) -> None:
        bucket = self.store.bucket(key[0])
        if self.server_error:
            log.info("S3 answers again: landing resumed")
            self.server_error = ""
        self.server.succeeded()
        if bucket in self.failing:
            log.info("bucket %s accepts writes again", bucket)
            del self.failing[bucket]
        backoff = self.buckets.get(bucket)
        if backoff is not None:
            backoff.succeeded()

    def _failed(self, key: Key, error: BaseException, now: float) -> None:
        self.failures += 1
        bucket = self.store.bucket(key[0])
        if server_unreachable(error):
            if not self.server.waiting(now):  # one back-off step per outage round, not per upload
                wait_s = self.server.failed(now)
                log.warning(
                    "S3 unreachable at %s (S3_ENDPOINT): %s; retrying in %.1f s, nothing committed",
                    self.store.endpoint,
                    error,
                    wait_s,
                )
            self.server_error = str(error)
            return
        backoff = self.buckets.setdefault(bucket, Backoff(first=1.0, most=60.0))
        wait_s = backoff.failed(now)
        self.failing[bucket] = str(error)
        log.warning(
            "S3 refused a write to bucket %s: %s; retrying that bucket in %.1f s, others go on",
            bucket,
            error,
            wait_s,
        )

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
