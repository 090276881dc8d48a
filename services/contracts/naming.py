"""A namespace's names: a user id names its Kafka topics and its S3 bucket, as in the AWS
project (`<user_id>.pin`, `user-<user_id>-bucket`).

`Settings.topic`, `Settings.streaming_topic` and `Settings.bucket` call these for the
configured user id; the connector's Buckets.java derives the same bucket from a topic.
Standard library only.
"""

from __future__ import annotations

#: The placeholder the connector's `s3.bucket.name` (connect/s3-sink, connector.json) holds.
USER_ID_PLACEHOLDER = "${user_id}"
#: Each namespace lands in its own bucket.
BUCKET_TEMPLATE = f"user-{USER_ID_PLACEHOLDER}-bucket"


def batch_topic(user_id: str, table: str) -> str:
    """`<user_id>.<table>`: what the emulator posts to and the S3 sink lands."""
    return f"{user_id}.{table}"


def streaming_topic(user_id: str, table: str) -> str:
    """`streaming-<user_id>-<table>`, named after the original's Kinesis streams."""
    return f"streaming-{user_id}-{table}"


def bucket(user_id: str) -> str:
    return bucket_for_user(user_id, BUCKET_TEMPLATE)


def bucket_for_user(user_id: str, template: str) -> str:
    return template.replace(USER_ID_PLACEHOLDER, user_id)


def namespace_of(topic: str) -> str:
    """`<user_id>.<table>` -> `<user_id>`."""
    user_id, dot, _table = topic.rpartition(".")
    if not dot or not user_id:
        raise ValueError(f"topic {topic!r} is not named <user_id>.<table>")
    return user_id


def bucket_for(topic: str, bucket_template: str | None) -> str:
    """The bucket a batch topic lands in, given the connector's `s3.bucket.name`: the
    template filled with the topic's namespace, or the name as given if it has no
    placeholder; none or a blank one means the default template (as Buckets.java does)."""
    if bucket_template is None or not bucket_template.strip():
        bucket_template = BUCKET_TEMPLATE
    if USER_ID_PLACEHOLDER not in bucket_template:
        return bucket_template
    return bucket_for_user(namespace_of(topic), bucket_template)
