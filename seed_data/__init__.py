"""A deterministic replica of the original project's "spoof Pinterest" RDS database.

Three tables — `pinterest_data`, `geolocation_data`, `user_data` — one row each per event,
with the original's dirty values (placeholders, empty strings, follower counts as text),
generated from a seed so every result downstream can be checked against a known answer.

    python -m seed_data load --size 11153 --seed 0   # what `make seed` runs
    python -m seed_data --help

From Python (for tests and other modules):

    from seed_data.generate import events, checksum
    for pin, geo, user in events(size=100, seed=0):   # dicts keyed by column name
        ...
    from seed_data.load import load
    result = load(settings, size=100, seed=0)        # -> LoadResult
"""

from seed_data.errors import SeedConnectionError, SeedError, SeedInputError, SeedPermissionError
from seed_data.generate import DEFAULT_SEED, DEFAULT_SIZE, Event, Rates, checksum, events

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "Event",
    "Rates",
    "SeedConnectionError",
    "SeedError",
    "SeedInputError",
    "SeedPermissionError",
    "checksum",
    "events",
]
