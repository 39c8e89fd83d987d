"""Helpers for the fault-injection suite (tests/test_faults.py): hand-built OTLP sessions, a raw
gRPC sender that retries UNAVAILABLE as an OTLP exporter does, `collector-eval serve` as a real
process, and counting what reached the downstream."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import redis
import yaml
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from redis.cluster import RedisCluster

from collector_eval.sessions.keys import Keys
from collector_eval.store.options import RedisConfig
from tests.support.config import deep_merge, free_port, with_side_ports_off
from tests.support.otlp_sink import OtlpSink
from tests.support.spans import any_value, attrs_of

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
CARRIER = "evaluate_session"


def figures(case: str, **values) -> None:
    """The one line of figures each case prints (pytest -s shows it)."""
    print(json.dumps({"case": case, **values}), flush=True)


# ------------------------------------------------------------------------------------------ building


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def make_span(trace_id: bytes, name: str, parent: bytes = b"", span_id: bytes | None = None, **attrs) -> Span:
    now = time.time_ns()
    return Span(
        trace_id=trace_id,
        span_id=new_span_id() if span_id is None else span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1000,
        attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()],
    )


def make_request(*spans: Span, service_name: str = "fault-app") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[KeyValue(key="service.name", value=any_value(service_name))]),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="fault-test", version="1"), spans=list(spans))],
            )
        ]
    )


def turn_text(session_id: str, turn: int) -> tuple[str, str]:
    return f"question {turn} of {session_id}", f"answer {turn} for {session_id}"


def session_requests(
    session_id: str, turns: int = 3, service_name: str = "fault-app"
) -> list[ExportTraceServiceRequest]:
    """One request per turn (a root span with the session id and an OpenInference LLM child that
    repeats the history), then one request holding the end span."""
    requests = []
    history: list[tuple[str, str]] = []
    for t in range(turns):
        user, assistant = turn_text(session_id, t)
        history.append(("user", user))
        tid = new_trace_id()
        root = make_span(tid, "chat_turn", **{"session.id": session_id})
        attrs = {"openinference.span.kind": "LLM", "session.id": session_id}
        for i, (role, content) in enumerate(history):
            attrs[f"llm.input_messages.{i}.message.role"] = role
            attrs[f"llm.input_messages.{i}.message.content"] = content
        attrs["llm.output_messages.0.message.role"] = "assistant"
        attrs["llm.output_messages.0.message.content"] = assistant
        llm = make_span(tid, "ChatCompletion", parent=root.span_id, **attrs)
        history.append(("assistant", assistant))
        requests.append(make_request(llm, root, service_name=service_name))
    end = make_span(new_trace_id(), "session end", **{"session.id": session_id, "session_status": "completed"})
    requests.append(make_request(end, service_name=service_name))
    return requests


def request_span_ids(requests) -> list[tuple[bytes, bytes]]:
    return [
        (span.trace_id, span.span_id)
        for req in requests
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


# ------------------------------------------------------------------------------------------- sending


def retry_delay(err: grpc.RpcError) -> float | None:
    """RetryInfo from the rich status (grpc-status-details-bin) or the bare trailer."""
    trailers = dict(err.trailing_metadata() or ())
    if "grpc-status-details-bin" in trailers:
        rich = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        for detail in rich.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return info.retry_delay.ToTimedelta().total_seconds()
    if "google.rpc.retryinfo-bin" in trailers:
        info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        return info.retry_delay.ToTimedelta().total_seconds()
    return None


class RawSender:
    """A raw unary Export client. export() answers (code, response | None, details); send() retries
    UNAVAILABLE honouring RetryInfo, as an OTLP exporter does, and counts the UNAVAILABLE answers."""

    def __init__(self, endpoint: str):
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", -1)]
        self.channel = grpc.insecure_channel(endpoint, options=options)
        self._call = self.channel.unary_unary(
            EXPORT, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self.unavailable = 0
        self.retry_info_seen = 0
        self.codes: Counter = Counter()
        self._lock = threading.Lock()

    def export(self, payload, timeout_s: float = 30):
        raw = payload if isinstance(payload, bytes) else payload.SerializeToString()
        try:
            response = self._call(raw, timeout=timeout_s)
        except grpc.RpcError as err:
            with self._lock:
                self.codes[err.code().name] += 1
            return err.code(), None, err
        with self._lock:
            self.codes["OK"] += 1
        return grpc.StatusCode.OK, response, None

    def send(self, payload, give_up_s: float = 60) -> ExportTraceServiceResponse:
        deadline = time.monotonic() + give_up_s
        while True:
            code, response, err = self.export(payload)
            if code == grpc.StatusCode.OK:
                return response
            if code != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise AssertionError(f"export failed: {code.name}: {err.details() if err else ''}")
            delay = retry_delay(err)
            with self._lock:
                self.unavailable += 1
                self.retry_info_seen += delay is not None
            time.sleep(delay if delay is not None else 0.2)

    def close(self) -> None:
        self.channel.close()


# --------------------------------------------------------------------------------------- downstream


def forwarded_span_counts(sink) -> Counter:
    """(trace id, span id) -> how many times the downstream got that span (carriers left out)."""
    return Counter((s.trace_id, s.span_id) for _, _, s in sink.spans() if s.name != CARRIER)


def carrier_counts(sink) -> Counter:
    """session id -> carrier spans the downstream got for it."""
    return Counter(attrs_of(span)["session.id"] for _, _, span in sink.carriers())


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.05) -> float:
    """Poll until predicate() is true; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)
    return time.monotonic() - started


def redis_client(url: str) -> redis.Redis | RedisCluster:
    """A client for a single Redis or, for a redis+cluster:// URL, a Cluster."""
    if RedisConfig(url=url).is_cluster:
        return RedisCluster.from_url(RedisConfig(url=url).client_url)
    return redis.Redis.from_url(url)


def pipeline_idle(client: redis.Redis | RedisCluster, prefix: str) -> bool:
    """No job queued or in flight, no verdict waiting, no session waiting for its settle delay, in
    any shard: nothing more can reach the downstream (entries are deleted when acknowledged)."""
    shards = RedisConfig(cluster=isinstance(client, RedisCluster)).shard_count
    return all(
        client.xlen(shard.jobs) == 0 and client.xlen(shard.outbox) == 0 and client.zcard(shard.due) == 0
        for shard in Keys(prefix, shards).shards
    )


def wait_idle(redis_url: str, prefix: str, timeout_s: float = 30) -> None:
    client = redis_client(redis_url)
    try:
        wait_until(lambda: pipeline_idle(client, prefix), timeout_s, f"the pipeline of {prefix} to drain")
    finally:
        client.close()


# ---------------------------------------------------------------------------- the service, a process


@dataclass
class ServeProcess:
    """`collector-eval serve --config FILE` as a real process, its output in files."""

    config: dict
    workdir: Path
    name: str = "serve"
    env: dict = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None
    runs: int = 0

    def __post_init__(self):
        self.port = self.port or free_port()
        self.config.setdefault("receiver", {}).setdefault("grpc", {})["endpoint"] = f"127.0.0.1:{self.port}"
        # The side listeners' default ports would clash between processes and with a running service.
        self.config = with_side_ports_off(self.config)
        self.config_path = self.workdir / f"{self.name}.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config))

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.{self.runs}.log"

    @property
    def consumer(self) -> str:
        """Its consumer name in the stream groups: each ServeProcess stands for a pod of its own,
        named after it ($HOSTNAME), the same across its restarts."""
        return f"{self.config.get('jobs', {}).get('consumer_name') or self.name}-0"

    def start(self, timeout_s: float = 30) -> ServeProcess:
        self.runs += 1
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collector_eval.cli", "serve", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HOSTNAME": self.name, **self.env},
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"{self.name} never listened on {self.port}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no drain, nothing flushed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.log()}") from None


class GatedSink(OtlpSink):
    """The real OTLP/gRPC downstream, holding every request that carries a verdict until the gate
    opens (a slow downstream), so a test can act while a verdict is in flight."""

    def __init__(self, port: int = 0):
        super().__init__(port)
        self.verdict_waiting = threading.Event()
        self.gate = threading.Event()

    def Export(self, request, context):
        if any(span.name == CARRIER for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans):
            self.verdict_waiting.set()
            self.gate.wait(30)
        return super().Export(request, context)


KEY_ENV = "FAULT_TEST_JUDGE_KEY"
JUDGE_ENV = {KEY_ENV: "sk-fault-test-not-a-real-key"}  # for `serve` processes


def serve_config(redis_url: str, prefix: str, judge, sink, visibility_timeout_s: float | None = 2, **sections) -> dict:
    """A `collector-eval serve` config: fast settle and polling, jobs reclaimed after 2 s
    (visibility_timeout_s=None: the shipped default)."""
    jobs: dict = {"poll_interval_s": 0.05}
    if visibility_timeout_s is not None:
        jobs["visibility_timeout_s"] = visibility_timeout_s
    cfg = with_side_ports_off({}) | {
        "redis": {"url": redis_url, "key_prefix": prefix},
        "session": {"settle_delay_s": 0.2},
        "judge": {"base_url": judge.url, "api_key_env": KEY_ENV, "timeout_s": 30},
        "jobs": jobs,
        "exporters": {"otlp": {"endpoint": sink.endpoint}},
    }
    return deep_merge(cfg, sections)


def unique_prefix(name: str) -> str:
    return f"fault-{name}-{uuid.uuid4().hex[:8]}"


def judge_prompts(judge) -> list[str]:
    return [request["messages"][-1]["content"] for request in judge.requests]


def send_all(sender: RawSender, requests) -> None:
    for request in requests:
        response = sender.send(request)
        assert response == ExportTraceServiceResponse(), response
