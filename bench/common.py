"""Helpers shared by the benchmarks under bench/ (not a benchmark itself: `make bench` skips it).

The load shapes (512-span requests of OpenInference-like LLM spans, in several trace/session shapes),
the drop sink, the closed-loop and paced load generators, CPU meters, the service as a subprocess
with a config of its own, role processes (a drop sink, a sink that timestamps verdict carriers, a
sink that records every request's size, traces and carriers, an instant judge), corpus sessions
copied with fresh ids, and percentiles.

Role processes: python bench/common.py sink|carrier-sink|record-sink PORT, python bench/common.py judge
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
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from collector_eval.export.carrier import ATTR_DECISION, SPAN_NAMES  # noqa: E402
from collector_eval.otlp.json_format import load_otlp_json  # noqa: E402
from collector_eval.store.server import EmbeddedRedis  # noqa: E402,F401
from tests.support.corpus import CORPUS  # noqa: E402

JUDGE_KEY_ENV = "COLLECTOR_EVAL_BENCH_JUDGE_KEY"
CARRIER = "evaluate_session"
VERDICT_SPAN_NAMES = frozenset(SPAN_NAMES.values())  # the session carrier and the verdict spans under it


METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_BATCH = 512
SESSIONS = 100
CONNECTIONS = 8


# --- load shapes ---------------------------------------------------------------------------------

# How the 512 spans of a request fall into traces and sessions (bench/ingest.py --shape):
SHAPES = {
    "one-span-traces": "every span its own trace, session.id on each span",
    "few-spans-per-trace": "128 traces of 4 spans (a root and 3 children), session.id on each span",
    "traces-per-session": "one trace per session per request (100), session.id on each span",
    "root-only-id": "traces of 4-8 spans, session.id on the root only, the children sent 20 requests before it",
}
ROOT_ONLY_TRACES = 85  # traces of 4-8 spans per root-only-id request: 85 roots + 427 children = 512 spans
ROOT_ONLY_LAG = 20  # requests between a trace's children and its root (more than the 16 calls in flight)


def _llm_span(ss, rnd: random.Random, trace_id: bytes, i: int, session: str | None, parent: bytes = b""):
    """An OpenInference LLM span (about 660 bytes) in scope spans `ss`; session.id only if given."""
    span = ss.spans.add(
        trace_id=trace_id,
        span_id=rnd.randbytes(8),
        parent_span_id=parent,
        name="ChatCompletion",
        kind=3,
        start_time_unix_nano=1_700_000_000_000_000_000 + i,
        end_time_unix_nano=1_700_000_000_100_000_000 + i,
    )
    attrs = {
        **({"session.id": session} if session is not None else {}),
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
    return span


def _request():
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="bench-app")))
    ss = rs.scope_spans.add()
    ss.scope.name = "openinference.instrumentation.openai"
    return req, ss


def _session(batch: int, session: int) -> str:
    return f"bench-session-{batch % 50}-{session % SESSIONS}"


def _children_counts(rnd: random.Random) -> list[int]:
    """ROOT_ONLY_TRACES counts of children, each 3-7, summing to SPANS_PER_BATCH - ROOT_ONLY_TRACES."""
    counts = [5] * ROOT_ONLY_TRACES
    for k in rnd.sample(range(ROOT_ONLY_TRACES), SPANS_PER_BATCH - 6 * ROOT_ONLY_TRACES):
        counts[k] += 1
    for _ in range(4 * ROOT_ONLY_TRACES):
        a, b = rnd.randrange(ROOT_ONLY_TRACES), rnd.randrange(ROOT_ONLY_TRACES)
        if a != b and counts[a] < 7 and counts[b] > 3:
            counts[a], counts[b] = counts[a] + 1, counts[b] - 1
    return counts


def make_batches(count: int, shape: str = "traces-per-session") -> list[bytes]:
    """`count` serialized requests of 512 spans over 100 sessions, shaped like OpenInference LLM spans,
    their traces laid out as SHAPES[shape] says. Sent in a loop, request b's session ids come back at
    b + 50."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: one of {', '.join(SHAPES)}")
    rnd = random.Random(7)
    if shape == "root-only-id":
        return _root_only_batches(count, rnd)
    spans_per_trace = {"one-span-traces": 1, "few-spans-per-trace": 4}.get(shape)
    batches = []
    for b in range(count):
        req, ss = _request()
        if spans_per_trace is None:  # traces-per-session: span i in session i % 100, one trace each
            traces = {s: rnd.randbytes(16) for s in range(SESSIONS)}
            for i in range(SPANS_PER_BATCH):
                _llm_span(ss, rnd, traces[i % SESSIONS], i, _session(b, i % SESSIONS))
        else:
            for t in range(SPANS_PER_BATCH // spans_per_trace):
                trace_id, root = rnd.randbytes(16), b""
                for k in range(spans_per_trace):
                    i = t * spans_per_trace + k
                    span = _llm_span(ss, rnd, trace_id, i, _session(b, t), parent=root)
                    root = root or span.span_id
        batches.append(req.SerializeToString())
    return batches


def _root_only_batches(count: int, rnd: random.Random) -> list[bytes]:
    """Request b holds the roots (each with session.id) of the traces whose children request
    b - ROOT_ONLY_LAG held, then the children (no session.id) of 85 traces whose roots come
    ROOT_ONLY_LAG requests later (cyclically: sent in a loop, the children arrive first from the
    second round on, and in the first round for every trace but those of the first 20 roots)."""
    lag = max(1, min(ROOT_ONLY_LAG, count // 2))
    traces = [[(rnd.randbytes(16), rnd.randbytes(8), n) for n in _children_counts(rnd)] for _ in range(count)]
    batches = []
    for b in range(count):
        req, ss = _request()
        i = 0
        for k, (trace_id, root_id, _) in enumerate(traces[(b - lag) % count]):
            span = _llm_span(ss, rnd, trace_id, i, _session(b, ((b - lag) % count) * ROOT_ONLY_TRACES + k))
            span.span_id = root_id
            i += 1
        for trace_id, root_id, children in traces[b]:
            for _ in range(children):
                _llm_span(ss, rnd, trace_id, i, None, parent=root_id)
                i += 1
        assert i == SPANS_PER_BATCH, i
        batches.append(req.SerializeToString())
    return batches


def _span_counter():
    """A message class reading an ExportTraceServiceRequest down to its spans as bytes: resource_spans(1)
    > scope_spans(2) > spans(2), nothing decoded below (0.03 ms for 512 spans, a full parse 1.2 ms)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FileDescriptorProto(name="bench_span_count.proto", package="bench")
    for name, field, child in (
        ("Request", 1, "ResourceSpans"),
        ("ResourceSpans", 2, "ScopeSpans"),
        ("ScopeSpans", 2, ""),
    ):
        f = fd.message_type.add(name=name).field.add(name="items", number=field, label=3, type=12 if not child else 11)
        if child:
            f.type_name = f".bench.{child}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.Request"))


_SpanCounter = None


def count_spans(raw: bytes) -> int:
    """Spans in a serialized ExportTraceServiceRequest."""
    global _SpanCounter
    if _SpanCounter is None:
        _SpanCounter = _span_counter()
    return sum(len(ss.items) for rs in _SpanCounter.FromString(raw).items for ss in rs.items)


# --- a downstream that drops -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve_until_sigterm(port: int, export, on_usr1=None) -> None:
    """An OTLP/gRPC TraceService whose Export is export(raw bytes, context), until SIGTERM; on_usr1()
    runs at every SIGUSR1."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if on_usr1 is not None:
        loop.add_signal_handler(signal.SIGUSR1, on_usr1)
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


async def drop_server(port: int, parse: bool, tally: bool = False) -> None:
    """A downstream that answers at once; with parse=True it decodes each request first. Prints how
    many requests it took when terminated. With tally=True it also counts their spans (a walk of the
    wire format, no decoding) and prints "REQUESTS SPANS" at every SIGUSR1 and when terminated."""
    received = spans = 0

    async def export(raw: bytes, context) -> ExportTraceServiceResponse:
        nonlocal received, spans
        if parse:
            ExportTraceServiceRequest.FromString(raw)
        if tally:
            spans += count_spans(raw)
        received += 1
        return ExportTraceServiceResponse()

    def report() -> None:
        print(f"{received} {spans}" if tally else received, flush=True)

    await serve_until_sigterm(port, export, report if tally else None)
    report()


async def parse_and_forward(port: int, sink_port: int) -> None:
    """A Python forwarding hop and nothing more: decodes each request, sends its bytes on to the sink
    and answers once the sink did. What any Python OTLP/gRPC forwarder costs before it does work of
    its own (collector-eval's routing and buffering)."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{sink_port}", options=[("grpc.max_send_message_length", 64 << 20)])
    send = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)

    async def export(raw: bytes, context) -> ExportTraceServiceResponse:
        ExportTraceServiceRequest.FromString(raw)
        await send(raw)
        return ExportTraceServiceResponse()

    await serve_until_sigterm(port, export)


# --- load generators ---------------------------------------------------------------------------


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
    """Closed loop: `concurrency` calls in flight over CONNECTIONS connections for `seconds`; worker k
    sends batches k, k + concurrency, ..."""
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


async def paced(endpoint: str, batches: list[bytes], rate: float, warmup_s: float, seconds: float) -> dict:
    """Open loop: call i is issued at t0 + i / rate (requests/s) whatever the earlier calls are doing,
    and its latency measured from issue to acknowledgement (`from_schedule`: from when it was due).
    Calls issued in the warm-up are not counted."""
    channels, calls = exporters(endpoint)
    for ch in channels:
        await ch.channel_ready()
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    from_schedule: list[float] = []
    errors: dict[str, int] = {}
    acknowledged = 0
    warm = int(rate * warmup_s)
    total = warm + int(rate * seconds)
    t0 = loop.time() + 0.05
    measured_start = t0

    async def one(i: int, scheduled: float) -> None:
        nonlocal acknowledged
        issued = loop.time()
        try:
            await calls[i % len(calls)](batches[i % len(batches)], timeout=30)
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] = errors.get(exc.code().name, 0) + 1
            return
        done = loop.time()
        acknowledged += 1
        if i >= warm:
            latencies.append(done - issued)
            from_schedule.append(done - scheduled)

    tasks = []
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if i == warm:
            measured_start = loop.time()
        tasks.append(asyncio.create_task(one(i, scheduled)))
    sent_until = loop.time()
    await asyncio.gather(*tasks)
    for ch in channels:
        await ch.close()
    return {
        "latencies": latencies,
        "from_schedule": from_schedule,
        "errors": errors,
        "requests": total - warm,
        "sent": total,
        "acknowledged_all": acknowledged,
        "elapsed": sent_until - measured_start,
    }


# --- processes -----------------------------------------------------------------------------------


def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    """CPU seconds of a process (user and system), with reaped_children those of its children that
    have exited and been waited for too."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped_children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


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
    """CPU seconds of a process and all its descendants, living or exited (and waited for: a service
    stopped during a measurement counts)."""
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_seconds(p, reaped_children=True)
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


# --- the service and role processes --------------------------------------------------------------


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


async def record_sink(port: int) -> None:
    """A downstream that answers at once and prints one JSON line per request it receives:
    {"t": time.monotonic() at arrival (CLOCK_MONOTONIC: comparable across processes), "bytes": its
    size, "traces": {trace id (hex): spans of it, verdict spans aside}, "carriers": [[session id,
    collector_eval.forwarding.decision or ""] per session carrier], "verdict_spans": the session
    carriers and the span- and trace-level verdict spans under them}. Prints "requests N" at SIGTERM."""
    received = 0

    async def export(raw: bytes, context) -> ExportTraceServiceResponse:
        nonlocal received
        now = time.monotonic()
        received += 1
        traces: dict[str, int] = {}
        carriers = []
        verdict_spans = 0
        for _, _, span in iter_spans(ExportTraceServiceRequest.FromString(raw)):
            if span.name in VERDICT_SPAN_NAMES:
                verdict_spans += 1
                if span.name == CARRIER:
                    attrs = {kv.key: kv.value.string_value for kv in span.attributes}
                    carriers.append([attrs.get("session.id", ""), attrs.get(ATTR_DECISION, "")])
            else:
                key = span.trace_id.hex()
                traces[key] = traces.get(key, 0) + 1
        line = {"t": now, "bytes": len(raw), "traces": traces, "carriers": carriers, "verdict_spans": verdict_spans}
        print(json.dumps(line), flush=True)
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
    elif role == "record-sink":
        asyncio.run(record_sink(int(sys.argv[2])))
    elif role == "judge":
        judge_role()
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main()
