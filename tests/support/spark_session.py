"""One local SparkSession per test run, shared by every Spark test module.

Import the fixture into a test module
(`from tests.support.spark_session import spark_session`). PySpark
starts one JVM per process; the session is built by `spark.session.build_session`, so the
tests run with the same configuration as the job (quiet, UTC, 4 shuffle partitions).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from services.settings import load_settings
from spark.session import build_session


@pytest.fixture(scope="session")
def spark_session() -> Iterator[SparkSession]:
    settings = load_settings(spark_master="local[2]")
    session = build_session(settings, "pinterest-tests")
    yield session
    # Left running for other modules that imported this fixture; the JVM exits with pytest.
