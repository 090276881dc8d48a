"""Everything the proxy's handlers share: the producer, the metadata cache, consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.clients import clients_for
from services.landing.connector import sink_config
from services.rest_proxy.admission import Admission
from services.rest_proxy.consumers import ConsumerRegistry
from services.rest_proxy.errors import ProxyError
from services.rest_proxy.metadata import TopicCache
from services.rest_proxy.producer import AsyncProducer, producer_overrides
from services.settings import Settings

log = logging.getLogger(__name__)


class ProxyState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: The topics the S3 sink lands (`<id>.pin|geo|user`), by the sink's own
        #: subscription rule: there a null value (a tombstone) is refused, and Kinesis
        #: does not treat them as streams.
        sink = sink_config(settings)
        self.sink_topics = re.compile(sink.subscription)
        self.dead_letter_topics = re.compile(sink.dead_letter_topics)
        self.clients = clients_for(settings)
        timeout = settings.rest_proxy_produce_timeout_s
        self.producer = AsyncProducer(
            self.clients.kafka_producer(**producer_overrides(timeout)), timeout
        )
        # Metadata must answer faster than a produce: a client waiting on a missing
        # topic or a dead broker gets its 404 / 503 in at most this long.
        self.topics = TopicCache(
            self.producer.raw,
            timeout_s=min(5.0, timeout),
            servers=settings.kafka_bootstrap_servers,
        )
        self.consumers = ConsumerRegistry(
            self.clients,
            settings.rest_proxy_consumer_idle_s,
            max_instances=settings.rest_proxy_max_consumers,
        )
        self.admission = Admission(
            settings.rest_proxy_max_inflight_requests,
            settings.rest_proxy_max_inflight_bytes,
            settings.rest_proxy_max_body_bytes,
        )
        self._admin: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def admin(self) -> Any:
        if self._admin is None:
            self._admin = self.clients.kafka_admin()
        return self._admin

    async def start(self) -> None:
        # librdkafka calls block; asyncio's default pool (cores + 4 threads) is too small
        # once a few consumer fetches hold threads for their whole timeout.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=32, thread_name_prefix="proxy-io")
        )
        self.producer.start()
        self._tasks.append(asyncio.create_task(self.consumers.run_expiry()))
        # Warm the topic cache so the first request does not pay for it; a broker that
        # is down now is not fatal (requests answer 503 until it is back).
        try:
            await self.topics.refresh()
        except ProxyError as exc:
            log.warning("Kafka not reachable at start-up: %s", exc.message)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.consumers.close_all()
        await asyncio.to_thread(self.producer.close)
