"""The Redis client: one for a single Redis or for a Cluster, and what its failures look like."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from collector_eval.store.options import RedisConfig

Client = aioredis.Redis | RedisCluster

# Everything Redis being unreachable or unwell raises. redis-py's cluster client raises some of it
# outside RedisError (a slot no node serves while a node is down): a loop that caught RedisError only
# died there, and judging stopped for good.
REDIS_ERRORS = (RedisError, RedisClusterException)


def log_failure(log: logging.Logger, what: str, exc: Exception) -> bool:
    """Log a failed step of a loop that must go on: a warning for Redis's errors, the traceback for
    anything else (the client library has raised errors of its own, an AttributeError from a
    connection torn down under a command, while a Cluster node restarted). True for Redis's."""
    if isinstance(exc, REDIS_ERRORS):
        log.warning("%s: %s", what, exc)
        return True
    log.error("%s", what, exc_info=exc)
    return False


def connect(cfg: RedisConfig, url: str) -> Client:
    """A client for url (cfg.url, or the embedded server's), a Cluster client when cfg names one."""
    options: dict[str, Any] = dict(
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=10,
        # A pooled connection that a Redis restart closed fails its next command; retry it on a
        # fresh one instead of failing an Export or a job.
        retry=Retry(ExponentialBackoff(cap=1, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    if cfg.is_cluster:
        return RedisCluster.from_url(cfg.client_url, **options)
    return aioredis.Redis.from_url(url, **options)
