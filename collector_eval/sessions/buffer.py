"""Redis buffer: spans kept as serialized protobuf per (request, trace), traces indexed by session.

One pipeline per Export call: the whole request costs one Redis round trip.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, TracesData

from collector_eval.config import SessionConfig
from collector_eval.sessions import scripts
from collector_eval.sessions.keys import Keys, session_member
from collector_eval.sessions.router import Routed, SessionKey


@dataclass
class StoredSession:
    key: SessionKey
    revision: int
    end_trace_id: bytes
    end_span_id: bytes
    id_attribute: str
    resource_spans: list[ResourceSpans] = field(default_factory=list)
    span_count: int = 0
    truncated: bool = False


class SessionBuffer:
    def __init__(self, client: aioredis.Redis, keys: Keys, cfg: SessionConfig):
        self._redis = client
        self._keys = keys
        self._cfg = cfg

    async def store(self, routed: Routed) -> int:
        """Buffer every chunk and schedule ended sessions; returns how many sessions were scheduled."""
        cfg, keys = self._cfg, self._keys
        session_ttl = int(cfg.ttl_s)
        orphan_ttl = int(cfg.orphan_trace_ttl_s)
        due_at = time.time() + cfg.settle_delay_s
        sessions: dict[SessionKey, list] = {}
        end_calls = 0

        def build(pipe) -> None:
            nonlocal end_calls
            for chunk in routed.chunks.values():
                payload = chunk.data.SerializeToString()
                ttl = session_ttl if chunk.session else orphan_ttl
                scripts.append_trace.queue(
                    pipe,
                    [keys.trace_spans(chunk.trace_id), keys.trace_meta(chunk.trace_id)],
                    [payload, chunk.span_count, len(payload), ttl, cfg.max_spans, cfg.max_bytes],
                )
                if chunk.session is not None:
                    sessions.setdefault(chunk.session, []).append(chunk)
            for session, chunks in sessions.items():
                meta = keys.session_meta(session)
                traces = keys.session_traces(session)
                pipe.sadd(traces, *[c.trace_id for c in chunks])
                pipe.hset(meta, mapping={"id_attribute": chunks[0].id_attribute, "last_seen": time.time()})
                pipe.expire(traces, session_ttl)
                pipe.expire(meta, session_ttl)
                for chunk in chunks:
                    for end in chunk.end_spans:
                        scripts.end_session.queue(
                            pipe,
                            [meta, keys.due],
                            [end.trace_id.hex() + end.span_id.hex(), due_at, session_member(session)],
                        )
                        end_calls += 1

        results = await scripts.execute_with_scripts(self._redis, build)
        return sum(results[-end_calls:]) if end_calls else 0

    async def load(self, session: SessionKey) -> StoredSession | None:
        """Every buffered span of a session, de-duplicated by span id (client retries resend spans)."""
        keys = self._keys
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(keys.session_meta(session))
        pipe.smembers(keys.session_traces(session))
        meta, trace_ids = await pipe.execute()
        if not meta or b"end_span" not in meta:
            return None
        end = bytes.fromhex(meta[b"end_span"].decode())
        stored = StoredSession(
            key=session,
            revision=int(meta.get(b"revision", b"0")),
            end_trace_id=end[:16],
            end_span_id=end[16:],
            id_attribute=meta.get(b"id_attribute", b"").decode(),
        )
        pipe = self._redis.pipeline(transaction=False)
        ordered = sorted(trace_ids)
        for trace_id in ordered:
            pipe.lrange(keys.trace_spans(trace_id), 0, -1)
            pipe.hget(keys.trace_meta(trace_id), "truncated")
        replies = await pipe.execute()
        seen: set[tuple[bytes, bytes]] = set()
        budget_spans, budget_bytes = self._cfg.max_spans, self._cfg.max_bytes
        for i in range(0, len(replies), 2):
            payloads, truncated = replies[i], replies[i + 1]
            stored.truncated = stored.truncated or truncated is not None
            for payload in payloads:
                if stored.span_count >= budget_spans or budget_bytes < len(payload):
                    stored.truncated = True
                    break
                budget_bytes -= len(payload)
                stored.span_count += _dedupe_into(TracesData.FromString(payload), seen, stored.resource_spans)
        return stored

    async def record_result(self, session: SessionKey, revision: int, result_json: str) -> bool:
        """Claim a session revision's verdict; False when another worker or an earlier run has it."""
        ok = await self._redis.set(
            self._keys.session_result(session, revision), result_json, nx=True, ex=int(self._cfg.ttl_s)
        )
        return bool(ok)

    async def result_exists(self, session: SessionKey, revision: int) -> bool:
        return bool(await self._redis.exists(self._keys.session_result(session, revision)))


def _dedupe_into(data: TracesData, seen: set, out: list[ResourceSpans]) -> int:
    added = 0
    for rs in data.resource_spans:
        for ss in rs.scope_spans:
            fresh = []
            for span in ss.spans:
                ident = (span.trace_id, span.span_id)
                if ident not in seen:
                    seen.add(ident)
                    fresh.append(span)
            if len(fresh) != len(ss.spans):
                del ss.spans[:]
                ss.spans.extend(fresh)
            added += len(fresh)
        out.append(rs)
    return added
