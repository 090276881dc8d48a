"""Made-up AWS credentials, and AWS endpoints the test controls.

The keys are built at run time, so the repository tracks nothing shaped like a real access
key; they reach no AWS service: tests point the AWS code paths at moto's server on loopback,
or at loopback ports they opened and closed, never at AWS and never counting on DNS failing.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: A secret access key that is plainly not one.
SECRET_ACCESS_KEY = "fake-secret-key-for-offline-tests-only"


def access_key_id(tag: str) -> str:
    """An id with an access key's shape (AKIA + 16 capitals or digits), marked as a test."""
    body = f"TEST{tag.upper()}".ljust(16, "0")[:16]
    assert (body.isalnum() and body.isupper()) or body.isdigit(), tag
    return "AKIA" + body


def masked(key: str) -> str:
    """How the preflight shows an access key id: its first and last four characters."""
    return f"{key[:4]}****{key[-4:]}"


# --- endpoints the test controls ---------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on: opened, read and closed again, so a connection
    to it is refused at once (the test's "unreachable endpoint", without DNS or a timeout)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server mode on 127.0.0.1 (STS, S3, ... behind one URL), stopped afterwards.
    Yields its endpoint URL; it accepts any credentials (like AWS, signed with SigV4)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto keeps its accounts, buckets and keys in module-level state: without a reset, a
    # bucket one test made is still there for the next test's server in the same process.
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    try:
        with urllib.request.urlopen(reset, timeout=10) as answer:
            assert answer.status == 200, f"moto did not reset its state: {answer.status}"
        yield url
    finally:
        server.stop()


@contextmanager
def resolving_to_loopback(*suffixes: str) -> Iterator[list[str]]:
    """Python's resolver answers 127.0.0.1 for host names ending in `suffixes` (AWS-shaped
    names that pass the settings checks) and refuses every other non-loopback name, so no
    lookup leaves the machine. Yields the names asked for. C libraries (librdkafka) keep
    the system resolver: tests make sure they are never reached."""
    import socket

    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name.endswith(suffixes):
            return real("127.0.0.1", port, *args, **kwargs)
        if name in ("localhost", "127.0.0.1", "::1"):
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: not resolved in this test")

    socket.getaddrinfo = getaddrinfo
    try:
        yield asked
    finally:
        socket.getaddrinfo = real
