"""Redis memory per buffered span, against the span's protobuf size.

collector-eval (Redis buffering on, downstream a drop sink, settle delay an hour so that nothing is
judged meanwhile) is sent two workloads in turn, each into an emptied private Redis:
- synthetic: bench/ingest.py's batches (512 OpenInference-shaped LLM spans over 100 sessions per
  request), each request once;
- corpus: every recorded corpus session copied --copies times with fresh trace, span and session ids,
  100 sessions at a time interleaved span by span, and cut into requests of 512 spans, as a busy
  app's batching exporter would send them.
Memory is Redis's `used_memory` after the workload minus before it (the service started, its
scripts loaded and its streams created), and the sum of `MEMORY USAGE` of the keys it wrote; both
are divided by the spans buffered. A span's protobuf size is its serialized `Span` message.

Prints one JSON line of figures. Usage: python bench/redis_memory.py [--batches 100] [--copies 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import zlib

import grpc
import redis
from common import (
    EmbeddedRedis,
    ServiceProcess,
    corpus_folders,
    corpus_session,
    exporters,
    free_port,
    fresh_copy,
    iter_spans,
    make_batches,
    pack_spans,
    start_role,
    stop_procs,
    wait_port,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

INTERLEAVE = 100  # sessions in flight at once in the corpus workload


def corpus_requests(copies: int) -> list[bytes]:
    rnd = random.Random(11)
    sessions = []
    for folder in corpus_folders():
        request, expected = corpus_session(folder)
        for c in range(copies):
            sessions.append(list(iter_spans(fresh_copy(request, expected["session_id"], f"mem-{folder}-{c}", rnd))))
    rnd.shuffle(sessions)
    items = []
    for g in range(0, len(sessions), INTERLEAVE):
        group = sessions[g : g + INTERLEAVE]
        for k in range(max(len(s) for s in group)):
            items += [s[k] for s in group if k < len(s)]
    return [r.SerializeToString() for r in pack_spans(items, 512)]


def span_sizes(requests: list[bytes]) -> tuple[int, int]:
    """(spans, bytes of their serialized Span messages)."""
    spans = size = 0
    for raw in requests:
        for _, _, span in iter_spans(ExportTraceServiceRequest.FromString(raw)):
            spans += 1
            size += span.ByteSize()
    return spans, size


async def send_all(endpoint: str, requests: list[bytes]) -> int:
    channels, calls = exporters(endpoint, 4)
    refused = 0

    async def worker(k: int) -> None:
        nonlocal refused
        for i in range(k, len(requests), 4):
            for _ in range(100):
                try:
                    await calls[k](requests[i], timeout=30)
                    break
                except grpc.aio.AioRpcError:
                    refused += 1
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the service refused a request 100 times")

    await asyncio.gather(*(worker(k) for k in range(4)))
    for ch in channels:
        await ch.close()
    return refused


def used_memory(client: redis.Redis) -> dict:
    info = client.info("memory")
    return {k: info[k] for k in ("used_memory", "used_memory_dataset")}


def measure(redis_url: str, sink_port: int, name: str, requests: list[bytes]) -> dict:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    service = ServiceProcess(redis_url, sink_port, {"session": {"settle_delay_s": 3600}}).start()
    try:
        time.sleep(0.5)
        before_keys = set(client.keys("*"))
        before = used_memory(client)
        refused = asyncio.run(send_all(service.endpoint, requests))
        time.sleep(1.5)  # client query buffers shrink in serverCron
        after = used_memory(client)
        keys = [k for k in client.keys("*") if k not in before_keys]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        key_bytes = sum(v or 0 for v in pipe.execute())
        # What the chunks themselves hold: the serialized protobuf stored per (request, trace).
        payload = compressed = 0
        for key in keys:
            if client.type(key) == b"hash":
                for f, v in client.hgetall(key).items():
                    if f.startswith(b"c"):
                        payload += len(v)
                        compressed += len(zlib.compress(v, 1))
        sessions = sum(1 for k in keys if b"}:s:" in k)
    finally:
        service.stop()
    spans, span_bytes = span_sizes(requests)
    request_bytes = sum(len(r) for r in requests)
    span_size = span_bytes / spans
    per_span = (after["used_memory"] - before["used_memory"]) / spans
    return {
        "workload": name,
        "spans": spans,
        "sessions": sessions,
        "requests": len(requests),
        "refused_requests": refused,
        "span_protobuf_bytes": round(span_size, 1),
        "request_bytes_per_span": round(request_bytes / spans, 1),
        "stored_payload_bytes_per_span": round(payload / spans, 1),
        # Not what the service does: what the same chunks would take compressed (zlib level 1), each alone.
        "stored_payload_zlib1_bytes_per_span": round(compressed / spans, 1),
        "redis_used_memory_bytes_per_span": round(per_span, 1),
        "redis_dataset_bytes_per_span": round(
            (after["used_memory_dataset"] - before["used_memory_dataset"]) / spans, 1
        ),
        "redis_memory_usage_bytes_per_span": round(key_bytes / spans, 1),
        "keys": len(keys),
        "ratio_to_span_protobuf": round(per_span / span_size, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=100, help="synthetic 512-span requests")
    parser.add_argument("--copies", type=int, default=300, help="copies of each corpus session")
    args = parser.parse_args()

    procs = []
    redis_server = EmbeddedRedis()
    try:
        redis_url = redis_server.start()
        sink_port = free_port()
        procs.append(start_role("sink", str(sink_port)))
        wait_port(sink_port)
        workloads = [
            measure(redis_url, sink_port, "synthetic", make_batches(args.batches)),
            measure(redis_url, sink_port, "corpus", corpus_requests(args.copies)),
        ]
        info = redis.Redis.from_url(redis_url).info("server")
        figures = {
            "bench": "redis_memory",
            "redis_version": info["redis_version"],
            "workloads": workloads,
            "target": "redis bytes per span <= span protobuf bytes (ratio <= 1)",
        }
        print(json.dumps(figures))
    finally:
        stop_procs(procs)
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
