"""Ingest benchmark: spans/s through collector-eval (Redis buffering and forwarding on, downstream a
sink that drops) against a parse-and-drop OTLP/gRPC receiver (the Python ceiling) and rotel-agent
forwarding to the same sink, in the same run with the same load generator and requests, for each
request shape; then collector-eval's acknowledgement latency at half of its maximum rate.

Prints one JSON line of figures per shape. Usage: python bench/ingest.py [--shape SHAPE|all]
[--seconds 6] [--concurrency 16] [--processes N] [--cluster 3] (a Redis Cluster of that many primaries
on loopback instead of one redis-server) [--repeat N] (N runs per shape, then a line of their medians
and of how many runs met each of issue 13's targets)

Shapes (512-span requests over 100 sessions, OpenInference-like LLM spans; bench/common.py SHAPES):
one-span-traces, few-spans-per-trace, traces-per-session, root-only-id.

Each shape, with one redis-server, one drop sink (it counts the requests and spans it gets), one
rotel-agent and --processes parse-and-forward processes for the whole run:
1. the parse-and-drop receiver takes the closed-loop load (16 calls in flight over 8 connections) for
   --seconds; then the parse-and-forward processes (decode, send on to the sink, answer: a Python
   forwarding hop with nothing of its own to do) take it the same way, their rate counted as rotel's;
2. rotel-agent takes it for --seconds, forwarding to the sink; its rate counts the time until every
   span it acknowledged has reached the sink;
3. a fresh collector-eval takes it for --seconds, the same way (then it is stopped gracefully and Redis
   emptied);
4. a fresh collector-eval gets the same requests from a paced open-loop sender at --load-fraction
   (0.5) of the rate step 3 found, 1 s of warm-up then --seconds measured, and each call's latency
   from issue to acknowledgement is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from common import (
    SESSIONS,
    SHAPES,
    SPANS_PER_BATCH,
    CpuMeter,
    EmbeddedRedis,
    LineReader,
    ServiceProcess,
    cpu_seconds,
    drop_server,
    free_port,
    listeners,
    load,
    make_batches,
    paced,
    parse_and_forward,
    stop_procs,
    summary_ms,
    tree_cpu,
    wait_port,
)

from tests.support.redis_cluster import EmbeddedCluster

BATCHES = 50  # distinct requests per shape, sent in a loop


def rotel_agent_binary() -> Path:
    """The rotel-agent binary of the `rotel` wheel, installed with pip if missing."""
    try:
        import rotel
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "rotel>=0.0.1a15"])
        import rotel
    return Path(rotel.__file__).resolve().parent / "rotel-agent"


def start_rotel(sink_port: int, workdir: Path) -> tuple[subprocess.Popen, int]:
    """rotel-agent receiving OTLP/gRPC and forwarding it over OTLP/gRPC to the sink with its default
    batching (8192 spans or 200 ms) and no compression, like collector-eval's default exporter (rotel's
    own default is gzip). Its command line is tests/e2e/test_pipeline.py's RotelAgent's."""
    port = free_port()
    log = (workdir / "rotel-agent.log").open("wb")
    proc = subprocess.Popen(
        [
            str(rotel_agent_binary()), "start",
            "--otlp-grpc-endpoint", f"127.0.0.1:{port}",
            "--otlp-http-endpoint", f"127.0.0.1:{free_port()}",  # its default, 4318, may be taken
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", f"http://127.0.0.1:{sink_port}",
            "--otlp-exporter-protocol", "grpc",
            "--otlp-exporter-compression", "none",
            "--pid-file", str(workdir / "rotel-agent.pid"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    wait_port(port, 20)
    if proc.poll() is not None:
        raise RuntimeError(f"rotel-agent exited with {proc.returncode}: {(workdir / 'rotel-agent.log').read_text()}")
    return proc, port


class Sink:
    """The drop sink (this file's --role sink), asked for its request and span counts by SIGUSR1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--role", "sink", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lines = LineReader(self.proc)
        wait_port(self.port)

    def counts(self) -> tuple[int, int]:
        self.proc.send_signal(signal.SIGUSR1)
        line = self._lines.get(10)
        if line is None:
            raise RuntimeError("the sink did not answer")
        requests, spans = line.split()
        return int(requests), int(spans)

    def wait_for(self, spans: int, timeout_s: float) -> tuple[int, int]:
        """Polls until the sink has at least `spans` spans (or timeout_s passed); its last counts."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = self.counts()
            if got[1] >= spans or time.monotonic() > deadline:
                return got
            time.sleep(0.02)


def flush(redis_server) -> None:
    ports = redis_server.ports if isinstance(redis_server, EmbeddedCluster) else None
    if ports:
        for port in ports:
            redis.Redis(port=port).flushall()
    else:
        redis.Redis.from_url(redis_server.url).flushall()


def forwarding_run(endpoint: str, sink: Sink, batches: list[bytes], args, pids: dict[str, list[int]]) -> dict:
    """The closed-loop load on a forwarding receiver: its rate counts the time until the sink has
    every span it acknowledged. pids: the processes whose CPU to report, by name."""
    before_requests, before_spans = sink.counts()
    cpu = {name: sum(tree_cpu(p) for p in ps) for name, ps in pids.items()}
    load_cpu = time.process_time()
    run = asyncio.run(load(endpoint, batches, args.seconds, args.concurrency))
    load_cpu = time.process_time() - load_cpu
    t_end = time.monotonic()
    requests, spans = sink.wait_for(before_spans + run["spans"], 60)
    wall = run["elapsed"] + time.monotonic() - t_end
    figures = {
        "spans_per_s": round(run["spans"] / wall),
        "acknowledged_requests": run["requests"],
        "forwarded_requests": requests - before_requests,
        "acknowledged_spans": run["spans"],
        "forwarded_spans": spans - before_spans,
        "refused_requests": run["refused_requests"],
        "drain_s": round(wall - run["elapsed"], 2),
    }
    for name, ps in pids.items():
        figures[f"{name}_cpu_cores"] = round((sum(tree_cpu(p) for p in ps) - cpu[name]) / wall, 2)
    figures["load_generator_cpu_cores"] = round(load_cpu / run["elapsed"], 2)
    return figures


def run_shape(shape: str, args, redis_server, redis_pids: list[int], sink: Sink, parse_sink, forwarders, rotel) -> dict:
    batches = make_batches(BATCHES, shape)
    meter = CpuMeter()

    # 1. parse and drop: what receiving and decoding costs in Python's gRPC, nothing more.
    parse_cpu, load_cpu = cpu_seconds(parse_sink.pid), time.process_time()
    base = asyncio.run(load(f"127.0.0.1:{args.parse_port}", batches, args.seconds, args.concurrency))
    parse_cpu, load_cpu = cpu_seconds(parse_sink.pid) - parse_cpu, time.process_time() - load_cpu
    parse_and_drop = {
        "spans_per_s": round(base["spans"] / base["elapsed"]),
        "refused_requests": base["refused_requests"],
        "receiver_cpu_cores": round(parse_cpu / base["elapsed"], 2),
        "cpu_ms_per_request": round(parse_cpu * 1000 / max(base["requests"], 1), 2),
        "load_generator_cpu_cores": round(load_cpu / base["elapsed"], 2),
    }

    # 1b. the Python forwarding floor: what decoding and forwarding alone cost, in as many processes.
    forward_figures = forwarding_run(
        f"127.0.0.1:{args.forward_port}",
        sink,
        batches,
        args,
        {"parse_and_forward": [p.pid for p in forwarders], "sink": [sink.proc.pid]},
    )

    # 2. rotel-agent forwarding to the sink.
    rotel_proc, rotel_port = rotel
    rotel_figures = forwarding_run(
        f"127.0.0.1:{rotel_port}", sink, batches, args, {"rotel": [rotel_proc.pid], "sink": [sink.proc.pid]}
    )

    # 3. collector-eval's maximum rate, on a fresh service and an empty Redis.
    overrides = {"processes": args.processes}
    service = ServiceProcess(redis_server.url, sink.port, overrides).start()
    try:
        service_figures = forwarding_run(
            service.endpoint,
            sink,
            batches,
            args,
            {"service": [service.pid], "redis": redis_pids, "sink": [sink.proc.pid]},
        )
    finally:
        service.stop()  # graceful: drains what is left
    flush(redis_server)

    # 4. acknowledgement latency at half of that rate, on a fresh service.
    max_rate = service_figures["spans_per_s"]
    rate = max_rate * args.load_fraction / SPANS_PER_BATCH  # requests/s
    service = ServiceProcess(redis_server.url, sink.port, overrides).start()
    before = sink.counts()
    try:
        cpu = [tree_cpu(service.pid), sum(map(cpu_seconds, redis_pids))]
        t0 = time.monotonic()
        half = asyncio.run(paced(service.endpoint, batches, rate, args.warmup_seconds, args.seconds))
        wall = time.monotonic() - t0
        cpu = [tree_cpu(service.pid) - cpu[0], sum(map(cpu_seconds, redis_pids)) - cpu[1]]
    finally:
        service.stop()
    after = sink.counts()
    flush(redis_server)
    lat = summary_ms(half["latencies"])

    ratio = lambda a, b: round(a / b, 3) if b else None  # noqa: E731
    return {
        "bench": "ingest",
        "shape": shape,
        "shape_is": SHAPES[shape],
        "spans_per_batch": SPANS_PER_BATCH,
        "sessions": SESSIONS,
        "batch_bytes": len(batches[0]),
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "cpu_count": os.cpu_count(),
        "service_processes": args.processes,
        "redis_cluster_primaries": args.cluster,
        "service_spans_per_s": service_figures["spans_per_s"],
        "parse_and_drop_spans_per_s": parse_and_drop["spans_per_s"],
        "rotel_spans_per_s": rotel_figures["spans_per_s"],
        "parse_and_forward_spans_per_s": forward_figures["spans_per_s"],
        "ratio_to_parse_and_drop": ratio(service_figures["spans_per_s"], parse_and_drop["spans_per_s"]),
        "ratio_to_rotel": ratio(service_figures["spans_per_s"], rotel_figures["spans_per_s"]),
        "ratio_to_parse_and_forward": ratio(service_figures["spans_per_s"], forward_figures["spans_per_s"]),
        # The floor itself against the ceiling: how much of parse-and-drop's rate any Python
        # forwarding hop keeps on this machine.
        "parse_and_forward_to_parse_and_drop": ratio(forward_figures["spans_per_s"], parse_and_drop["spans_per_s"]),
        "ack_p50_ms": lat.get("p50_ms"),
        "ack_p99_ms": lat.get("p99_ms"),
        "half_load": {
            "offered_spans_per_s": round(rate * SPANS_PER_BATCH),
            "offered_requests_per_s": round(rate, 1),
            "achieved_requests_per_s": round(half["requests"] / half["elapsed"], 1) if half["elapsed"] else None,
            **{k: v for k, v in lat.items() if k != "count"},
            "measured_requests": lat["count"],
            # Counted from when the call was due: the same unless the sender itself fell behind.
            "from_schedule_p99_ms": summary_ms(half["from_schedule"]).get("p99_ms"),
            "errors": half["errors"],
            # Every call of the phase (warm-up included): acknowledged, and forwarded by the graceful stop.
            "acknowledged_requests": half["acknowledged_all"],
            "forwarded_requests": after[0] - before[0],
            "service_cpu_cores": round(cpu[0] / wall, 2),
            "redis_cpu_cores": round(cpu[1] / wall, 2),
        },
        "service": service_figures,
        "rotel": rotel_figures,
        "parse_and_forward": forward_figures,
        "parse_and_drop": parse_and_drop,
        # Every process of this benchmark, and the rest of the machine during this shape: other
        # people's work on a shared machine (other_cpu_cores) makes the figures noisy.
        **meter.read(),
    }


# Issue 13's targets per shape, each run judged on its own: the ceiling moves as much as the service.
TARGETS = {"ratio_to_parse_and_drop": (0.4, ">="), "ratio_to_rotel": (0.8, ">="), "ack_p99_ms": (30, "<")}


def summary(shape: str, runs: list[dict]) -> dict:
    """The medians of a shape's repeated runs, and how many runs met each target and all three."""
    met = [
        {
            name: run[name] is not None and (run[name] >= bound if op == ">=" else run[name] < bound)
            for name, (bound, op) in TARGETS.items()
        }
        for run in runs
    ]
    fields = ["service_spans_per_s", "parse_and_drop_spans_per_s", "rotel_spans_per_s", *TARGETS]
    return {
        "bench": "ingest-summary",
        "shape": shape,
        "runs": len(runs),
        **{f"median_{name}": statistics.median(run[name] for run in runs if run[name] is not None) for name in fields},
        **{f"runs_meeting_{name}": sum(m[name] for m in met) for name in TARGETS},
        "runs_meeting_all": sum(all(m.values()) for m in met),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all")
    parser.add_argument("--seconds", type=float, default=6, help="time of each load (default 6)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="service processes (config `processes`)"
    )
    parser.add_argument("--cluster", type=int, default=0, help="run on a Redis Cluster of this many primaries")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per shape; more than 1 adds a line of medians per shape"
    )
    parser.add_argument("--warmup-seconds", type=float, default=1, help="warm-up of the paced run")
    parser.add_argument("--load-fraction", type=float, default=0.5, help="paced load, of the service's max rate")
    parser.add_argument("--role", choices=["sink", "parse-sink", "parse-forward"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "parse-forward":
        asyncio.run(parse_and_forward(args.port, args.sink_port))
        return
    if args.role:
        asyncio.run(drop_server(args.port, parse=args.role == "parse-sink", tally=args.role == "sink"))
        return

    shapes = list(SHAPES) if args.shape == "all" else [args.shape]
    workdir = Path(tempfile.mkdtemp(prefix="collector-eval-bench-"))
    procs: list[subprocess.Popen] = []
    redis_server = EmbeddedCluster(args.cluster) if args.cluster else EmbeddedRedis()
    try:
        redis_server.start()
        redis_pids = list(redis_server.pids) if args.cluster else [redis_server.pid]
        sink = Sink()
        procs.append(sink.proc)
        args.parse_port = free_port()
        parse_sink = subprocess.Popen(
            [sys.executable, __file__, "--role", "parse-sink", "--port", str(args.parse_port)],
            stdout=subprocess.DEVNULL,
        )
        procs.append(parse_sink)
        wait_port(args.parse_port)
        args.forward_port = free_port()
        # SO_REUSEPORT, as the service's processes share its port.
        forwarders = [
            subprocess.Popen(
                [sys.executable, __file__, "--role", "parse-forward", "--port", str(args.forward_port)]
                + ["--sink-port", str(sink.port)]
            )
            for _ in range(args.processes)
        ]
        procs += forwarders
        deadline = time.monotonic() + 30
        while listeners(args.forward_port) < args.processes and time.monotonic() < deadline:
            time.sleep(0.05)
        rotel = start_rotel(sink.port, workdir)
        procs.append(rotel[0])
        for shape in shapes:
            runs = []
            for _ in range(args.repeat):
                runs.append(run_shape(shape, args, redis_server, redis_pids, sink, parse_sink, forwarders, rotel))
                print(json.dumps(runs[-1]), flush=True)
            if args.repeat > 1:
                print(json.dumps(summary(shape, runs)), flush=True)
    finally:
        stop_procs(procs)
        redis_server.stop()


if __name__ == "__main__":
    main()
