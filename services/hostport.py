"""`host[:port]` values (Kafka brokers, the REST proxy's EC2 host) parsed, or what is wrong.

Settings validates their format with these, and the AWS profile resolves them into
`HostPort`s; both must agree on what a valid value is, so the parsing lives once, here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_host_port(value: str, default_port: int | None) -> HostPort | str:
    """A HostPort, or what is wrong with `value` (a str). No default port: `:port` is needed."""
    value = value.strip()
    if not value:
        return "empty"
    if "://" in value or "/" in value:
        return f"{value!r} is a URL, not host[:port]"
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, ""
    if not port:
        if default_port is None:
            return f"{value!r} lacks :<port>"
        return HostPort(host, default_port)
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"{value!r} has no valid port"
    if not host:
        return f"{value!r} has no host"
    return HostPort(host, int(port))


def parse_brokers(value: str) -> tuple[list[HostPort], list[str]]:
    """Comma-separated `host:port` brokers, and what is wrong with each bad one."""
    brokers: list[HostPort] = []
    errors: list[str] = []
    for item in (p.strip() for p in value.split(",")):
        if not item:
            continue
        parsed = parse_host_port(item, None)
        if isinstance(parsed, str):
            errors.append(parsed)
        else:
            brokers.append(parsed)
    if not brokers and not errors:
        errors.append("no brokers given")
    return brokers, errors
