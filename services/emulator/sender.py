"""Post records to the REST proxy (or the legacy API), at least once.

Retried, with exponential backoff and jitter (never sooner than the server's `Retry-After`):
connection errors, timeouts, HTTP 5xx and 429, and records whose per-record `error_code`
is 50003 (the proxy's "retriable Kafka error"). Only the failed records of a batch are
sent again, so a partial failure does not duplicate the records the broker already has.
Any other 4xx, or a permanent per-record error, stops the run: retrying cannot fix a bug
or a misconfiguration.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import orjson
import requests

from services.clients import clients_for
from services.emulator.errors import DeliveryError, EmulatorError
from services.settings import Settings

log = logging.getLogger(__name__)

JSON_V2 = "application/vnd.kafka.json.v2+json"
RETRIABLE_RECORD_ERROR = 50003
#: (connect, read) seconds; the proxy itself answers within REST_PROXY_PRODUCE_TIMEOUT_S.
HTTP_TIMEOUT = (5.0, 60.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; `max_retries=None` retries forever."""

    max_retries: int | None = None
    base_s: float = 0.1
    cap_s: float = 5.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**attempt)
        # Jitter spreads clients that failed together so they do not retry together.
        return random.uniform(ceiling / 2, ceiling)

    def exhausted(self, attempt: int) -> bool:
        return self.max_retries is not None and attempt >= self.max_retries


def check_url(url: str, setting: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise EmulatorError(
            f"{setting}={url!r} is not a full http(s) URL: write the scheme and host, e.g. "
            f"{setting}=http://127.0.0.1:8082 (for AWS, the API Gateway invoke URL with its "
            "stage, e.g. https://abc.execute-api.us-east-1.amazonaws.com/prod)"
        )
    return url.rstrip("/")


#: The longest `Retry-After` honoured; a larger (or broken) value is clamped to it.
MAX_RETRY_AFTER_S = 60.0


def retry_after_seconds(header: str | None) -> float | None:
    """A `Retry-After` header (seconds or an HTTP date) as seconds to wait, or None."""
    if not header:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class RetryLater(Exception):
    """This attempt failed in a way that may succeed later (after `retry_after` s if the
    server said so)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Sender:
    """Thread-safe: each thread gets its own keep-alive session."""

    def __init__(
        self,
        settings: Settings,
        target: str,
        policy: RetryPolicy,
        on_retry: Callable[[int], None] | None = None,
    ) -> None:
        # The endpoint and its HTTP session come from the client factory: on AWS the URL is
        # API Gateway's invoke URL (checked by the AWS profile) and TLS is verified there.
        self.clients = clients_for(settings)
        if target == "rest":
            self.base = check_url(self.clients.rest_proxy_url(), "REST_PROXY_URL")
            self.setting = "REST_PROXY_URL"
        elif target == "legacy":
            self.base = check_url(self.clients.legacy_api_url(), "LEGACY_API_URL")
            self.setting = "LEGACY_API_URL"
        else:
            raise EmulatorError(f"--target {target!r}: use rest or legacy")
        self.settings = settings
        self.target = target
        self.policy = policy
        self.on_retry = on_retry or (lambda _n: None)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Set to abandon retry loops (Ctrl-C); sleeps wait on it so they end at once.
        self.stopping = threading.Event()
        self.records_sent = 0
        self.retries = 0

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self.clients.rest_session()
            self._local.session = session
        return session

    # --- preflight -----------------------------------------------------------------------
    def preflight(self, topics: list[str]) -> None:
        """Fail fast, with the setting to fix, if the endpoint or a topic is missing."""
        for topic in topics if self.target == "rest" else [""]:
            url = f"{self.base}/topics/{topic}" if topic else f"{self.base}/"
            try:
                response = self._session().get(url, timeout=HTTP_TIMEOUT)
            except requests.RequestException as exc:
                # The legacy API is a local stand-in only, with its own setting.
                fix = (
                    self.clients.setup_hint("rest")
                    if self.target == "rest"
                    else f"start it (`make up`) or fix {self.setting}"
                )
                raise EmulatorError(
                    f"cannot reach the {self.target} endpoint at {self.base} "
                    f"({type(exc).__name__}): {fix}"
                ) from None
            if topic and response.status_code == 404:
                raise EmulatorError(
                    f"topic {topic!r} does not exist behind {self.base}: "
                    f"{self.clients.setup_hint('topics')}"
                )

    # --- sending -------------------------------------------------------------------------
    def url_for(self, table: str, topic: str) -> str:
        # Never drop the base URL's path: on AWS it carries the API Gateway stage.
        return f"{self.base}/topics/{topic}" if self.target == "rest" else f"{self.base}/{table}/"

    def send(self, table: str, topic: str, rows: list[dict[str, Any]]) -> int:
        """Deliver every row; returns how many were acknowledged (all of them) or raises."""
        if self.target == "legacy":
            for row in rows:
                self._deliver(table, topic, [row])
            return len(rows)
        return self._deliver(table, topic, rows)

    def _deliver(self, table: str, topic: str, rows: list[dict[str, Any]]) -> int:
        url = self.url_for(table, topic)
        self.with_retries(
            topic,
            rows,
            lambda pending: self._post(url, topic, pending),
            "records got a retriable Kafka error (50003)",
        )
        return len(rows)

    def with_retries(
        self,
        topic: str,
        rows: list[dict[str, Any]],
        call: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        pending_reason: str,
    ) -> None:
        """Call `call(pending)` until it returns no rows still to send, backing off between
        attempts and never sooner than the server's `Retry-After` (every target's loop)."""
        pending = rows
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                pending = call(pending)
            except RetryLater as why:
                reason = str(why)
                retry_after = why.retry_after
            else:
                if not pending:
                    return
                reason = f"{len(pending)} {pending_reason}"
            if self.policy.exhausted(attempt) or self.stopping.is_set():
                raise DeliveryError(
                    f"gave up on {len(pending)} records for {topic} after {attempt} retries "
                    f"({reason}); raise or drop --max-retries, and check the proxy and Kafka",
                    failed=len(pending),
                )
            delay = self.policy.delay(attempt)
            if retry_after is not None:
                # The server knows when it will have room: never come back sooner.
                delay = max(delay, retry_after)
            attempt += 1
            with self._lock:
                self.retries += 1
            self.on_retry(1)
            log.info("retry %d for %s in %.2f s: %s", attempt, topic, delay, reason)
            self.stopping.wait(delay)

    def _post(self, url: str, topic: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One request; returns the rows still to send (retriable failures)."""
        if self.target == "rest":
            body = orjson.dumps({"records": [{"value": row} for row in rows]})
            headers = {"Content-Type": JSON_V2, "Accept": "application/vnd.kafka.v2+json"}
        else:
            body = orjson.dumps(rows[0])
            headers = {"Content-Type": "application/json"}
        with self._lock:
            self.records_sent += len(rows)
        try:
            response = self._session().post(url, data=body, headers=headers, timeout=HTTP_TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetryLater(f"{type(exc).__name__} talking to {url}") from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise RetryLater(
                f"HTTP {status}: {_message(response)}",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status != 200:
            raise DeliveryError(
                f"{url} answered HTTP {status}: {_message(response)}. This is not retried: "
                f"check {self.setting}, PIPELINE_USER_ID and the proxy",
                failed=len(rows),
            )
        if self.target == "legacy":
            return []
        return _unacknowledged(url, response, rows)


def _unacknowledged(
    url: str, response: requests.Response, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    try:
        offsets = orjson.loads(response.content)["offsets"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise DeliveryError(
            f"{url} answered 200 without an `offsets` array, so no record can be counted as "
            "acknowledged: is REST_PROXY_URL a Kafka REST proxy?",
            failed=len(rows),
        ) from None
    if len(offsets) != len(rows):
        raise DeliveryError(
            f"{url} acknowledged {len(offsets)} offsets for {len(rows)} records",
            failed=len(rows),
        )
    retry: list[dict[str, Any]] = []
    refused = [e for e in offsets if e.get("error_code") not in (None, RETRIABLE_RECORD_ERROR)]
    if refused:
        # Only the records without an offset failed; the others are in Kafka already.
        failed = sum(e.get("error_code") is not None for e in offsets)
        raise DeliveryError(
            f"the broker refused {len(refused)} records for {url}: "
            f"{refused[0].get('error_code')} {refused[0].get('error')}",
            failed=failed,
        )
    for row, entry in zip(rows, offsets, strict=True):
        if entry.get("error_code") is not None:
            retry.append(row)
    return retry


def _message(response: requests.Response) -> str:
    try:
        return str(orjson.loads(response.content).get("message"))
    except (orjson.JSONDecodeError, AttributeError):
        return response.text[:200]
