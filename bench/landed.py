"""Events in the S3 sink's layout, without Kafka: for tests and the benchmark.

The sink writes the objects `services.contracts.keys` names, one JSON line per record
(`services.contracts.lines`), a new object every `flush.size` records (`sink_flush_records`)
or 32 MiB, whichever comes first (the connector's `PartitionBuffer.MAX_OBJECT_BYTES`).
`LayoutWriter` writes the same objects into a local folder (DuckDB reads them there);
`upload` copies the folder into the namespace's bucket under the same keys, so Spark reads
identical bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from services.clients import clients_for
from services.contracts.keys import OBJECT_SUFFIX, TOPICS_PREFIX, object_key
from services.contracts.lines import encode_row
from services.settings import TABLES, Settings

#: The sink's size cap per object (connect/s3-sink's PartitionBuffer.MAX_OBJECT_BYTES).
MAX_OBJECT_BYTES = 32 * 1024 * 1024


def json_line(row: Mapping[str, Any]) -> bytes:
    """One row as the emulator posts it and the sink lands it: compact JSON, one line."""
    return encode_row(row) + b"\n"


class LayoutWriter:
    """Append lines per table; an object is sealed at `per_object` lines or `max_bytes`."""

    def __init__(
        self,
        root: Path,
        topics: Mapping[str, str],
        per_object: int = 1000,
        first_offset: int = 0,
        max_bytes: int = MAX_OBJECT_BYTES,
    ) -> None:
        self.root = root
        self.topics = dict(topics)
        self.per_object = per_object
        self.max_bytes = max_bytes
        # Later objects of the same partition start after the earlier ones' offsets, as the
        # sink's do: a key is never written twice.
        self.first_offset = first_offset
        self._offsets = dict.fromkeys(self.topics, first_offset)
        self._files: dict[str, IO[bytes]] = {}
        # (lines, bytes) of each table's open object.
        self._open: dict[str, tuple[int, int]] = {}

    def write(self, table: str, line: bytes) -> None:
        offset = self._offsets[table]
        if table not in self._open:
            self._roll(table, offset)
        data = line if line.endswith(b"\n") else line + b"\n"
        self._files[table].write(data)
        self._offsets[table] = offset + 1
        lines, size = self._open[table]
        lines, size = lines + 1, size + len(data)
        self._open[table] = (lines, size)
        # The sink's rule: sealed after the record that reaches either limit.
        if lines >= self.per_object or size >= self.max_bytes:
            del self._open[table]

    def _roll(self, table: str, offset: int) -> None:
        if table in self._files:
            self._files[table].close()
        self._open[table] = (0, 0)
        path = self.root / object_key(self.topics[table], 0, offset)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._files[table] = path.open("wb")

    @property
    def counts(self) -> dict[str, int]:
        """Lines written so far per table."""
        return {t: offset - self.first_offset for t, offset in self._offsets.items()}

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_events(
    root: Path,
    settings: Settings,
    events: Iterable[Any],
    *,
    per_object: int | None = None,
    extra: Mapping[str, Iterable[bytes]] | None = None,
    first_offset: int = 0,
) -> dict[str, int]:
    """Write `seed_data.generate` events (and `extra` raw lines) in the sink's layout.

    Returns the number of lines per table. `first_offset` names the objects of a later
    delivery into the same partitions (e.g. the number of lines already landed).
    """
    topics = {t: settings.topic(t) for t in TABLES}
    size = per_object or settings.sink_flush_records
    with LayoutWriter(root, topics, size, first_offset) as writer:
        for event in events:
            writer.write("pin", json_line(event.pin))
            writer.write("geo", json_line(event.geo))
            writer.write("user", json_line(event.user))
        for table, lines in (extra or {}).items():
            for line in lines:
                writer.write(table, line)
        return writer.counts


def upload(settings: Settings, root: Path, threads: int = 8) -> int:
    """Copy every object under `root/topics/` into the bucket with the same key."""
    objects = sorted((root / TOPICS_PREFIX).rglob(f"*{OBJECT_SUFFIX}"))
    return upload_files(settings, root, objects, threads)


def upload_files(settings: Settings, root: Path, files: list[Path], threads: int = 8) -> int:
    """Copy `files` (below `root`) into the bucket, keyed by their path below `root`."""
    s3 = clients_for(settings).s3()

    def put(path: Path) -> None:
        key = path.relative_to(root).as_posix()
        s3.fput_object(settings.bucket, key, str(path), content_type="application/json")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, files))
    return len(files)
