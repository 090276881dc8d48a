"""The proxy as a child process with given settings, for tests and benchmarks.

The supervised proxy of `make up` runs the same command line (`python -m services.rest_proxy`,
settings from the environment); here it runs through `ChildProcess`, ready when all three of
its fronts (Confluent v2, legacy, Kinesis) answer `/health`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

from services.runner.child import ChildProcess, free_port
from services.runner.wait import NotReady
from services.settings import Settings


def with_free_ports(settings: Settings) -> Settings:
    """The same settings with the proxy's three listeners moved to free ports."""
    return settings.model_copy(
        update={
            "rest_proxy_url": f"http://127.0.0.1:{free_port()}",
            "legacy_api_url": f"http://127.0.0.1:{free_port()}",
            "kinesis_url": f"http://127.0.0.1:{free_port()}",
        }
    )


def health_probe(settings: Settings) -> str:
    """Ready: every front of the proxy answers `/health` with 200."""
    urls = [
        f"{u}/health"
        for u in (settings.rest_proxy_url, settings.legacy_api_url, settings.kinesis_url)
    ]
    for url in urls:
        status = requests.get(url, timeout=1).status_code
        if status != 200:
            raise NotReady(f"{url} answered {status}")
    return "v2, legacy and Kinesis fronts answer /health"


def proxy_process(settings: Settings, log: Path | None = None) -> ChildProcess:
    """`with proxy_process(settings) as proxy:` serves settings' URLs until the block ends."""
    log = log or settings.logs_dir / f"rest-proxy-{os.getpid()}-{free_port()}.log"
    return ChildProcess(
        "rest-proxy",
        [sys.executable, "-m", "services.rest_proxy", "--log-level", "warning"],
        env=settings.to_env(),
        log=log,
        probe=lambda: health_probe(settings),
        start_timeout=30.0,
    )
