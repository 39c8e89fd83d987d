"""Redis key names. Every key starts "<prefix>:{<shard tag>}:", so that on a Redis Cluster a session's
hash, its verdicts and its shard's queues (due sets, job stream, outbox) share one hash slot and each
script runs on one node, while the shards spread the sessions and the queues over the nodes."""

from __future__ import annotations

import zlib
from binascii import hexlify
from dataclasses import dataclass

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from collector_eval.model import SessionKey


@dataclass(frozen=True)
class ShardKeys:
    index: int
    # Sessions waiting for their settle delay after an end span (or late spans) ...
    due: str
    # ... for the idle timeout, scored by last span + timeout ...
    idle: str
    # ... and for the maximum duration, scored by first span + duration.
    max_duration: str
    jobs: str
    outbox: str
    outbox_overflow: str
    # Traces whose hash waits for a session, by id (hex), scored by their last chunk + orphan TTL.
    orphans: str
    # forwarding.mode on_verdict: sessions holding spans and no verdict yet, scored by first span +
    # forwarding.hold_max_s; and the sessions and traces whose held spans are to be sent.
    hold: str
    release: str
    # What every key of this shard starts with ("<prefix>:{<tag>}:").
    tag: str

    def results(self, backend: str) -> str:
        """An evaluation backend's own outbox (Phoenix, Langfuse, Datadog): one that is down holds
        back no other."""
        return self.outbox.removesuffix("outbox") + f"results:{backend}"

    def results_overflow(self, backend: str) -> str:
        return self.results(backend) + ":overflow"


class Keys:
    def __init__(self, prefix: str, shards: int = 1):
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        self._tags = [f"{prefix}:{{{tag}}}:" for tag in shard_tags(shards)]
        self._tag_bytes = [t.encode() for t in self._tags]
        self.shards = [
            ShardKeys(
                index=i,
                due=t + "due",
                idle=t + "idle",
                max_duration=t + "maxdur",
                jobs=t + "jobs",
                outbox=t + "outbox",
                outbox_overflow=t + "outbox:overflow",
                hold=t + "hold",
                orphans=t + "orphans",
                release=t + "release",
                tag=t,
            )
            for i, t in enumerate(self._tags)
        ]

    def shard_of(self, session: SessionKey) -> ShardKeys:
        if len(self.shards) == 1:
            return self.shards[0]
        return self.shards[self._shard_index(session_member(session).encode())]

    def trace_shard(self, trace_id: bytes) -> ShardKeys:
        # A trace's spans can come before any span names their session: they wait in a hash of the
        # trace's own shard.
        return self.shards[self._shard_index(trace_id)]

    def trace(self, trace_id: bytes) -> bytes:
        return self.trace_with_shard(trace_id)[0]

    def trace_with_shard(self, trace_id: bytes) -> tuple[bytes, ShardKeys]:
        """trace() and trace_shard() in one: the store path asks both for every trace of a request."""
        index = self._shard_index(trace_id)
        return b"%st:%s" % (self._tag_bytes[index], hexlify(trace_id)), self.shards[index]

    def session(self, session: SessionKey) -> bytes:
        return self.session_with_shard(session)[0]

    def session_with_shard(self, session: SessionKey) -> tuple[bytes, bytes, ShardKeys]:
        """session(), the session's member and shard_of() in one: the store path asks all three for
        every session of a request."""
        member = session_member(session).encode()
        index = self._shard_index(member)
        return self._tag_bytes[index] + b"s:" + member, member, self.shards[index]

    def session_result(self, session: SessionKey, revision: int) -> str:
        member = session_member(session)
        return f"{self._tags[self._shard_index(member.encode())]}r:{revision}:{member}"

    def _shard_index(self, data: bytes) -> int:
        return zlib.crc32(data) % len(self._tags) if len(self._tags) > 1 else 0

    def session_pattern(self, tenant: str = "", session_id: str = "") -> str:
        """A SCAN MATCH pattern for session hashes (of one tenant, or with one id, when given). An id
        alone may match ids that end with it."""
        if tenant:
            member = f"{len(tenant)}:{_glob_escape(tenant)}:{_glob_escape(session_id) or '*'}"
        else:
            member = f"*:{_glob_escape(session_id)}" if session_id else "*"
        return f"{_glob_escape(self.prefix)}:{{*}}:s:{member}"

    def session_of(self, key: bytes) -> SessionKey:
        """The session whose hash key this is (the inverse of session()); ValueError for another key."""
        start = key.index(b"}:s:", len(self._prefix_bytes) + 2) + 4
        return parse_session_member(key[start:])


def shard_tags(shards: int) -> list[str]:
    """One hash tag per shard, the i-th hashing into the i-th of `shards` equal slot ranges: a Cluster
    whose nodes hold contiguous slot ranges (what `redis-cli --cluster create` makes) then holds an
    even share of the shards on each node. The same count gives the same tags on every replica."""
    tags = []
    for i in range(shards):
        low, high = i * REDIS_CLUSTER_HASH_SLOTS // shards, (i + 1) * REDIS_CLUSTER_HASH_SLOTS // shards
        n = 0
        while not low <= key_slot(f"{i}.{n}".encode()) < high:
            n += 1
        tags.append(f"{i}.{n}")
    return tags


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def session_member(session: SessionKey) -> str:
    """How a session is named inside the due set and job messages: "<tenant length>:<tenant>:<id>"."""
    return f"{len(session.tenant)}:{session.tenant}:{session.session_id}"


def parse_session_member(member: bytes | str) -> SessionKey:
    text = member.decode() if isinstance(member, bytes) else member
    length, _, rest = text.partition(":")
    n = int(length)
    return SessionKey(rest[:n], rest[n + 1 :])
