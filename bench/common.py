"""Helpers shared by the benchmarks under bench/ (not a benchmark itself: `make bench` skips it).

The load shapes and the drop sink come from bench/ingest.py, imported rather than copied. This module
adds what the latency, memory and token benchmarks need on top: the service as a subprocess with a
config of its own, role processes (a drop sink, a sink that timestamps verdict carriers, an instant
judge), corpus sessions copied with fresh ids, and percentiles.

Role processes: python bench/common.py sink|carrier-sink PORT, python bench/common.py judge
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from ingest import (  # noqa: E402,F401  (re-exported for the benchmarks)
    SPANS_PER_BATCH,
    cpu_seconds,
    drop_server,
    exporters,
    free_port,
    load,
    make_batches,
    process_tree_cpu,
    serve_until_sigterm,
    stop_procs,
    wait_port,
)

from collector_eval.otlp.json_format import load_otlp_json  # noqa: E402
from collector_eval.store.server import EmbeddedRedis  # noqa: E402,F401
from tests.support.corpus import CORPUS  # noqa: E402

JUDGE_KEY_ENV = "COLLECTOR_EVAL_BENCH_JUDGE_KEY"
CARRIER = "evaluate_session"


# --- figures -----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary_ms(seconds: list[float]) -> dict:
    """p50/p90/p99/max/mean of durations given in seconds, in milliseconds."""
    v = sorted(seconds)
    if not v:
        return {"count": 0}
    ms = lambda x: round(x * 1000, 2)  # noqa: E731
    return {
        "count": len(v),
        "p50_ms": ms(percentile(v, 50)),
        "p90_ms": ms(percentile(v, 90)),
        "p99_ms": ms(percentile(v, 99)),
        "max_ms": ms(v[-1]),
        "mean_ms": ms(sum(v) / len(v)),
    }


# --- CPU: the benchmark's own processes, and everyone else's on a shared machine --------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its living descendants."""
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_seconds(p)
        except (OSError, IndexError, ValueError):
            continue
        todo += tree.get(p, [])
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used during a measurement by this benchmark's processes and by everything else (other
    people's work on a shared machine: the figure that says whether a run was disturbed)."""

    def __init__(self) -> None:
        self._t = time.monotonic()
        self._ours = tree_cpu(os.getpid())
        self._busy = machine_busy()

    def read(self) -> dict:
        wall = time.monotonic() - self._t
        ours = tree_cpu(os.getpid()) - self._ours
        others = machine_busy() - self._busy - ours
        return {"bench_cpu_cores": round(ours / wall, 2), "other_cpu_cores": round(max(others, 0) / wall, 2)}


# --- processes ---------------------------------------------------------------------------------


def start_role(role: str, *args: str) -> subprocess.Popen:
    """A role process of this module (see main below), its stdout a pipe of text lines."""
    return subprocess.Popen(
        [sys.executable, __file__, role, *args], stdout=subprocess.PIPE, text=True, bufsize=1, cwd=ROOT
    )


def listeners(port: int) -> int:
    """Sockets listening on a local TCP port (several when processes share it)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class ServiceProcess:
    """`collector-eval serve` in its own process(es), with the given Redis and downstream and any
    config overrides; stop() is a graceful SIGTERM, which drains the forward queue."""

    def __init__(
        self, redis_url: str, downstream_port: int | None, overrides: dict | None = None, judge_key: bool = False
    ):
        self.port = free_port()
        config = {
            "receiver": {"grpc": {"endpoint": f"127.0.0.1:{self.port}", "max_recv_msg_size_mib": 64}},
            "redis": {"url": redis_url},
            "exporters": {"otlp": {"endpoint": f"127.0.0.1:{downstream_port}" if downstream_port else ""}},
        }
        from collector_eval.runtime.config import Config

        if any(f == "control" for f in Config.__dataclass_fields__):
            config["control"] = {"endpoint": ""}  # the control API: off (a fixed default port would collide)
        self.config = _merge(config, overrides or {})
        self._dir = tempfile.mkdtemp(prefix="collector-eval-bench-")
        self._path = Path(self._dir) / "bench.yaml"
        self._path.write_text(json.dumps(self.config))  # JSON is YAML
        self._env = {**os.environ, "OPENAI_API_KEY": ""}
        if judge_key:
            self._env[JUDGE_KEY_ENV] = "bench"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServiceProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "collector_eval.cli",
                "serve",
                "--config",
                str(self._path),
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            env=self._env,
        )
        # Every process must be listening before the load connects: SO_REUSEPORT spreads connections
        # over the sockets listening when they are made, and the extra processes start last.
        want = int(self.config.get("processes", 1))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector-eval serve exited at start (code {self.proc.returncode})")
            if listeners(self.port) >= want:
                wait_port(self.port)
                time.sleep(0.2)  # a service that fails right after binding (another port taken) exits now
                if self.proc.poll() is not None:
                    raise RuntimeError(f"collector-eval serve exited at start (code {self.proc.returncode})")
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"collector-eval serve: fewer than {want} processes listening on {self.port}")

    def stop(self, timeout_s: float = 120) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def judge_config(url: str, **extra) -> dict:
    return {"judge": {"base_url": url, "api_key_env": JUDGE_KEY_ENV, "model": "bench-judge", "timeout_s": 10, **extra}}


class LineReader:
    """Reads a role process's stdout lines on a thread, so the benchmark can wait for them."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def get(self, timeout_s: float) -> str | None:
        try:
            return self.lines.get(timeout=timeout_s)
        except queue.Empty:
            return None


# --- corpus sessions -----------------------------------------------------------------------------


def corpus_folders() -> list[str]:
    return sorted(p.parent.name for p in CORPUS.glob("*/otlp.json"))


def corpus_session(folder: str) -> tuple[ExportTraceServiceRequest, dict]:
    """The recorded request of a corpus session and its expected.json."""
    return load_otlp_json(CORPUS / folder / "otlp.json"), json.loads((CORPUS / folder / "expected.json").read_text())


def fresh_copy(
    request: ExportTraceServiceRequest, old_session_id: str, new_session_id: str, rnd: random.Random
) -> ExportTraceServiceRequest:
    """The same spans with new trace and span ids (parents and links kept consistent) and the session
    id replaced wherever an attribute (of a span or a resource) carries it."""
    out = copy.deepcopy(request)
    traces: dict[bytes, bytes] = {}
    spans: dict[bytes, bytes] = {}
    tid = lambda t: traces.setdefault(t, rnd.randbytes(16)) if t else t  # noqa: E731
    sid = lambda s: spans.setdefault(s, rnd.randbytes(8)) if s else s  # noqa: E731

    def swap(attributes) -> None:
        for kv in attributes:
            if kv.value.WhichOneof("value") == "string_value" and kv.value.string_value == old_session_id:
                kv.value.string_value = new_session_id

    for rs in out.resource_spans:
        swap(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                span.trace_id, span.span_id, span.parent_span_id = (
                    tid(span.trace_id),
                    sid(span.span_id),
                    sid(span.parent_span_id),
                )
                for link in span.links:
                    link.trace_id, link.span_id = tid(link.trace_id), sid(link.span_id)
                swap(span.attributes)
    return out


def iter_spans(request: ExportTraceServiceRequest):
    """(resource spans, scope spans, span) for every span, in file order."""
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield rs, ss, span


def pack_spans(items, size: int) -> list[ExportTraceServiceRequest]:
    """(resource spans, scope spans, span) triples cut into requests of at most `size` spans, each span
    under its own resource and scope (consecutive spans of one resource and scope share them)."""
    requests: list[ExportTraceServiceRequest] = []
    current, count, last = None, 0, None
    for rs, ss, span in items:
        if current is None or count == size:
            current, count, last = ExportTraceServiceRequest(), 0, None
            requests.append(current)
        if last is None or last[0] is not rs or last[1] is not ss:
            out_rs = current.resource_spans.add()
            out_rs.CopyFrom(ResourceSpans(resource=rs.resource, schema_url=rs.schema_url))
            out_ss = out_rs.scope_spans.add()
            out_ss.CopyFrom(ScopeSpans(scope=ss.scope, schema_url=ss.schema_url))
            last = (rs, ss, out_ss)
        last[2].spans.append(span)
        count += 1
    return requests


def is_end_span(span, attribute: str = "session_status", value: str = "completed") -> bool:
    return any(kv.key == attribute and kv.value.string_value == value for kv in span.attributes)


def any_value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind) if kind else None


# --- role processes ------------------------------------------------------------------------------


async def carrier_sink(port: int) -> None:
    """A downstream that answers at once and prints, for every verdict carrier span it receives, one
    line "<session id> <time.monotonic()>" (CLOCK_MONOTONIC: comparable across processes). Other
    requests (the forwarded spans) are only counted; the count is printed as "requests N" at SIGTERM."""
    received = 0

    async def export(raw: bytes, context) -> ExportTraceServiceResponse:
        nonlocal received
        now = time.monotonic()
        received += 1
        if CARRIER.encode() in raw:
            for _, _, span in iter_spans(ExportTraceServiceRequest.FromString(raw)):
                if span.name == CARRIER:
                    session = next((kv.value.string_value for kv in span.attributes if kv.key == "session.id"), "")
                    print(f"{session} {now!r}", flush=True)
        return ExportTraceServiceResponse()

    await serve_until_sigterm(port, export)
    print(f"requests {received}", flush=True)


def judge_role() -> None:
    """tests/judge_server.py's JudgeServer, answering a valid goal-completeness verdict at once; prints
    its URL, then at SIGTERM how many requests it answered."""
    from tests.support.judge_server import JudgeServer, goal_completeness_answer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with JudgeServer(default=goal_completeness_answer(True)) as server:
        print(server.url, flush=True)
        stop.wait()
        print(f"requests {len(server.requests)}", flush=True)


def main() -> None:
    role = sys.argv[1]
    if role == "sink":
        asyncio.run(drop_server(int(sys.argv[2]), parse=False))
    elif role == "carrier-sink":
        asyncio.run(carrier_sink(int(sys.argv[2])))
    elif role == "judge":
        judge_role()
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
