"""Progress: a rich bar on a terminal, a plain log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

log = logging.getLogger("services.emulator")


class Reporter:
    """`advance(events)` and `retried(n)` from any thread; a context manager."""

    def __init__(self, description: str, total: int | None, *, tty: bool | None = None) -> None:
        self.description = description
        self.total = total
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.events = 0
        self.retries = 0
        self._start = time.monotonic()
        self._last_line = self._start
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Reporter:
        if self.tty:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>8.0f} events/s"),
                TextColumn("retries {task.fields[retries]}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, rate=0, retries=0)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._refresh(force=True)
        if self._bar is not None:
            self._bar.stop()

    def rate(self) -> float:
        elapsed = time.monotonic() - self._start
        return self.events / elapsed if elapsed > 0 else 0.0

    def advance(self, events: int) -> None:
        self.events += events
        self._refresh()

    def retried(self, n: int = 1) -> None:
        self.retries += n
        self._refresh()

    def _refresh(self, force: bool = False) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, completed=self.events, rate=self.rate(), retries=self.retries
            )
            return
        now = time.monotonic()
        if force or now - self._last_line >= 5.0:
            self._last_line = now
            of = f"/{self.total}" if self.total is not None else ""
            log.info(
                "%s: %d%s events, %.0f events/s, %d retries",
                self.description,
                self.events,
                of,
                self.rate(),
                self.retries,
            )
