"""Made-up AWS credentials for tests.

Built at run time, so the repository tracks nothing shaped like a real access key; the
values are obviously fake and reach no AWS service (the tests run offline).
"""

from __future__ import annotations

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
