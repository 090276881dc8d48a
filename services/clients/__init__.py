"""One place builds each client. `clients_for(settings)` picks a whole factory by target.

Pipeline code asks for `clients.kafka_producer()` or `clients.s3()` and never asks where it
runs: the local factory points at the sandbox on 127.0.0.1, the AWS factory at RDS, MSK,
API Gateway and S3 with the standard AWS credential chain.

The factory is built once per `Settings` object and kept on it, so every call site shares one
factory, and on AWS one botocore session whose credentials are fetched once and refreshed.
A copy of the settings (`model_copy`, a test's namespace) gets its own factory.
"""

from __future__ import annotations

import threading
from typing import Any

from services.clients.base import ClientFactory
from services.settings import Settings, SettingsError

# Kept in the settings object's __dict__ (not a field: never dumped, compared or exported).
_ATTRIBUTE = "_pipeline_clients"
_lock = threading.Lock()


class _Slot:
    """Holds one settings object's factory. Copies start empty, so a deep copy or a pickle
    of the settings never drags a live factory (locks, sessions) along."""

    __slots__ = ("factory",)

    def __init__(self, factory: ClientFactory | None = None) -> None:
        self.factory = factory

    def __copy__(self) -> _Slot:
        return _Slot()

    def __deepcopy__(self, memo: dict[int, Any]) -> _Slot:
        return _Slot()

    def __reduce__(self) -> tuple[type[_Slot], tuple[()]]:
        return _Slot, ()


def _build(settings: Settings) -> ClientFactory:
    if settings.pipeline_target == "aws":
        try:
            from services.clients.aws import AwsClients
        except ModuleNotFoundError as exc:
            # `make up` or `make demo` alone install no AWS SDK: say how to get it.
            raise SettingsError(
                f"PIPELINE_TARGET=aws needs the [aws] extra ({exc.name} is not installed): "
                "`make check-aws` installs it, or `.venv/bin/pip install -e '.[aws]'`"
            ) from None

        return AwsClients(settings)
    from services.clients.local import LocalClients

    return LocalClients(settings)


def clients_for(settings: Settings) -> ClientFactory:
    """The factory of these settings, built on first use and reused after."""
    with _lock:
        slot = settings.__dict__.get(_ATTRIBUTE)
        factory = slot.factory if isinstance(slot, _Slot) else None
        # model_copy copies __dict__ shallowly, so a copy shares its original's slot: the
        # factory must belong to this very object (and to its current target).
        if (
            factory is None
            or factory.settings is not settings
            or factory.target != settings.pipeline_target
        ):
            factory = _build(settings)
            # A new slot, never the shared one: the original keeps its factory.
            object.__setattr__(settings, _ATTRIBUTE, _Slot(factory))
        return factory


__all__ = ["ClientFactory", "clients_for"]
