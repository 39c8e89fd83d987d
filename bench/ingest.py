"""Ingest benchmark: spans/s through collector-eval (Redis buffering and forwarding on, downstream a
sink that drops) against a parse-and-drop OTLP/gRPC receiver, in the same run with the same load.

Prints one JSON line of figures. Usage: python bench/ingest.py [--seconds 10] [--concurrency 16]
[--cluster 3] (a Redis Cluster of that many primaries on loopback instead of one redis-server)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from collector_eval.store.server import EmbeddedRedis  # noqa: E402
from tests.support.redis_cluster import EmbeddedCluster  # noqa: E402

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_BATCH = 512
SESSIONS = 100
CONNECTIONS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_batches(count: int) -> list[bytes]:
    """Batches of 512 spans over 100 sessions, shaped like OpenInference LLM spans."""
    rnd = random.Random(7)
    batches = []
    for b in range(count):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="bench-app")))
        ss = rs.scope_spans.add()
        ss.scope.name = "openinference.instrumentation.openai"
        traces = {s: rnd.randbytes(16) for s in range(SESSIONS)}
        for i in range(SPANS_PER_BATCH):
            session = i % SESSIONS
            span = ss.spans.add(
                trace_id=traces[session],
                span_id=rnd.randbytes(8),
                name="ChatCompletion",
                kind=3,
                start_time_unix_nano=1_700_000_000_000_000_000 + i,
                end_time_unix_nano=1_700_000_000_100_000_000 + i,
            )
            attrs = {
                "session.id": f"bench-session-{b % 50}-{session}",
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": f"question {i} " + "lorem ipsum " * 8,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": f"answer {i} " + "dolor sit amet " * 8,
                "llm.token_count.prompt": 40,
                "llm.token_count.completion": 30,
            }
            for k, v in attrs.items():
                value = AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v)
                span.attributes.append(KeyValue(key=k, value=value))
        batches.append(req.SerializeToString())
    return batches


async def serve_until_sigterm(port: int, export) -> None:
    """An OTLP/gRPC TraceService whose Export is export(raw bytes, context), until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService",
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        export, None, ExportTraceServiceResponse.SerializeToString
                    )
                },
            )
        ]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await stop.wait()


async def drop_server(port: int, parse: bool) -> None:
    """A downstream that answers at once; with parse=True it decodes each request first. Prints how
    many requests it took when terminated."""
    received = 0

    async def export(raw: bytes, context) -> ExportTraceServiceResponse:
        nonlocal received
        if parse:
            ExportTraceServiceRequest.FromString(raw)
        received += 1
        return ExportTraceServiceResponse()

    await serve_until_sigterm(port, export)
    print(received, flush=True)


def exporters(endpoint: str, connections: int = CONNECTIONS):
    """Export callables over several connections, as several clients would open: a server sharing its
    port across processes balances connections, not calls. grpc.use_local_subchannel_pool keeps them
    apart."""
    channels = [
        grpc.aio.insecure_channel(
            endpoint, options=[("grpc.max_send_message_length", 64 << 20), ("grpc.use_local_subchannel_pool", 1)]
        )
        for _ in range(connections)
    ]
    calls = [
        ch.unary_unary(METHOD, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString)
        for ch in channels
    ]
    return channels, calls


async def load(endpoint: str, batches: list[bytes], seconds: float, concurrency: int) -> dict:
    channels, exports = exporters(endpoint)
    for ch in channels:
        await ch.channel_ready()
    sent = 0
    acked_requests = 0
    refused = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal sent, refused, acked_requests
        export = exports[offset % CONNECTIONS]
        i = offset
        while time.monotonic() < deadline:
            try:
                await export(batches[i % len(batches)], timeout=30)
                sent += SPANS_PER_BATCH
                acked_requests += 1
            except grpc.aio.AioRpcError:
                refused += 1
                await asyncio.sleep(0.05)
            i += concurrency

    start = time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.monotonic() - start
    for ch in channels:
        await ch.close()
    return {"spans": sent, "requests": acked_requests, "elapsed": elapsed, "refused_requests": refused}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its direct children (the service's extra processes)."""
    total = cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    total += cpu_seconds(int(entry.name))
            except (OSError, IndexError):
                continue
    return total


def stop_procs(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="service processes (config `processes`)"
    )
    parser.add_argument("--cluster", type=int, default=0, help="run on a Redis Cluster of this many primaries")
    parser.add_argument("--role", choices=["sink", "parse-sink"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        asyncio.run(drop_server(args.port, parse=args.role == "parse-sink"))
        return

    batches = make_batches(50)
    procs: list[subprocess.Popen] = []
    redis = EmbeddedCluster(args.cluster) if args.cluster else EmbeddedRedis()
    try:
        redis_url = redis.start()
        redis_pids = redis.pids if args.cluster else [redis.pid]
        sink_port, parse_port, service_port = free_port(), free_port(), free_port()
        for role, port in (("sink", sink_port), ("parse-sink", parse_port)):
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--role", role, "--port", str(port)], stdout=subprocess.PIPE, text=True
                )
            )
        config = Path(tempfile.mkdtemp()) / "bench.yaml"
        config.write_text(
            json.dumps(
                {
                    "receiver": {"grpc": {"endpoint": f"127.0.0.1:{service_port}", "max_recv_msg_size_mib": 64}},
                    "redis": {"url": redis_url},
                    "exporters": {"otlp": {"endpoint": f"127.0.0.1:{sink_port}"}},
                    "processes": args.processes,
                }
            )
        )
        service = subprocess.Popen(
            [sys.executable, "-m", "collector_eval.cli", "serve", "--config", str(config), "--log-level", "WARNING"],
            cwd=ROOT,
            env={**os.environ, "OPENAI_API_KEY": ""},
        )
        procs.append(service)
        for port in (sink_port, parse_port, service_port):
            wait_port(port)

        parse_cpu = cpu_seconds(procs[1].pid)
        baseline = asyncio.run(load(f"127.0.0.1:{parse_port}", batches, args.seconds, args.concurrency))
        parse_cpu = cpu_seconds(procs[1].pid) - parse_cpu
        sink = procs[0]
        cpu_before = [process_tree_cpu(service.pid), sum(map(cpu_seconds, redis_pids)), cpu_seconds(sink.pid)]
        t0, load_cpu = time.monotonic(), time.process_time()
        through = asyncio.run(load(f"127.0.0.1:{service_port}", batches, args.seconds, args.concurrency))
        load_cpu = time.process_time() - load_cpu
        # The service acknowledges before it forwards: the run ends when everything acknowledged has
        # reached the sink, which a graceful stop waits for.
        cpu_mid = [process_tree_cpu(service.pid), sum(map(cpu_seconds, redis_pids)), cpu_seconds(sink.pid)]
        service.send_signal(signal.SIGTERM)
        service.wait(120)
        wall = time.monotonic() - t0
        cpu_after = cpu_mid[:2] + [cpu_seconds(sink.pid)]
        sink.send_signal(signal.SIGTERM)
        forwarded = int(sink.communicate(timeout=30)[0].strip() or 0)
        service_rate = through["spans"] / wall
        base_rate = baseline["spans"] / baseline["elapsed"]
        figures = {
            "bench": "ingest",
            "spans_per_batch": SPANS_PER_BATCH,
            "sessions": SESSIONS,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "service_processes": args.processes,
            "redis_cluster_primaries": args.cluster,
            "service_spans_per_s": round(service_rate),
            "parse_and_drop_spans_per_s": round(base_rate),
            "ratio": round(service_rate / base_rate, 3),
            # What receiving and decoding a request costs on its own, in Python's gRPC.
            "parse_and_drop_cpu_ms_per_request": round(parse_cpu * 1000 / max(baseline["requests"], 1), 2),
            "acknowledged_requests": through["requests"],
            "forwarded_requests": forwarded,
            "drain_s": round(wall - through["elapsed"], 2),
            "service_refused_requests": through["refused_requests"],
            "service_cpu_cores": round((cpu_mid[0] - cpu_before[0]) / through["elapsed"], 2),
            "redis_cpu_cores": round((cpu_mid[1] - cpu_before[1]) / through["elapsed"], 2),
            "sink_cpu_cores": round((cpu_after[2] - cpu_before[2]) / wall, 2),
            # What the machine spends besides the service: the load generator (this process), the
            # sink and redis-server share its cores.
            "load_generator_cpu_cores": round(load_cpu / through["elapsed"], 2),
            "batch_bytes": len(batches[0]),
        }
        print(json.dumps(figures))
    finally:
        stop_procs(procs)
        redis.stop()


if __name__ == "__main__":
    main()
