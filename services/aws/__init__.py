"""The AWS side of the pipeline: a preflight and exported configs.

- `preflight`: `make check-aws`, every endpoint tried concurrently under a deadline.
- `export`: `make export-aws`, the AWS-side configuration written into `build/aws/`.

What each AWS variable must hold, and the endpoints it resolves to, is `services.aws_settings`,
beside `services.settings` whose fields are the variables: the client factory needs nothing
from this package.

Credentials never appear in settings: every AWS SDK here reads the standard chain
(environment, shared profile, instance or task role).
"""
