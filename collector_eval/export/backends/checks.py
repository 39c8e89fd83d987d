"""What the evaluation backends' configs check alike: a base URL their routes are appended to, and a
key read from the environment variable a config key names (the key itself never sits in the config,
so that it is never logged with it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from collector_eval.config.checks import ConfigError


def check_base_url(url: str, path: str) -> None:
    """A scheme and a host, and nothing a route appended to it would land after (a query, a fragment)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{path}: {url!r} is not an http:// or https:// base URL")


def check_env_name(name: str, path: str) -> None:
    """A config key that must name the environment variable holding a key."""
    if not name:
        raise ConfigError(f"{path}: must name an environment variable")


def key_from_env(env: str, path: str, holds: str, environ: Mapping[str, str] = os.environ) -> str:
    """The key in the variable env, which the config key at path names; unset or empty is an error
    naming both, since a backend without its key could only be refused."""
    value = environ.get(env, "")
    if not value:
        raise ConfigError(f"{path}: environment variable {env} is not set (it should hold {holds})")
    return value
