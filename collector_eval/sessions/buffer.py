"""Redis buffer: spans kept as serialized protobuf per (request, trace) in their session's hash, or in
their trace's hash until the trace joins a session. One round trip per Redis node an Export request
touches (on a single Redis, one)."""

from __future__ import annotations

import itertools
import json
import os
import struct
import time
from binascii import hexlify
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import lz4.block
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData, ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, TracesData
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from collector_eval.model import ForwardingDecision, SessionKey, StoredSession
from collector_eval.sessions import control_scripts, scripts
from collector_eval.sessions.keys import (
    Keys,
    ShardKeys,
    parse_session_member,
    session_member,
)
from collector_eval.sessions.log_router import LogChunk
from collector_eval.sessions.options import SessionConfig
from collector_eval.sessions.router import Routed
from collector_eval.sessions.status import FIELDS as STATUS_FIELDS
from collector_eval.sessions.status import SessionStatus
from collector_eval.store import resp
from collector_eval.store.client import Client

# Keys SCAN visits per call when listing sessions.
SCAN_BATCH = 1000

# KEYS: a session or trace hash; ARGV: the reason, the TTL it gets if it has none (a new hash).
_MARK_TRUNCATED = """
redis.call('HSET', KEYS[1], 'truncated', ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
"""


@dataclass
class _ShardWrite:
    """What one Export request writes to one shard, in one round trip (see scripts.STORE_REQUEST)."""

    shard: ShardKeys
    commands: list[list[bytes]] = field(default_factory=list)
    orphan_keys: list[bytes] = field(default_factory=list)
    orphans: list[bytes] = field(default_factory=list)
    sessions: list[tuple[list[bytes], list[bytes]]] = field(default_factory=list)  # (keys, blob) each
    joins: list[tuple[bytes, bytes]] = field(default_factory=list)  # (trace key, session member)


def _shard_write(writes: dict[int, _ShardWrite], shard: ShardKeys) -> _ShardWrite:
    write = writes.get(shard.index)
    if write is None:
        write = writes[shard.index] = _ShardWrite(shard)
    return write


@dataclass
class Stored:
    """What buffering a request came to: sessions scheduled for judging, and (spans held for their
    verdict) the chunks a cap kept out of Redis, which are forwarded at once instead."""

    scheduled: int
    unheld: list[bytes] = field(default_factory=list)
    unheld_spans: int = 0


@dataclass
class Claim:
    revision: int
    counter: bytes  # the session's span/byte counter this revision covers
    trigger: str


class SessionBuffer:
    def __init__(self, client: Client, keys: Keys, cfg: SessionConfig, hold_max_s: float | None = None):
        self._redis = client
        self._keys = keys
        self._cfg = cfg
        # forwarding.mode on_verdict: spans are held for their verdict (at most this long); None: not held.
        self._hold_max_s = hold_max_s

    async def store(self, routed: Routed) -> Stored:
        """Buffer every chunk and schedule ended sessions."""
        keys = self._keys
        writes: dict[int, _ShardWrite] = {}
        fields = _chunk_fields(SPANS)
        # field -> spans and their count, should a cap delete them (only held spans need them back)
        written: dict[bytes, tuple[bytes, int]] | None = {} if self._hold_max_s is not None else None
        single = len(keys.shards) == 1
        for orphan in routed.orphans.values():
            key, shard = keys.trace_with_shard(orphan.trace_id)
            field, raw = next(fields), orphan.payload()
            payload = self._pack(raw)
            if written is not None:
                written[field] = raw, orphan.span_count
            command = [b"HSET", key, field, payload]
            if orphan.end_spans:
                command += (b"end_span", orphan.end_spans[-1].trace_id + orphan.end_spans[-1].span_id)
            write = _shard_write(writes, shard)
            write.commands.append(command)
            write.orphan_keys.append(key)
            write.orphans.append(_CHUNK.pack(len(field), field, orphan.span_count, len(payload)))
        for session, chunk in routed.sessions.items():
            key, member, home = keys.session_with_shard(session)
            write = _shard_write(writes, home)
            field, raw = next(fields), chunk.payload()
            payload = self._pack(raw)
            if written is not None:
                written[field] = raw, chunk.span_count
            # One field for all the session's spans of the request, one per trace they are in.
            command = [b"HSET", key, field, payload, b"id_attribute", chunk.id_attribute.encode()]
            home_traces: list[bytes] = []  # by id: the script builds the keys of the few it needs
            for trace_id in chunk.trace_ids:
                command += (b"t:" + trace_id, b"1")
                if not single:
                    trace_key, trace_shard = keys.trace_with_shard(trace_id)
                    if trace_shard is not home:  # on a Cluster, most traces: joined from their own shard
                        _shard_write(writes, trace_shard).joins.append((trace_key, member))
                        continue
                home_traces.append(hexlify(trace_id))
            write.commands.append(command)
            ends = [_bytes(e.trace_id + e.span_id) for e in chunk.end_spans]
            head = _bytes(member) + _ONE + _CHUNK.pack(len(field), field, chunk.span_count, len(payload))
            write.sessions.append(([key], [head, _u32(len(home_traces)), *home_traces, _u32(len(ends)), *ends]))
        replies = await self._store_shards(list(writes.values()))
        scheduled = sum(int(r[0]) for r in replies)
        # Deleted by a cap: with spans held, they would be lost; else they were forwarded anyway.
        unheld = [written[f] for r in replies for f in r[1]] if written is not None else []
        handed = [(member, end) for r in replies for member, end in zip(r[2::2], r[3::2])]
        if handed:
            # End spans that waited with their trace in another shard go to their sessions' shards.
            handovers: dict[int, _ShardWrite] = {}
            for member, end in handed:
                session = parse_session_member(member)
                write = _shard_write(handovers, keys.shard_of(session))
                handover = [_bytes(member), _u32(0), _u32(0), _u32(1), _bytes(end)]  # no chunk, no trace: an end
                write.sessions.append(([keys.session(session)], handover))
            replies = await self._store_shards(list(handovers.values()))
            scheduled += sum(int(r[0]) for r in replies)
        return Stored(scheduled, [raw for raw, _ in unheld], sum(n for _, n in unheld))

    async def store_logs(self, chunks: list[LogChunk]) -> None:
        """Buffer log records in their traces' hashes: kept for the orphan TTL, or the session's once
        the trace joined one, and read with the session's spans. They never schedule a session: the
        spans of their trace do."""
        keys = self._keys
        writes: dict[int, _ShardWrite] = {}
        fields = _chunk_fields(LOGS)
        for chunk in chunks:
            key = keys.trace(chunk.trace_id)
            field, payload = next(fields), self._pack(chunk.payload())
            write = _shard_write(writes, keys.trace_shard(chunk.trace_id))
            write.commands.append([b"HSET", key, field, payload])
            write.orphan_keys.append(key)
            write.orphans.append(_CHUNK.pack(len(field), field, chunk.records, len(payload)))
        await self._store_shards(list(writes.values()))

    async def _store_shards(self, writes: list[_ShardWrite]) -> list[list]:
        """Each shard's chunks and bookkeeping (see scripts.STORE_REQUEST): the script's reply per shard."""
        calls = [self._store_call(write) for write in writes]
        sha = scripts.store_request.sha.encode()
        # The script writes too, so it fails wherever the chunks' HSETs could have (see execute_quietly).
        batches = [
            (write.commands, [b"EVALSHA", sha, b"%d" % len(key_list), *key_list, *args], write.shard.due)
            for write, (key_list, args) in zip(writes, calls)
        ]
        results = await resp.execute_quietly(self._redis, batches)
        replies = []
        for (key_list, args), result in zip(calls, results):
            if isinstance(result, NoScriptError):
                # Redis lost its scripts (a restart): the chunks are written, the bookkeeping runs now.
                result = await self._redis.eval(scripts.store_request.source, len(key_list), *key_list, *args)
            if isinstance(result, Exception):
                raise result
            replies.append(result)
        return replies

    def _store_call(self, write: _ShardWrite) -> tuple[list[bytes], list[bytes]]:
        """The store script's keys and arguments for one shard's part of a request."""
        cfg, shard = self._cfg, write.shard
        names = (shard.due, shard.idle, shard.max_duration, shard.hold, shard.orphans, shard.release)
        key_list = [*(name.encode() for name in names), *write.orphan_keys]
        blob = [_u32(len(write.orphan_keys)), *write.orphans, _u32(len(write.sessions))]
        for section_keys, section in write.sessions:
            key_list += section_keys
            blob += section
        blob.append(_u32(len(write.joins)))
        for trace_key, member in write.joins:
            key_list.append(trace_key)
            blob.append(_bytes(member))
        now = time.time()
        args = [b"%f" % (now + cfg.settle_delay_s), b"%d" % cfg.max_spans, b"%d" % cfg.max_bytes]
        args += (b"%d" % cfg.ttl_s, b"%d" % cfg.orphan_trace_ttl_s, b"%f" % now)
        args += (
            b"1" if cfg.late_spans == "reevaluate" else b"0",
            b"%f" % cfg.idle_timeout_s,
            b"%f" % cfg.max_duration_s,
        )
        args.append(b"".join(blob))
        args += (b"0", b"0") if self._hold_max_s is None else (b"1", b"%f" % self._hold_max_s)
        args.append(shard.tag.encode())
        return key_list, args

    async def mark_truncated(self, sessions: Iterable[SessionKey], trace_ids: Iterable[bytes], reason: str) -> None:
        """Flag sessions and traces truncated, as a cap does, with the reason as the flag's value: spans
        of theirs were acknowledged without being buffered. A hash that does not exist yet gets the TTL
        a new one would, so the flag waits for the spans still to come and never outlives them."""
        pipe = self._redis.pipeline(transaction=False)
        for session in sessions:
            pipe.eval(_MARK_TRUNCATED, 1, self._keys.session(session), reason, int(self._cfg.ttl_s))
        for trace_id in trace_ids:
            pipe.eval(_MARK_TRUNCATED, 1, self._keys.trace(trace_id), reason, int(self._cfg.orphan_trace_ttl_s))
        await pipe.execute()

    def _pack(self, payload: bytes) -> bytes:
        # LZ4 costs about 0.2 ms per 340 KB request and stores spans in a fifth to two fifths of
        # their size: Redis memory, not CPU, is what bounds how many sessions can wait.
        return COMPRESSED + lz4.block.compress(payload) if self._cfg.compression == "lz4" else payload

    async def claim(self, session: SessionKey) -> Claim | None:
        """The next revision of a session to judge, or None when there is nothing new to judge."""
        reply = await scripts.claim_revision.run(self._redis, [self._keys.session(session)], [])
        if reply[0] <= 0:
            return None
        return Claim(int(reply[0]), reply[1], reply[2].decode())

    async def load(self, session: SessionKey) -> StoredSession | None:
        """Every buffered span of a session, de-duplicated by span id (client retries resend spans)."""
        # The client never decodes replies (no decode_responses): hash fields and values are bytes.
        meta = cast(dict[bytes, bytes], await self._redis.hgetall(self._keys.session(session)))
        if b"n" not in meta:
            return None
        end = meta.get(b"end_span", b"")  # trace id (16 bytes) + span id (8)
        stored = StoredSession(
            key=session,
            end_trace_id=end[:16],
            end_span_id=end[16:],
            id_attribute=meta.get(b"id_attribute", b"").decode(),
            truncated=b"truncated" in meta,
            judged_spans=int(meta.get(b"judged_spans", -1)),
            judged_subjects=set(json.loads(meta.get(b"judged_subjects", b"[]"))),
        )
        pipe = self._redis.pipeline(transaction=False)
        for trace_id in sorted(f[2:] for f in meta if f.startswith(b"t:")):
            pipe.hgetall(self._keys.trace(trace_id))
        seen: set[tuple[bytes, bytes]] = set()
        seen_records: set[bytes] = set()
        budget_spans, budget_bytes = self._cfg.max_spans, self._cfg.max_bytes
        for fields in [meta, *await pipe.execute()]:
            stored.truncated = stored.truncated or b"truncated" in fields
            # Chunk fields are a kind and the arrival time: sorting them orders each kind's chunks.
            for name in sorted(f for f in fields if f[:1] in (SPANS, LOGS)):
                payload = fields[name]
                if stored.span_count >= budget_spans or budget_bytes < len(payload):
                    stored.truncated = True
                    break
                budget_bytes -= len(payload)
                if name[:1] == LOGS:
                    _dedupe_logs_into(LogsData.FromString(unpack(payload)), seen_records, stored.resource_logs)
                    continue
                stored.span_count += _dedupe_into(TracesData.FromString(unpack(payload)), seen, stored.resource_spans)
        if not end:
            last = max(
                (span for rs in stored.resource_spans for ss in rs.scope_spans for span in ss.spans),
                key=lambda span: span.end_time_unix_nano,
                default=None,
            )
            if last is None:
                return None
            stored.end_trace_id, stored.end_span_id = last.trace_id, last.span_id
        return stored

    async def commit(
        self,
        stored: StoredSession,
        claim: Claim,
        record: str,
        otlp: bytes,
        line: str,
        outbox_max_len: int,
        judged_subjects: set[str],
        backends: tuple[str, ...] = (),
        records: str = "[]",
        otlp_logs: bytes = b"",
        decision: ForwardingDecision | None = None,
    ) -> int:
        """Record a revision's verdict and queue it for delivery, atomically: the OTLP forms (spans,
        and log records when otlp_logs is given) in the outbox, the result records in each evaluation
        backend's own outbox; with a forwarding decision (spans held for their verdict), the decision,
        and a kept session queued for the release of its spans. 1: committed; 0: this revision was
        committed before (a job taken over); -1: the outbox is full."""
        keys = self._keys
        shard = keys.shard_of(stored.key)
        backend_keys = [key for name in backends for key in (shard.results(name), shard.results_overflow(name))]
        return int(
            await scripts.commit_verdict.run(
                self._redis,
                [
                    keys.session(stored.key),
                    keys.session_result(stored.key, claim.revision),
                    shard.outbox,
                    shard.outbox_overflow,
                    shard.hold,
                    shard.release,
                    *backend_keys,
                ],
                [
                    claim.counter,
                    record,
                    otlp,
                    line,
                    int(self._cfg.ttl_s),
                    outbox_max_len,
                    stored.span_count,
                    json.dumps(sorted(judged_subjects)),
                    records,
                    otlp_logs,
                    decision.encode() if decision is not None else "",
                    session_member(stored.key),
                    ",".join(decision.exporters) if decision is not None else "",
                ],
            )
        )

    async def release(self, session: SessionKey, claim: Claim) -> None:
        """Give a claimed revision back: it had nothing new to judge."""
        await scripts.release_revision.run(self._redis, [self._keys.session(session)], [claim.revision, claim.counter])

    async def statuses(self, sessions: list[SessionKey], detailed: bool = True) -> list[SessionStatus | None]:
        """The control API's view of each session (None: not buffered); detailed: with its trace ids
        and the verdict of every revision still kept, else the latest verdict only."""
        keys = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for session in sessions:
            key = keys.session(session)
            pipe.hmget(key, STATUS_FIELDS)
            pipe.zscore(keys.shard_of(session).due, session_member(session))
            pipe.ttl(key)
            if detailed:
                pipe.hkeys(key)
        replies = await pipe.execute()
        step = 4 if detailed else 3
        rows = [replies[i : i + step] + [[]] * (4 - step) for i in range(0, len(replies), step)]
        wanted = []
        for session, row in zip(sessions, rows):
            revision = int(row[0][2] or 0)
            first = 1 if detailed else revision
            wanted.append([keys.session_result(session, r) for r in range(max(first, 1), revision + 1)])
        pipe = self._redis.pipeline(transaction=False)
        for result_keys in wanted:
            for result_key in result_keys:  # GETs, not one MGET: a Cluster pipeline refuses multi-key commands
                pipe.get(result_key)
        fetched = iter(await pipe.execute())
        out = []
        for session, (values, due, ttl, names), result_keys in zip(sessions, rows, wanted):
            records = [next(fetched) for _ in result_keys]
            out.append(SessionStatus.parse(session, values, due, ttl, names, records, records[-1] if records else None))
        return out

    async def schedule_by_hand(self, session: SessionKey, new_revision: bool) -> control_scripts.Scheduled:
        """Schedule a session for judging with trigger "control": like an end span (after the settle
        delay), or now as a forced new revision. Returns what the script answered."""
        keys = self._keys
        due_at = time.time() + (0 if new_revision else self._cfg.settle_delay_s)
        for _ in range(3):
            # The script refuses when a worker claimed another revision meanwhile: read it again.
            revision = int(await self._redis.hget(keys.session(session), "revision") or 0)
            code = await control_scripts.schedule.run(
                self._redis,
                [keys.session(session), keys.shard_of(session).due, keys.session_result(session, revision)],
                [session_member(session), b"%f" % due_at, int(new_revision), revision],
            )
            if code != control_scripts.Scheduled.REVISION_MOVED:
                return control_scripts.Scheduled(int(code))
        return control_scripts.Scheduled.BEING_JUDGED

    async def scan_sessions(
        self, limit: int, page_token: str = "", tenant: str = "", session_id: str = ""
    ) -> tuple[list[SessionKey], str]:
        """Up to limit buffered sessions, in SCAN order, and the next page's token ("" after the last
        page). A token is the node (on a Cluster, the index of a primary) and the cursor of the SCAN
        batch the page ended in, and the last session taken from it: the next page scans that batch
        again and skips up to there (a batch is sorted, so "up to there" is well defined). Raises
        ValueError for a token not made here."""
        node_text, _, rest = page_token.partition(":")
        cursor_text, _, after = rest.partition(":")
        node, cursor = int(node_text or 0), int(cursor_text or 0)
        nodes = self._scan_nodes()
        if not 0 <= node < len(nodes):
            raise ValueError(f"page token {page_token!r} names no node")
        pattern = self._keys.session_pattern(tenant, session_id)
        found: list[SessionKey] = []
        while True:
            next_cursor, raw = await self._scan(nodes[node], cursor, pattern)
            batch = sorted(
                (s for s in map(self._session_of, raw) if s and session_member(s) > after), key=session_member
            )
            after = ""
            if session_id:  # the pattern also matches ids that merely end with this one
                batch = [s for s in batch if s.session_id == session_id]
            room = limit - len(found)
            if len(batch) > room:
                found += batch[:room]
                return found, f"{node}:{cursor}:{session_member(found[-1])}"
            found += batch
            cursor = next_cursor
            if cursor == 0:
                node += 1
                if node == len(nodes):
                    return found, ""
            if len(found) == limit:
                return found, f"{node}:{cursor}:"

    def _scan_nodes(self) -> list:
        if isinstance(self._redis, RedisCluster):
            return sorted(self._redis.get_primaries(), key=lambda n: n.name)
        return [None]

    async def _scan(self, node, cursor: int, pattern: str) -> tuple[int, list[bytes]]:
        # The client never decodes replies (no decode_responses): key names are bytes.
        if node is None:
            return cast(tuple[int, list[bytes]], await self._redis.scan(cursor, match=pattern, count=SCAN_BATCH))
        # A Cluster's SCAN answers a cursor per node it ran on (redis-py's parse_scan_result), not the
        # single cursor redis-py's annotation (shared with the single-Redis client) says.
        reply = await self._redis.scan(cursor, match=pattern, count=SCAN_BATCH, target_nodes=node)
        cursors, raw = cast(tuple[dict[str, int], list[bytes]], reply)
        return next(iter(cursors.values())), raw

    def _session_of(self, key: bytes) -> SessionKey | None:
        try:
            return self._keys.session_of(key)
        except ValueError:  # a key of this shape not written by collector-eval
            return None


# A TracesData or LogsData encoding never starts with a zero byte (there is no field 0): one marks a
# chunk that is LZ4-compressed, so chunks written with and without compression load alike.
COMPRESSED = b"\x00"
# The first byte of a chunk's field: what the chunk holds.
SPANS = b"c"
LOGS = b"l"


def unpack(payload: bytes) -> bytes:
    return lz4.block.decompress(payload[1:]) if payload[:1] == COMPRESSED else payload


def _chunk_fields(kind: bytes) -> Iterator[bytes]:
    """Names for a request's chunks: their kind, then arrival time, so fields sort in arrival order;
    random bytes keep replicas' fields apart; then the chunk's place in the request."""
    stamp = kind + time.time_ns().to_bytes(8, "big") + os.urandom(4)
    for n in itertools.count():
        yield stamp + n.to_bytes(4, "big")


# A chunk in STORE_REQUEST's blob: its field, span and byte counts.
_CHUNK = struct.Struct(">I17sII")

_u32 = struct.Struct(">I").pack
_ONE = _u32(1)


def _bytes(data: bytes) -> bytes:
    return _u32(len(data)) + data


def _dedupe_logs_into(data: LogsData, seen: set, out: list[ResourceLogs]) -> None:
    for rl in data.resource_logs:
        for sl in rl.scope_logs:
            # A log record has no id of its own: a retried Export resends the same bytes.
            _keep_unseen(sl.log_records, lambda record: record.SerializeToString(deterministic=True), seen)
        out.append(rl)


def _dedupe_into(data: TracesData, seen: set, out: list[ResourceSpans]) -> int:
    added = 0
    for rs in data.resource_spans:
        for ss in rs.scope_spans:
            added += _keep_unseen(ss.spans, lambda span: (span.trace_id, span.span_id), seen)
        out.append(rs)
    return added


def _keep_unseen(items, ident: Callable[[Any], Hashable], seen: set) -> int:
    """Drop from a repeated field the items whose ident was seen before; returns how many stay."""
    fresh = []
    for item in items:
        key = ident(item)
        if key not in seen:
            seen.add(key)
            fresh.append(item)
    if len(fresh) != len(items):
        del items[:]
        items.extend(fresh)
    return len(fresh)
