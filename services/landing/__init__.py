"""Is everything in Kafka also in S3, exactly once? `python -m services.landing verify`.

from services.landing import verify, wait_until_landed
report = wait_until_landed(settings, timeout=30)
assert report.complete, report.problems()
"""

from services.landing.report import LandingReport, PartitionLanding, TopicLanding
from services.landing.verify import (
    LandedLine,
    LandingError,
    LandingVerifier,
    verify,
    wait_until_landed,
)

__all__ = [
    "LandedLine",
    "LandingError",
    "LandingReport",
    "LandingVerifier",
    "PartitionLanding",
    "TopicLanding",
    "verify",
    "wait_until_landed",
]
