"""Errors whose message is meant for the person at the keyboard: what failed, what fixes it."""

from __future__ import annotations


class SeedError(Exception):
    """Seeding failed; `str(exc)` is a one-paragraph explanation naming the fix."""


class SeedInputError(SeedError, ValueError):
    """A size, seed or setting is unusable (bad value from the command line or environment)."""


class SeedConnectionError(SeedError):
    """MySQL is unreachable or refused the credentials."""


class SeedPermissionError(SeedError):
    """The admin account lacks a privilege the seeding needs."""
