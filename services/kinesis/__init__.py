"""A Kinesis-compatible front over the streaming Kafka topics (issue 15).

A stream is the Kafka topic of the same name, a shard is one of its partitions and a
sequence number is derived from the record's offset, so the Structured Streaming job keeps
reading the topics while the original's Kinesis scripts and the AWS SDKs write to them.
Two faces share one backend (`backend.KinesisBackend`) in the REST proxy's process:
`gateway` (API Gateway's `/streams/...` routes, on the REST proxy's port) and `protocol`
(the Kinesis JSON protocol on KINESIS_URL's port). docs/kinesis.md says what differs.
"""
