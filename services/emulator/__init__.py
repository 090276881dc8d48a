"""The user-posting emulator: MySQL events -> Kafka REST proxy, at least once.

`python -m services.emulator replay|random|stream`; Python API: `replay.run(settings)`
and `live.run(settings, ...)`, each returning a summary of what was acknowledged.
"""
