"""`--target kinesis`: post rows the way the original's streaming script did (issue 15).

One event: `PUT {REST_PROXY_URL}/streams/<stream>/record` with
`{"StreamName", "Data": row, "PartitionKey"}`; a replay batch: `PUT .../records` with the
API Gateway tutorial's `{"records": [{"data", "partition-key"}]}`, at most 500 a call
(Kinesis' PutRecords limit). On AWS the base URL is the API Gateway invoke URL with its
stage, whose Kinesis integrations `make export-aws` writes.

Retried in the base class's loop (same backoff, never sooner than `Retry-After`):
connection errors, timeouts, HTTP 5xx and 429, Kinesis' throttling errors, and the records
a PutRecords answer marks failed (only those are sent again). Any other 4xx, or a record
refused for good, stops the run; only the records without a sequence number count failed.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import requests

from services.emulator.errors import DeliveryError, EmulatorError
from services.emulator.sender import (
    HTTP_TIMEOUT,
    RetryLater,
    RetryPolicy,
    Sender,
    retry_after_seconds,
)
from services.settings import Settings

log = logging.getLogger(__name__)

#: Kinesis' PutRecords limit.
MAX_RECORDS_PER_CALL = 500
#: Kinesis errors that mean "slow down and send again".
RETRIABLE_TYPES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ServiceUnavailableException",
        "InternalFailure",
    }
)
#: A per-record result that is not a refusal: success (None) or a retriable error.
RETRIABLE = RETRIABLE_TYPES | {None}


class KinesisSender(Sender):
    """A `Sender` whose requests are API Gateway's Kinesis routes (thread-safe too)."""

    def __init__(
        self,
        settings: Settings,
        policy: RetryPolicy,
        on_retry: Any = None,
    ) -> None:
        # The base class sets up sessions, counters and the stop event; the URL is the
        # same REST_PROXY_URL (the /streams routes live beside the Confluent API).
        super().__init__(settings, "rest", policy, on_retry)
        self.target = "kinesis"

    def preflight(self, topics: list[str]) -> None:
        for stream in topics:
            url = f"{self.base}/streams/{stream}"
            try:
                response = self._session().get(url, timeout=HTTP_TIMEOUT)
            except requests.RequestException as exc:
                raise EmulatorError(
                    f"cannot reach the kinesis endpoint at {self.base} "
                    f"({type(exc).__name__}): {self.clients.setup_hint('rest')}"
                ) from None
            if response.status_code != 200:
                raise EmulatorError(
                    f"stream {stream!r} is not available behind {self.base} "
                    f"(HTTP {response.status_code}: {_message(response)}): "
                    f"{self.clients.setup_hint('streams')}"
                )

    def url_for(self, table: str, topic: str) -> str:
        return f"{self.base}/streams/{topic}/record"

    def send(self, table: str, topic: str, rows: list[dict[str, Any]]) -> int:
        if len(rows) == 1:
            self._with_retries(topic, rows, lambda pending: self._put_one(table, topic, pending))
            return 1
        for i in range(0, len(rows), MAX_RECORDS_PER_CALL):
            chunk = rows[i : i + MAX_RECORDS_PER_CALL]
            self._with_retries(topic, chunk, lambda pending: self._put_many(table, topic, pending))
        return len(rows)

    # --- one call and its retries: the base class's loop (backoff, Retry-After) --------
    def _with_retries(self, topic: str, rows: list[dict[str, Any]], call: Any) -> None:
        self.with_retries(
            topic, rows, call, f"records failed with a retriable Kinesis error on {topic}"
        )

    def _request(self, url: str, body: dict[str, Any], count: int) -> requests.Response:
        with self._lock:
            self.records_sent += count
        try:
            response = self._session().put(
                url,
                data=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=HTTP_TIMEOUT,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetryLater(f"{type(exc).__name__} talking to {url}") from None
        status = response.status_code
        if status >= 500 or status == 429 or _error_type(response) in RETRIABLE_TYPES:
            raise RetryLater(
                f"HTTP {status}: {_message(response)}",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status != 200:
            raise DeliveryError(
                f"{url} answered HTTP {status}: {_message(response)}. This is not retried: "
                f"check {self.setting}, PIPELINE_USER_ID and the proxy",
                failed=count,
            )
        return response

    def _put_one(self, table: str, stream: str, rows: list[dict[str, Any]]) -> list[Any]:
        url = f"{self.base}/streams/{stream}/record"
        body = {"StreamName": stream, "Data": rows[0], "PartitionKey": table}
        response = self._request(url, body, 1)
        if "SequenceNumber" not in _json(response):
            raise DeliveryError(
                f"{url} answered 200 without a SequenceNumber, so the record cannot be "
                "counted as acknowledged: is REST_PROXY_URL this project's proxy or an "
                "API Gateway with the Kinesis integration (make export-aws)?",
                failed=1,
            )
        return []

    def _put_many(
        self, table: str, stream: str, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        url = f"{self.base}/streams/{stream}/records"
        body = {"records": [{"data": row, "partition-key": table} for row in rows]}
        results = _json(self._request(url, body, len(rows))).get("Records")
        if not isinstance(results, list) or len(results) != len(rows):
            raise DeliveryError(
                f"{url} answered 200 without one result per record, so none can be counted "
                "as acknowledged",
                failed=len(rows),
            )
        codes = [r.get("ErrorCode") if isinstance(r, dict) else "malformed" for r in results]
        refused = [(c, r) for c, r in zip(codes, results, strict=True) if c not in RETRIABLE]
        if refused:
            code, result = refused[0]
            message = result.get("ErrorMessage") if isinstance(result, dict) else result
            # Only the records with an ErrorCode failed; the others have a sequence number.
            raise DeliveryError(
                f"stream {stream} refused {len(refused)} records: {code} {message}",
                failed=sum(c is not None for c in codes),
            )
        return [row for row, code in zip(rows, codes, strict=True) if code is not None]


def sender_for(settings: Settings, target: str, policy: RetryPolicy) -> Sender:
    """The sender of a `--target`: rest and legacy are `Sender`'s, kinesis is this one."""
    if target == "kinesis":
        return KinesisSender(settings, policy)
    return Sender(settings, target, policy)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        doc = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _error_type(response: requests.Response) -> str | None:
    if response.status_code < 400:
        return None
    value = _json(response).get("__type")
    return value if isinstance(value, str) else None


def _message(response: requests.Response) -> str:
    doc = _json(response)
    if "message" in doc:
        return f"{doc.get('__type', '')} {doc['message']}".strip()
    return response.text[:200]
