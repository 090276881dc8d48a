"""One place builds each client. `clients_for(settings)` picks a whole factory by target.

Pipeline code asks for `clients.kafka_producer()` or `clients.s3()` and never asks where it
runs: the local factory points at the sandbox on 127.0.0.1, the AWS factory at RDS, MSK,
API Gateway and S3 with the standard AWS credential chain.
"""

from __future__ import annotations

from services.clients.base import ClientFactory
from services.settings import Settings


def clients_for(settings: Settings) -> ClientFactory:
    if settings.pipeline_target == "aws":
        from services.clients.aws import AwsClients

        return AwsClients(settings)
    from services.clients.local import LocalClients

    return LocalClients(settings)


__all__ = ["ClientFactory", "clients_for"]
