"""The error the unit layer's guard (tests/unit/conftest.py) raises when a unit test starts
a JVM, Maven or Docker or reaches past loopback."""


class UnitIsolationError(RuntimeError):
    pass
