"""The AWS side of the pipeline: which settings it needs, a preflight, and exported configs.

- `profile`: what each AWS variable must hold, and the resolved endpoints (RDS, API Gateway,
  MSK, S3) with one readable error listing every missing or malformed variable.
- `preflight`: `make check-aws`, every endpoint tried concurrently under a deadline.
- `export`: `make export-aws`, the AWS-side configuration written into `build/aws/`.

Credentials never appear in settings: every AWS SDK here reads the standard chain
(environment, shared profile, instance or task role).
"""
