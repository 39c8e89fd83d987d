"""What every stage's options use to refuse a bad value: one error type naming the dotted key, and the
checks that recur (an endpoint, a positive or non-negative number)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """host:port as (host, port); the one parser of every listen and dial address in the config."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{endpoint!r} is not host:port")
    return host, int(port)


def check_endpoint(endpoint: str, path: str) -> None:
    try:
        parse_endpoint(endpoint)
    except ValueError:
        raise ConfigError(f"{path}: {endpoint!r} is not host:port") from None


def check_positive(value: float, path: str) -> None:
    if value <= 0:
        raise ConfigError(f"{path}: must be greater than 0, got {value!r}")


def check_non_negative(value: float, path: str) -> None:
    if value < 0:
        raise ConfigError(f"{path}: must not be negative, got {value!r}")
