"""Verdict latency: from the acknowledgement of a session's end span to the arrival of its verdict (the
`evaluate_session` carrier span) at the downstream, with an instant judge and `settle_delay_s: 0`.

Every session is a copy of the recorded corpus session `openinference_openai_chat` (3 LLM calls, each
its own trace, then the "session end" span) with fresh trace, span and session ids. Sessions start at
a steady pace (--rate per second): the LLM spans go in one Export call, then the end span in another;
the time its acknowledgement arrives is the start. The downstream is a process of its own that stamps
each carrier's arrival with CLOCK_MONOTONIC (the same clock on both sides). The judge is
tests/judge_server.py's JudgeServer in a process of its own, answering a valid goal-completeness
verdict at once. Measured once per `jobs.poll_interval_s` given (default: the built-in 0.2 s, and
0.01 s), each on a fresh service and an emptied Redis.

Prints one JSON line of figures. Usage: python bench/verdict_latency.py [--sessions 200] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

import grpc
import redis
from common import (
    CpuMeter,
    EmbeddedRedis,
    LineReader,
    ServiceProcess,
    corpus_session,
    cpu_seconds,
    exporters,
    free_port,
    fresh_copy,
    is_end_span,
    iter_spans,
    judge_config,
    pack_spans,
    start_role,
    stop_procs,
    summary_ms,
    tree_cpu,
    wait_port,
)

from collector_eval.sessions.options import JobsConfig

FOLDER = "openinference_openai_chat"


def make_sessions(count: int, tag: str) -> list[tuple[str, bytes, bytes]]:
    """(session id, LLM spans request, end span request) per session."""
    request, expected = corpus_session(FOLDER)
    rnd = random.Random(tag)
    sessions = []
    for i in range(count):
        session_id = f"bench-verdict-{tag}-{i}"
        copy = fresh_copy(request, expected["session_id"], session_id, rnd)
        spans = list(iter_spans(copy))
        content = [t for t in spans if not is_end_span(t[2])]
        end = [t for t in spans if is_end_span(t[2])]
        assert len(end) == 1 and content
        (content_request,) = pack_spans(content, 512)
        (end_request,) = pack_spans(end, 512)
        sessions.append((session_id, content_request.SerializeToString(), end_request.SerializeToString()))
    return sessions


async def send_sessions(endpoint: str, sessions, rate: float) -> tuple[dict[str, float], dict[str, int]]:
    """Session i starts at t0 + i / rate (open loop); returns each end span's acknowledgement time."""
    channels, calls = exporters(endpoint, 4)
    for ch in channels:
        await ch.channel_ready()
    loop = asyncio.get_running_loop()
    acked: dict[str, float] = {}
    errors: dict[str, int] = {}

    async def one(i: int, session_id: str, content: bytes, end: bytes) -> None:
        call = calls[i % len(calls)]
        try:
            await call(content, timeout=30)
            await call(end, timeout=30)
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] = errors.get(exc.code().name, 0) + 1
            return
        acked[session_id] = time.monotonic()

    t0 = loop.time() + 0.05
    tasks = []
    for i, (session_id, content, end) in enumerate(sessions):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, session_id, content, end)))
    await asyncio.gather(*tasks)
    for ch in channels:
        await ch.close()
    return acked, errors


def run_once(redis_url: str, redis_pid: int, judge_url: str, poll_interval_s: float, args) -> dict:
    sink_port = free_port()
    sink = start_role("carrier-sink", str(sink_port))
    lines = LineReader(sink)
    wait_port(sink_port)
    overrides = {
        "session": {"settle_delay_s": 0},
        "jobs": {"poll_interval_s": poll_interval_s},
        "processes": args.processes,
        **judge_config(judge_url),
    }
    service = ServiceProcess(redis_url, sink_port, overrides, judge_key=True)
    try:
        service.start()
        # Warm-up: the first judge call opens the client's connection pool, the first Export the channel.
        warm = make_sessions(args.warmup, f"warm{poll_interval_s}")
        asyncio.run(send_sessions(service.endpoint, warm, args.rate))
        sessions = make_sessions(args.sessions, f"p{poll_interval_s}")
        meter = CpuMeter()
        acked, errors = asyncio.run(send_sessions(service.endpoint, sessions, args.rate))
        arrived: dict[str, float] = {}
        deadline = time.monotonic() + args.timeout
        while len(arrived) < len(acked) and time.monotonic() < deadline:
            line = lines.get(0.5)
            if line and not line.startswith("requests "):
                session_id, t = line.rsplit(" ", 1)
                if session_id in acked:  # not a warm-up session's
                    arrived.setdefault(session_id, float(t))
        machine = meter.read()
        # What polling costs when there is nothing to do: the service and Redis, idle, for 3 s.
        before = tree_cpu(service.pid) + cpu_seconds(redis_pid)
        time.sleep(3)
        idle_cores = (tree_cpu(service.pid) + cpu_seconds(redis_pid) - before) / 3
    finally:
        service.stop()
        stop_procs([sink])
    latencies = [arrived[s] - acked[s] for s in acked if s in arrived]
    lat = summary_ms(latencies)
    return {
        "poll_interval_s": poll_interval_s,
        "verdict_p50_ms": lat.get("p50_ms"),
        "verdict_p90_ms": lat.get("p90_ms"),
        "verdict_p99_ms": lat.get("p99_ms"),
        "verdict_max_ms": lat.get("max_ms"),
        "verdict_mean_ms": lat.get("mean_ms"),
        "sessions_acknowledged": len(acked),
        "verdicts_received": sum(1 for s in acked if s in arrived),
        "export_errors": errors,
        **machine,
        "idle_service_and_redis_cpu_cores": round(idle_cores, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10, help="sessions sent first and not counted")
    parser.add_argument("--rate", type=float, default=20, help="sessions started per second")
    parser.add_argument(
        "--poll-interval",
        type=float,
        action="append",
        help=f"jobs.poll_interval_s, repeatable (default: {JobsConfig.poll_interval_s} and 0.01)",
    )
    parser.add_argument("--processes", type=int, default=1, help="service processes (config `processes`)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the last verdicts")
    args = parser.parse_args()
    polls = args.poll_interval or [JobsConfig.poll_interval_s, 0.01]

    procs = []
    redis_server = EmbeddedRedis()
    try:
        redis_url = redis_server.start()
        judge = start_role("judge")
        procs.append(judge)
        judge_url = judge.stdout.readline().strip()
        runs = []
        for poll in polls:
            redis.Redis.from_url(redis_url).flushall()
            runs.append(run_once(redis_url, redis_server.pid, judge_url, poll, args))
        judge.terminate()
        judge_requests = judge.communicate(timeout=30)[0].strip()
        figures = {
            "bench": "verdict_latency",
            "corpus_session": FOLDER,
            "sessions": args.sessions,
            "sessions_per_s": args.rate,
            "settle_delay_s": 0,
            "service_processes": args.processes,
            "runs": runs,
            "judge": f"instant ({judge_requests})",
            "target_p99_ms": 100,
        }
        print(json.dumps(figures))
    finally:
        stop_procs(procs)
        redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
