"""Storing sealed batches in S3, and finding where a partition's landed data ends.

A PUT is atomic in S3: an object is either absent or complete, never half-written. Names
come from start offsets, and every PUT is conditional (`If-None-Match: *`): an object that
exists is never replaced. So a second writer of the same partition (another sink, a sink of
another group, a late PUT of a sink that lost the partition) can never overwrite a longer
object with a shorter one; the loser reads what the winner stored and carries on after it.
S3 honours the condition since 2024, and SeaweedFS 4.48 does (checked by
tests/integration/test_s3_sink.py::test_s3_refuses_to_replace_an_object).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from minio import Minio
from minio.error import S3Error

from services.s3_sink.batches import Batch, DeadLetter
from services.s3_sink.layout import (
    bucket_for,
    dead_letter_key,
    decode_lines,
    encode_lines,
    object_key,
    parse_key,
    partition_prefix,
)

log = logging.getLogger(__name__)

_BUCKET_TAKEN = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}
#: The answer to a conditional PUT whose key exists.
_EXISTS = "PreconditionFailed"


class LandingConflict(RuntimeError):
    """An object in the way that this sink cannot carry on after (e.g. an empty one)."""


@dataclass(frozen=True)
class Stored:
    """Where a sealed item went, and the offset after what the object at that key covers.

    `existed`: the key was taken (by another writer, or by a retry of our own PUT whose
    first answer was lost); `next_offset` then comes from that object, not from ours.
    """

    key: str
    next_offset: int
    existed: bool = False


class LandingStore:
    def __init__(self, s3: Minio, bucket_template: str, endpoint: str) -> None:
        self.s3 = s3
        self.bucket_template = bucket_template
        self.endpoint = endpoint
        self._buckets_ready: set[str] = set()

    def bucket(self, topic: str) -> str:
        return bucket_for(topic, self.bucket_template)

    def ensure_bucket(self, bucket: str) -> None:
        """Create the namespace's bucket if it is missing (`make up` normally has)."""
        if bucket in self._buckets_ready:
            return
        if not self.s3.bucket_exists(bucket):
            try:
                self.s3.make_bucket(bucket)
                log.info("created missing bucket %s", bucket)
            except S3Error as exc:
                if exc.code not in _BUCKET_TAKEN:
                    raise
        self._buckets_ready.add(bucket)

    def put(self, item: Batch | DeadLetter) -> Stored:
        """Store one sealed item unless its key exists. Raises on any S3 or network failure."""
        bucket = self.bucket(item.topic)
        self.ensure_bucket(bucket)
        if isinstance(item, Batch):
            key = object_key(item.topic, item.partition, item.start_offset)
            body = encode_lines(list(item.lines))
            # Informational: readers take offsets from the name and the line count.
            meta: dict[str, Any] = {
                "start-offset": str(item.start_offset),
                "end-offset": str(item.end_offset),
                "record-count": str(len(item.lines)),
            }
            content_type = "application/json"
        else:
            key = dead_letter_key(item.topic, item.partition, item.offset)
            body = item.value or b""
            # Header values must be ASCII and short.
            reason = item.reason.encode("ascii", "replace").decode("ascii")[:200]
            meta = {"offset": str(item.offset), "error": reason}
            content_type = "application/octet-stream"
        headers = {
            "Content-Type": content_type,
            "If-None-Match": "*",
            **{f"x-amz-meta-{k}": v for k, v in meta.items()},
        }
        try:
            # The public put_object() would turn If-None-Match into user metadata.
            self.s3._put_object(bucket, key, body, headers=headers)
        except S3Error as exc:
            if exc.code != _EXISTS:
                raise
            return Stored(key, self._covered_next(bucket, key, item), existed=True)
        return Stored(key, item.next_offset)

    def _covered_next(self, bucket: str, key: str, item: Batch | DeadLetter) -> int:
        if isinstance(item, DeadLetter):
            return item.next_offset  # one object per offset: it covers exactly ours
        response = self.s3.get_object(bucket, key)
        try:
            count = len(decode_lines(response.read()))
        finally:
            response.close()
            response.release_conn()
        if count == 0:
            raise LandingConflict(
                f"s3://{bucket}/{key} exists but holds no record, so offset "
                f"{item.start_offset} cannot be landed under its name: delete that object"
            )
        return item.start_offset + count

    def landed_next(self, topic: str, partition: int) -> int | None:
        """The offset after the last one stored for this partition, or None if nothing is.

        Objects and dead letters are stored strictly in offset order, so everything below
        this offset has landed: a sink that resumes here never writes an offset twice.
        """
        bucket = self.bucket(topic)
        best: int | None = None
        newest_key: str | None = None
        newest_start = -1
        for key, dead in self._keys(bucket, topic, partition):
            name = parse_key(key)
            if name is None or name.topic != topic or name.partition != partition:
                continue
            if dead:
                best = max(best or 0, name.start_offset + 1)
            elif name.start_offset > newest_start:
                newest_start, newest_key = name.start_offset, key
        if newest_key is not None:
            response = self.s3.get_object(bucket, newest_key)
            try:
                count = len(decode_lines(response.read()))
            finally:
                response.close()
                response.release_conn()
            best = max(best or 0, newest_start + count)
        return best

    def _keys(self, bucket: str, topic: str, partition: int) -> Iterator[tuple[str, bool]]:
        for dead in (False, True):
            prefix = partition_prefix(topic, partition, dead_letter=dead)
            try:
                for obj in self.s3.list_objects(bucket, prefix=prefix, recursive=True):
                    if obj.object_name is not None:
                        yield obj.object_name, dead
            except S3Error as exc:
                if exc.code == "NoSuchBucket":
                    return
                raise
