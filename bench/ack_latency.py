"""Export acknowledgement latency at half of the maximum rate: how long an Export call of 512 spans
takes to be acknowledged (spans buffered in Redis and queued for forwarding) when collector-eval runs
at half the rate it can sustain.

First the maximum rate is found the way bench/ingest.py measures it (closed loop, 16 calls in flight
over 8 connections, for --probe-seconds; the rate counts the time until everything acknowledged has
reached the downstream), unless --max-rate gives it. Then a fresh service gets 512-span batches at
half that rate from a paced open-loop sender: call i is issued at start + i / rate whatever the
earlier calls are doing, and each call's latency is measured from issue to acknowledgement (and, to
show any lag of the sender itself, from its scheduled time).

Prints one JSON line of figures. Usage: python bench/ack_latency.py [--seconds 10] [--max-rate SPANS_PER_S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import redis
from common import (
    SPANS_PER_BATCH,
    CpuMeter,
    EmbeddedRedis,
    ServiceProcess,
    cpu_seconds,
    free_port,
    load,
    make_batches,
    paced,
    process_tree_cpu,
    start_role,
    stop_procs,
    summary_ms,
    wait_port,
)


def probe_max_rate(redis_url: str, batches: list[bytes], seconds: float, processes: int) -> dict:
    """ingest.py's method on a service (and drop sink) of its own: spans acknowledged / time until all
    are forwarded."""
    sink_port = free_port()
    sink = start_role("sink", str(sink_port))
    try:
        wait_port(sink_port)
        service = ServiceProcess(redis_url, sink_port, {"processes": processes}).start()
        try:
            through = asyncio.run(load(service.endpoint, batches, seconds, 16))
            t_end = time.monotonic()
        finally:
            service.stop()  # graceful: drains the forward queue
    finally:
        stop_procs([sink])
    wall = through["elapsed"] + (time.monotonic() - t_end)
    return {"spans_per_s": through["spans"] / wall, "refused_requests": through["refused_requests"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="measured time at half rate")
    parser.add_argument("--warmup-seconds", type=float, default=1)
    parser.add_argument("--probe-seconds", type=float, default=5, help="time of the maximum-rate probe")
    parser.add_argument("--max-rate", type=float, help="maximum rate in spans/s (skips the probe)")
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="service processes (config `processes`)"
    )
    parser.add_argument(
        "--acknowledge", choices=["queued", "forwarded"], default="queued", help="config `receiver.acknowledge`"
    )
    args = parser.parse_args()

    batches = make_batches(50)
    procs = []
    redis_server = EmbeddedRedis()
    try:
        redis_url = redis_server.start()
        if args.max_rate:
            max_rate, probe = args.max_rate, {"source": "--max-rate"}
        else:
            probe = probe_max_rate(redis_url, batches, args.probe_seconds, args.processes)
            max_rate = probe["spans_per_s"]
            probe = {
                "source": f"closed-loop probe, {args.probe_seconds:g} s",
                "refused_requests": probe["refused_requests"],
            }
            redis.Redis.from_url(redis_url).flushall()  # the probe's spans: not this phase's business

        rate = max_rate * args.load_fraction / SPANS_PER_BATCH  # requests/s
        sink_port = free_port()
        sink = start_role("sink", str(sink_port))
        procs.append(sink)
        wait_port(sink_port)
        service = ServiceProcess(
            redis_url, sink_port, {"processes": args.processes, "receiver": {"acknowledge": args.acknowledge}}
        ).start()
        cpu_before = [process_tree_cpu(service.pid), cpu_seconds(redis_server.pid)]
        t_cpu = time.monotonic()
        meter = CpuMeter()
        run = asyncio.run(paced(service.endpoint, batches, rate, args.warmup_seconds, args.seconds))
        cpu_wall = time.monotonic() - t_cpu
        machine = meter.read()
        cpu_after = [process_tree_cpu(service.pid), cpu_seconds(redis_server.pid)]
        service.stop()
        sink.terminate()
        forwarded = int(sink.communicate(timeout=30)[0].strip() or 0)
        lat = summary_ms(run["latencies"])
        figures = {
            "bench": "ack_latency",
            "spans_per_batch": SPANS_PER_BATCH,
            "batch_bytes": len(batches[0]),
            "service_processes": args.processes,
            "acknowledge": args.acknowledge,
            "max_rate_spans_per_s": round(max_rate),
            "max_rate": probe,
            "load_fraction": args.load_fraction,
            "offered_spans_per_s": round(rate * SPANS_PER_BATCH),
            "offered_requests_per_s": round(rate, 1),
            "achieved_requests_per_s": round(run["requests"] / run["elapsed"], 1) if run["elapsed"] else None,
            "seconds": args.seconds,
            "ack_p50_ms": lat.get("p50_ms"),
            "ack_p90_ms": lat.get("p90_ms"),
            "ack_p99_ms": lat.get("p99_ms"),
            "ack_max_ms": lat.get("max_ms"),
            "ack_mean_ms": lat.get("mean_ms"),
            "measured_requests": lat["count"],
            # Latency counted from when the call was due, not when the sender got to issue it: the
            # same unless the load generator itself fell behind.
            "from_schedule_p99_ms": summary_ms(run["from_schedule"]).get("p99_ms"),
            "errors": run["errors"],
            # Every call of the phase (warm-up included) acknowledged and forwarded: these two agree.
            "acknowledged_requests_incl_warmup": run["acknowledged_all"],
            "forwarded_requests_incl_warmup": forwarded,
            "service_cpu_cores": round((cpu_after[0] - cpu_before[0]) / cpu_wall, 2),
            "redis_cpu_cores": round((cpu_after[1] - cpu_before[1]) / cpu_wall, 2),
            # Service CPU per acknowledged 512-span request (receive, route, buffer and forward it).
            "service_cpu_ms_per_request": round(
                (cpu_after[0] - cpu_before[0]) * 1000 / max(run["acknowledged_all"], 1), 2
            ),
            # Every process of this benchmark (load generator, service, Redis, sink), and the rest of
            # the machine: other people's work on a shared machine disturbs the tail.
            **machine,
            "target_p99_ms": 10,
        }
        print(json.dumps(figures))
    finally:
        stop_procs(procs)
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
