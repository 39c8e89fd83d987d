"""Test configs: free ports, and no listener on a well-known port unless a test names it."""

from __future__ import annotations

import dataclasses
import socket

from collector_eval.runtime.config import Config


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def with_side_ports_off(config: dict) -> dict:
    """config with every listener that has a fixed default port (OTLP/HTTP, the control API,
    metrics: whichever Config has) turned off unless config names it: tests never take a well-known
    port, and two services never clash. The gRPC receiver and exporters are the caller's to set."""
    off: dict = {}

    def walk(obj, path: tuple[str, ...]) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, path + (f.name,))
            elif f.name.endswith("endpoint") and isinstance(value, str) and value and path[:1] != ("exporters",):
                if path != ("receiver", "grpc"):
                    node = off
                    for part in path:
                        node = node.setdefault(part, {})
                    node[f.name] = ""

    walk(Config(), ())
    return deep_merge(off, config)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
