"""Which topics exist and how many partitions each has, cached.

Producing to a missing topic must answer 404 at once, not after librdkafka has waited
`message.timeout.ms` for the topic to appear. A cache miss triggers one refresh of the
whole cluster's metadata (all topics: asking for one named topic can make a broker
auto-create it), shared by every request that misses at the same moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from confluent_kafka import KafkaException

from services.rest_proxy.errors import broker_unavailable, topic_not_found

log = logging.getLogger(__name__)


class TopicCache:
    def __init__(
        self, client: Any, timeout_s: float, max_age_s: float = 30.0, servers: str = ""
    ) -> None:
        self._servers = servers
        # `client` is anything with librdkafka's `list_topics` (a Producer or AdminClient).
        self._client = client
        self._timeout_s = timeout_s
        self._max_age_s = max_age_s
        self._partitions: dict[str, int] = {}
        self._metadata: Any = None
        self._refreshed_at = 0.0
        self._inflight: asyncio.Future[Any] | None = None

    async def partitions(self, topic: str) -> int:
        """Partition count of `topic`; 404 (40401) if it does not exist, 503 if unknowable."""
        count = self._partitions.get(topic)
        if count is not None and time.monotonic() - self._refreshed_at < self._max_age_s:
            return count
        await self.refresh()
        count = self._partitions.get(topic)
        if count is None:
            raise topic_not_found()
        return count

    def forget(self, topic: str) -> None:
        """Drop a topic the broker has just said it does not know."""
        self._partitions.pop(topic, None)

    async def metadata(self) -> Any:
        """Fresh cluster metadata (topics, partitions, brokers)."""
        await self.refresh()
        return self._metadata

    async def refresh(self) -> None:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(asyncio.to_thread(self._fetch))
        inflight = self._inflight
        try:
            metadata = await asyncio.shield(inflight)
        finally:
            if self._inflight is inflight and inflight.done():
                self._inflight = None
        self._metadata = metadata
        self._partitions = {name: len(t.partitions) for name, t in metadata.topics.items()}
        self._refreshed_at = time.monotonic()

    def _fetch(self) -> Any:
        try:
            return self._client.list_topics(timeout=self._timeout_s)
        except KafkaException as exc:
            log.warning("cannot fetch cluster metadata: %s", exc)
            raise broker_unavailable(
                f"no cluster metadata from {self._describe()} within {self._timeout_s:g} s "
                f"({exc.args[0].str() if exc.args else exc})"
            ) from None

    def _describe(self) -> str:
        return f"Kafka at {self._servers or '?'} (KAFKA_BOOTSTRAP_SERVERS)"
