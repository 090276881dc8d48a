"""Errors the stack raises; each message names the service, its log and the likely fix."""

from __future__ import annotations

from pathlib import Path


class StackError(RuntimeError):
    """Something in the local stack failed; the message says what and how to fix it."""


class InstallError(StackError):
    pass


class ServiceFailed(StackError):
    def __init__(self, service: str, problem: str, log: Path | None, fix: str) -> None:
        where = f" Its log: {log}." if log else ""
        super().__init__(f"{service}: {problem}.{where} Likely fix: {fix}")
        self.service = service
        self.log = log
