"""The original's streaming script, unchanged but for the invoke URL, feeds the Delta tables.

It PUTs each row to API Gateway's Kinesis route (`/streams/<name>/record`, Content-Type
application/json), half with `Data` as the row and half as a one-element array; the
Structured Streaming job (`python -m spark.streaming once`) then holds exactly N rows per
table, each `ind` once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from services.rest_proxy.child import proxy_process, with_free_ports
from services.settings import TABLES, Settings
from spark.streaming.job import streaming_session
from spark.streaming.show import read_table
from tests.support.streaming import EVENTS, run_once

pytestmark = pytest.mark.integration

N = 40


@pytest.fixture
def proxy(ns: Settings) -> Iterator[Settings]:
    settings = with_free_ports(ns)
    with proxy_process(settings):
        yield settings


def post_like_the_original(invoke_url: str, settings: Settings, n: int) -> None:
    session = requests.Session()
    for i in range(n):
        for table in TABLES:
            stream = settings.streaming_topic(table)
            row = EVENTS[table](i)
            payload = {
                "StreamName": stream,
                "Data": row if i % 2 else [row],
                "PartitionKey": "partition-1",
            }
            response = session.put(
                f"{invoke_url}/streams/{stream}/record",
                json=payload,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.json()["SequenceNumber"]


@pytest.fixture(scope="module")
def spark(stack: Settings) -> Iterator[SparkSession]:
    yield streaming_session(stack)


def test_rows_put_to_streams_land_once_each_in_delta(proxy: Settings, spark: SparkSession) -> None:
    post_like_the_original(proxy.rest_proxy_url, proxy, N)
    out = run_once(proxy)
    for table in TABLES:
        df = read_table(spark, proxy, table)
        row = df.agg(F.count(F.lit(1)), F.countDistinct("ind")).first()
        assert row is not None
        assert (table, int(row[0]), int(row[1])) == (table, N, N), out
