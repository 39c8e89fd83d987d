"""The fault-injection suite (issue 3): crashes, Redis and downstream outages, a failing judge, two
replicas on one Redis, and fuzzed requests. Real parts only: redis-server processes, the service as a
real `collector-eval serve` process or in-process (ServiceThread), real gRPC, the real OpenTelemetry
SDK, the real openai client against the local judge server.

Each case asserts that nothing is lost or doubled and prints one JSON line of figures (pytest -s).
Run alone with `make test-faults` (pytest -m fault).
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_eval.sessions.keys import Keys
from collector_eval.sessions.options import JobsConfig
from collector_eval.store.server import EmbeddedRedis
from tests.support.app import (
    event_attrs,
    goal_answer,
    make_provider,
    send_session,
    span_attrs,
)
from tests.support.config import deep_merge, with_side_ports_off
from tests.support.fault_helpers import (
    CARRIER,
    JUDGE_ENV,
    GatedSink,
    RawSender,
    ServeProcess,
    any_value,
    attrs_of,
    carrier_counts,
    figures,
    forwarded_span_counts,
    free_port,
    judge_prompts,
    make_request,
    make_span,
    new_trace_id,
    request_span_ids,
    send_all,
    serve_config,
    session_requests,
    turn_text,
    unique_prefix,
    wait_idle,
    wait_until,
)
from tests.support.judge_server import HttpError
from tests.support.otlp_sink import OtlpSink
from tests.support.wire import encode_varint

OK = grpc.StatusCode.OK
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,  # nothing written into the checkout
    derandomize=True,  # the same examples on every CI run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def start_service(service, **overrides):
    """The in-process service (ServiceThread) of the conftest fixture, on free ports only."""
    overrides = with_side_ports_off(overrides)
    overrides["receiver"] = deep_merge({"grpc": {"endpoint": "127.0.0.1:0"}}, overrides["receiver"])
    return service(**overrides)


def carrier_attrs(sink, session_id: str) -> list[dict]:
    return [a for a in (span_attrs(c) for _, _, c in sink.carriers()) if a["session.id"] == session_id]


def assert_session_judged_once(sink, session_id: str) -> None:
    counts = carrier_counts(sink)
    assert counts[session_id] == 1, f"{session_id}: {counts[session_id]} verdicts"


def assert_still_serving(svc, sink, redis_url: str, name: str) -> int:
    """A normal session after the abuse: accepted, every span forwarded once, judged once."""
    sender = RawSender(svc.endpoint)
    try:
        requests = session_requests(f"sess-after-{name}")
        send_all(sender, requests)
        wait_until(lambda: carrier_counts(sink)[f"sess-after-{name}"] >= 1, 20, f"the verdict of sess-after-{name}")
        wait_idle(redis_url, svc.service.cfg.redis.key_prefix)
        forwarded = forwarded_span_counts(sink)
        for ident in request_span_ids(requests):
            assert forwarded[ident] == 1
        assert_session_judged_once(sink, f"sess-after-{name}")
        return len(request_span_ids(requests))
    finally:
        sender.close()


@pytest.fixture
def aof_redis():
    """A private redis-server with append-only persistence on a free port, restartable with its data."""
    server = EmbeddedRedis(port=free_port(), appendonly=True)
    server.start()
    yield server
    server.stop()


# ------------------------------------------------------------------------------------ 1. SIGKILL


@pytest.mark.fault
def test_kill_while_judging_then_restart_delivers_one_verdict(tmp_path, redis_url, sink, judge):
    judged = threading.Event()
    release = threading.Event()
    calls = itertools.count()

    def slow_then_fast(request):
        if next(calls) == 0:  # the process that gets killed: it never sees this answer
            judged.set()
            release.wait(30)
        return goal_answer(["name the puppy", "list vaccines"], ["book a vet appointment"])

    judge.default = slow_then_fast
    prefix = unique_prefix("kill")
    # The shipped visibility timeout: the restarted process (the same $HOSTNAME, so the same consumer
    # name) takes back its own job at once, without waiting for it.
    cfg = serve_config(redis_url, prefix, judge, sink, visibility_timeout_s=None)
    svc = ServeProcess(cfg, tmp_path, "kill", env=JUDGE_ENV)
    svc.start()
    try:
        provider = make_provider("kill-app", svc.endpoint)
        end = send_session(provider, "sess-kill")
        provider.shutdown()
        assert judged.wait(20), "the judge never got the session"
        svc.kill()
        killed = time.monotonic()
        release.set()
        assert sink.carriers() == []  # killed mid-judging: no verdict yet

        restarted = time.monotonic()
        svc.start()
        listening = time.monotonic() - restarted
        wait_until(lambda: len(sink.carriers()) >= 1, 30, "the verdict after the restart")
        to_verdict = time.monotonic() - killed
        restart_to_verdict = time.monotonic() - restarted
        wait_idle(redis_url, prefix)
        time.sleep(0.3)

        carriers = sink.carriers()
        forwarded = forwarded_span_counts(sink)
        carrier = carriers[0][2]
        attrs = span_attrs(carrier)
        figures(
            "kill_while_judging",
            sessions_sent=1,
            verdicts_delivered=len(carriers),
            judge_calls=len(judge.requests),
            spans_sent=7,
            spans_forwarded=sum(forwarded.values()),
            distinct_spans_forwarded=len(forwarded),
            revision=attrs["collector_eval.revision"],
            seconds_kill_to_verdict=round(to_verdict, 2),
            visibility_timeout_s=JobsConfig().visibility_timeout_s,
            seconds_restart_to_listening=round(listening, 2),
            seconds_restart_to_verdict=round(restart_to_verdict, 2),
        )
        assert restart_to_verdict < 10
        assert len(carriers) == 1
        assert len(judge.requests) == 2  # the killed attempt, and once more after the restart
        assert attrs["session.id"] == "sess-kill"
        assert carrier.parent_span_id == end.get_span_context().span_id.to_bytes(8, "big")
        ev = event_attrs(carrier.events[0])
        assert ev["gen_ai.evaluation.score.label"] == "complete"
        assert ev["gen_ai.evaluation.score.value"] == pytest.approx(2 / 3)
        assert len(forwarded) == 7 and set(forwarded.values()) == {1}
    finally:
        release.set()
        svc.stop()


# ------------------------------------------------------------------------- 2. Redis restarts


@pytest.mark.fault
def test_redis_restart_under_load_loses_nothing(aof_redis, service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = start_service(service, redis={"url": aof_redis.url}, jobs={"visibility_timeout_s": 2})
    prefix = svc.service.cfg.redis.key_prefix
    stop = threading.Event()
    lock = threading.Lock()
    sessions: list[str] = []
    spans: list[tuple[bytes, bytes]] = []

    def sender_loop(worker: int) -> RawSender:
        sender = RawSender(svc.endpoint)
        for i in itertools.count():
            if stop.is_set():
                return sender
            sid = f"sess-redis-{worker}-{i}"
            requests = session_requests(sid)
            for request in requests:
                send_all(sender, [request])
                time.sleep(0.01)
            with lock:
                sessions.append(sid)
                spans.extend(request_span_ids(requests))
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(sender_loop, w) for w in range(4)]
        time.sleep(1.0)
        before_outage = len(sessions)
        aof_redis.stop(keep_dir=True)  # SIGTERM: the append-only file is flushed
        time.sleep(2.0)
        aof_redis.start()
        time.sleep(1.0)
        stop.set()
        senders = [f.result(timeout=120) for f in futures]

    wait_until(lambda: len(sink.carriers()) >= len(sessions), 60, "a verdict for every session")
    wait_idle(aof_redis.url, prefix)
    time.sleep(0.3)
    forwarded = forwarded_span_counts(sink)
    verdicts = carrier_counts(sink)
    figures(
        "redis_restart_under_load",
        sessions_sent=len(sessions),
        sessions_sent_before_outage=before_outage,
        verdicts_delivered=sum(verdicts.values()),
        spans_sent=len(spans),
        spans_forwarded=sum(forwarded.values()),
        unavailable_answers=sum(s.unavailable for s in senders),
        unavailable_with_retry_info=sum(s.retry_info_seen for s in senders),
        service_refused_unavailable=svc.service.receiver.stats.refused_unavailable,
        judge_calls=len(judge.requests),
        outbox_published=svc.service.publisher.published,
        outbox_redis_errors=getattr(svc.service.publisher, "redis_errors", None),
        doubled={
            sid: sorted((a["collector_eval.revision"], a["collector_eval.trigger"]) for a in carrier_attrs(sink, sid))
            for sid, n in verdicts.items()
            if n > 1
        },
    )
    for s in senders:
        s.close()
    assert sum(s.unavailable for s in senders) > 0, "the senders never saw the outage"
    assert sum(s.retry_info_seen for s in senders) == sum(s.unavailable for s in senders)
    assert set(forwarded) == set(spans), "spans lost or invented"
    assert set(forwarded.values()) == {1}, "spans forwarded twice"
    assert verdicts == {sid: 1 for sid in sessions}


@pytest.mark.fault
def test_redis_down_while_a_verdict_is_in_flight_publishes_it_once(aof_redis, service, judge, redis_url):
    """Case 2, its narrow window made wide: Redis stops while the downstream is taking a verdict,
    so the verdict is delivered but its outbox entry cannot be acknowledged."""
    judge.default = goal_answer(["a"], [])
    gated = GatedSink().start()
    try:
        svc = start_service(
            service,
            redis={"url": aof_redis.url},
            jobs={"visibility_timeout_s": 2},
            exporters={"otlp": {"endpoint": gated.endpoint}},
        )
        prefix = svc.service.cfg.redis.key_prefix
        sender = RawSender(svc.endpoint)
        requests = session_requests("sess-in-flight")
        send_all(sender, requests)
        sender.close()
        assert gated.verdict_waiting.wait(20), "no verdict reached the downstream"
        aof_redis.stop(keep_dir=True)
        gated.gate.set()  # the downstream accepts the verdict while Redis is down
        wait_until(lambda: len(gated.carriers()) == 1, 10, "the verdict accepted downstream")
        time.sleep(2.0)  # longer than the Redis client's own retries of the acknowledgement
        aof_redis.start()
        wait_idle(aof_redis.url, prefix, timeout_s=30)
        time.sleep(0.3)
        forwarded = forwarded_span_counts(gated)
        figures(
            "redis_down_verdict_in_flight",
            sessions_sent=1,
            verdicts_delivered=len(gated.carriers()),
            revisions=[span_attrs(c)["collector_eval.revision"] for _, _, c in gated.carriers()],
            outbox_published=svc.service.publisher.published,
            judge_calls=len(judge.requests),
            spans_sent=len(request_span_ids(requests)),
            spans_forwarded=sum(forwarded.values()),
        )
        assert set(forwarded) == set(request_span_ids(requests)) and set(forwarded.values()) == {1}
        assert len(judge.requests) == 1
        assert len(gated.carriers()) == 1, "the verdict was delivered again after Redis came back"
    finally:
        gated.gate.set()
        gated.stop()


@pytest.mark.fault
def test_retry_of_an_acknowledged_end_request_after_the_verdict_changes_nothing(service, sink, judge, redis_url):
    """A sender that lost an acknowledgement (a deadline, a dropped connection) sends the same bytes
    again; when the retry lands after the verdict, it still must not judge the session again
    ("the same end span again (a client retry, a second replica) changes nothing")."""
    judge.default = goal_answer(["a"], [])
    svc = start_service(service)
    sender = RawSender(svc.endpoint)
    requests = session_requests("sess-retry")
    send_all(sender, requests)
    wait_until(lambda: len(sink.carriers()) == 1, 20, "the verdict")
    send_all(sender, [requests[-1]])  # the end span's request again, byte for byte
    time.sleep(1.0)  # settle delay 0.2 s, poll 0.05 s: a second verdict would be out by now
    wait_idle(redis_url, svc.service.cfg.redis.key_prefix)
    sender.close()
    carriers = carrier_attrs(sink, "sess-retry")
    figures(
        "retried_end_request_after_verdict",
        sessions_sent=1,
        verdicts_delivered=len(carriers),
        verdicts=[(a["collector_eval.revision"], a["collector_eval.trigger"]) for a in carriers],
        judge_calls=len(judge.requests),
        spans_sent=len(request_span_ids(requests)),
        span_sends_including_retry=len(request_span_ids(requests)) + 1,
        spans_forwarded=sum(forwarded_span_counts(sink).values()),
    )
    assert len(carriers) == 1, f"a client retry judged the session again: {carriers[1:]}"
    assert len(judge.requests) == 1


# ------------------------------------------------------------------------ 3. downstream outage


@pytest.mark.fault
def test_downstream_down_30s_everything_arrives_after(service, sink, judge, redis_url):
    judge.default = goal_answer(["a"], [])
    svc = start_service(service)
    prefix = svc.service.cfg.redis.key_prefix
    port = sink.port
    sink.stop()
    down_at = time.monotonic()
    sender = RawSender(svc.endpoint)
    sessions = [f"sess-downstream-{i}" for i in range(5)]
    requests = []
    for sid in sessions:
        session = session_requests(sid)
        send_all(sender, session)
        requests += session
    sender.close()
    spans = request_span_ids(requests)
    wait_until(lambda: len(judge.requests) == len(sessions), 20, "every session judged during the outage")
    client = redis.Redis.from_url(redis_url)
    wait_until(lambda: client.xlen(Keys(prefix).shards[0].outbox) == len(sessions), 10, "the verdicts in the outbox")
    waiting_in_outbox = client.xlen(Keys(prefix).shards[0].outbox)
    client.close()

    time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
    revived = OtlpSink(port).start()
    up_at = time.monotonic()
    try:
        spans_s = wait_until(
            lambda: len(forwarded_span_counts(revived)) >= len(spans), 90, "every span after the outage"
        )
        verdicts_s = wait_until(lambda: len(revived.carriers()) >= len(sessions), 90, "every verdict after the outage")
        verdicts_s += spans_s
        wait_idle(redis_url, prefix)
        time.sleep(0.5)
        forwarded = forwarded_span_counts(revived)
        verdicts = carrier_counts(revived)
        figures(
            "downstream_down_30s",
            outage_s=round(up_at - down_at, 1),
            sessions_sent=len(sessions),
            verdicts_waiting_in_outbox=waiting_in_outbox,
            verdicts_delivered=sum(verdicts.values()),
            spans_sent=len(spans),
            spans_forwarded=sum(forwarded.values()),
            seconds_back_to_all_spans=round(spans_s, 1),
            seconds_back_to_all_verdicts=round(verdicts_s, 1),
            judge_calls=len(judge.requests),
        )
        assert set(forwarded) == set(spans) and set(forwarded.values()) == {1}
        assert verdicts == {sid: 1 for sid in sessions}
        assert len(judge.requests) == len(sessions)
    finally:
        revived.stop()


# --------------------------------------------------------------------------- 4. a bad judge


@pytest.mark.fault
def test_judge_500_then_garbage_then_good_gives_one_correct_verdict(service, sink, judge, redis_url):
    judge.push(
        HttpError(500, {"error": {"message": "the judge is overloaded"}}),
        "Sure! The user seemed satisfied, I'd say 8/10.",
        goal_answer(["name the puppy", "list vaccines"], ["book a vet appointment"]),
    )
    judge.default = None  # a fourth call would be answered 500
    svc = start_service(service, judge={"max_retries": 2})
    sender = RawSender(svc.endpoint)
    requests = session_requests("sess-bad-judge")
    send_all(sender, requests)
    sender.close()
    wait_until(lambda: len(sink.carriers()) >= 1, 20, "the verdict")
    wait_idle(redis_url, svc.service.cfg.redis.key_prefix)
    time.sleep(0.3)
    forwarded = forwarded_span_counts(sink)
    carriers = sink.carriers()
    carrier = carriers[0][2]
    ev = event_attrs(carrier.events[0])
    figures(
        "judge_500_garbage_good",
        sessions_sent=1,
        verdicts_delivered=len(carriers),
        judge_calls=len(judge.requests),
        spans_sent=len(request_span_ids(requests)),
        spans_forwarded=sum(forwarded.values()),
        score=ev.get("gen_ai.evaluation.score.value"),
        label=ev.get("gen_ai.evaluation.score.label"),
    )
    assert len(carriers) == 1
    assert len(judge.requests) == 3
    assert "error.type" not in ev
    assert ev["collector_eval.evaluation.status"] == "ok"
    assert ev["gen_ai.evaluation.score.label"] == "complete"
    assert ev["gen_ai.evaluation.score.value"] == pytest.approx(2 / 3)
    assert carrier.status.code != carrier.status.STATUS_CODE_ERROR
    # The garbage answer was shown back to the judge with what was wrong with it.
    assert any("not usable" in m["content"] for m in judge.requests[2]["messages"])
    assert set(forwarded) == set(request_span_ids(requests)) and set(forwarded.values()) == {1}


# --------------------------------------------------------------- 5. two processes, one Redis


@pytest.mark.fault
def test_two_processes_share_one_redis_each_session_judged_once(tmp_path, redis_url, sink, judge):
    judge.default = goal_answer(["a"], ["b"])
    cfg = serve_config(redis_url, unique_prefix("shared"), judge, sink)
    procs = [ServeProcess(copy.deepcopy(cfg), tmp_path, name, env=JUDGE_ENV) for name in ("a", "b")]
    for proc in procs:
        proc.start()
    senders = [RawSender(proc.endpoint) for proc in procs]
    try:
        sessions = [f"sess-shared-{i:02d}" for i in range(12)]
        spans = []
        for i, sid in enumerate(sessions):
            requests = session_requests(sid)
            spans += request_span_ids(requests)
            for j, request in enumerate(requests):
                # Turns alternate between the processes; the end span lands on either.
                send_all(senders[(i + j) % 2], [request])
        wait_until(lambda: len(sink.carriers()) >= len(sessions), 30, "a verdict for every session")
        wait_idle(redis_url, cfg["redis"]["key_prefix"])
        time.sleep(0.5)
        forwarded = forwarded_span_counts(sink)
        verdicts = carrier_counts(sink)
        prompts = judge_prompts(judge)
        figures(
            "two_processes_one_redis",
            sessions_sent=len(sessions),
            verdicts_delivered=sum(verdicts.values()),
            judge_calls=len(judge.requests),
            spans_sent=len(spans),
            spans_forwarded=sum(forwarded.values()),
            requests_per_process=[s.codes["OK"] for s in senders],
        )
        assert verdicts == {sid: 1 for sid in sessions}
        assert len(judge.requests) == len(sessions)
        assert set(forwarded) == set(spans) and set(forwarded.values()) == {1}
        for sid in sessions:
            # The session judged whole: the turns sent to either process are in its one transcript.
            (prompt,) = [p for p in prompts if turn_text(sid, 0)[0] in p]
            for t in range(3):
                assert all(text in prompt for text in turn_text(sid, t))
    finally:
        for s in senders:
            s.close()
        codes = [proc.stop() for proc in procs]
    assert codes == [0, 0], [proc.log() for proc in procs]


# ------------------------------------------------------------------ 6. fuzzed and malformed input


def _key(field_no: int, wire_type: int) -> bytes:
    return encode_varint(field_no << 3 | wire_type)


def _len_field(field_no: int, body: bytes) -> bytes:
    return _key(field_no, 2) + encode_varint(len(body)) + body


_field_numbers = st.integers(1, 6) | st.integers(7, 20)
_leaf_fields = st.one_of(
    st.builds(lambda n, v: _key(n, 0) + encode_varint(v), _field_numbers, st.integers(0, 2**64 - 1)),
    st.builds(lambda n, v: _key(n, 1) + v, _field_numbers, st.binary(min_size=8, max_size=8)),
    st.builds(lambda n, v: _key(n, 5) + v, _field_numbers, st.binary(min_size=4, max_size=4)),
    st.builds(_len_field, _field_numbers, st.binary(max_size=24)),
    st.builds(_len_field, _field_numbers, st.text(max_size=16).map(str.encode)),
    st.builds(_len_field, _field_numbers, st.binary(min_size=16, max_size=16)),  # a plausible trace id
    st.builds(lambda n: _key(n, 3) + _key(n, 4), _field_numbers),  # an (empty) group
)
# Any well-formed protobuf wire message: known field numbers with any wire type, at any depth.
WIRE_MESSAGES = st.recursive(
    st.lists(_leaf_fields, max_size=3).map(b"".join),
    lambda inner: st.lists(_leaf_fields | st.builds(_len_field, _field_numbers, inner), max_size=4).map(b"".join),
    max_leaves=24,
)


def _other_message_types() -> list[bytes]:
    """Valid messages of other types sent as an ExportTraceServiceRequest."""
    resource = Resource(attributes=[KeyValue(key="service.name", value=any_value("fuzz"))])
    logs = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource,
                scope_logs=[
                    ScopeLogs(
                        scope=InstrumentationScope(name="s"),
                        log_records=[LogRecord(time_unix_nano=1, severity_text="INFO", body=any_value("hello"))],
                    )
                ],
            )
        ]
    )
    metrics = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=resource,
                scope_metrics=[
                    ScopeMetrics(metrics=[Metric(name="m", gauge=Gauge(data_points=[NumberDataPoint(as_int=3)]))])
                ],
            )
        ]
    )
    span = make_span(new_trace_id(), "bare span", **{"session.id": "fuzz"})
    return [
        logs.SerializeToString(),
        metrics.SerializeToString(),
        ExportTraceServiceResponse(partial_success=ExportTracePartialSuccess(rejected_spans=3)).SerializeToString(),
        span.SerializeToString(),
        resource.SerializeToString(),
        ResourceSpans(resource=resource).SerializeToString(),
        b"\x08\x01",  # field 1 (resource_spans) as a varint
        _key(1, 1) + b"\x00" * 8,  # ... as a fixed64
        _len_field(1, _key(2, 0) + b"\x05"),  # scope_spans as a varint
        _len_field(1, _len_field(2, _key(2, 5) + b"\x00" * 4)),  # spans as a fixed32
        _key(9, 3) + _key(9, 4),  # an unknown group
    ]


def _fuzz_service(service, **overrides):
    return start_service(service, receiver={"grpc": {"max_recv_msg_size_mib": 1}}, **overrides)


def _check_answer(code, response, err, allowed) -> None:
    assert code in allowed, f"answered {code.name}: {err.details() if err else ''}"
    if code == OK:
        assert isinstance(response, ExportTraceServiceResponse)


@pytest.mark.fault
def test_fuzz_random_bytes_and_wrong_field_types(service, sink, judge, redis_url):
    """Random bytes are INVALID_ARGUMENT; any decodable message (other message types, known fields
    with the wrong wire type, unknown fields and groups) is OK (maybe with partial_success) or
    INVALID_ARGUMENT; never an internal error (UNKNOWN)."""
    judge.default = goal_answer(["a"], [])
    svc = _fuzz_service(service)
    sender = RawSender(svc.endpoint)
    failures: list[str] = []
    outcomes = {"random": [], "wire": [], "types": []}

    def check(kind: str, payload: bytes) -> None:
        code, response, err = sender.export(payload)
        try:
            ExportTraceServiceRequest.FromString(payload)
            decodable = True
        except Exception:
            decodable = False
        outcomes[kind].append(code.name if decodable or code != INVALID_ARGUMENT else "INVALID_ARGUMENT (undecodable)")
        # Decodable: accepted, or refused as INVALID_ARGUMENT where the span slicer cannot follow
        # the bytes (known fields with another wire type); never an internal error.
        allowed = {OK, INVALID_ARGUMENT} if decodable else {INVALID_ARGUMENT}
        if code not in allowed:
            failures.append(f"{kind} {payload[:48].hex()}…: {code.name} {err.details() if err else ''}")
        _check_answer(code, response, err, allowed)

    @FUZZ
    @given(st.binary(max_size=2048))
    def random_bytes(payload):
        check("random", payload)

    @FUZZ
    @given(WIRE_MESSAGES)
    def wire_messages(payload):
        check("wire", payload)

    errors = []
    runs = [random_bytes, wire_messages] + [lambda p=p: check("types", p) for p in _other_message_types()]
    for run in runs:
        try:
            run()
        except Exception as exc:  # report after checking the service still serves (hypothesis may raise a group)
            errors.append(exc)
    spans_after = assert_still_serving(svc, sink, redis_url, "fuzz-bytes")
    sender.close()
    figures(
        "fuzz_random_bytes_wrong_types",
        requests_sent=sum(len(v) for v in outcomes.values()),
        answers={k: dict(sorted({c: v.count(c) for c in set(v)}.items())) for k, v in outcomes.items()},
        wrong_answers=len(failures),
        first_wrong_answers=failures[:3],
        sessions_sent=1,
        verdicts_delivered=sum(carrier_counts(sink).values()),
        spans_sent_after=spans_after,
    )
    assert not errors, errors[0]


_UTF8_LOCATIONS = ["span name", "attribute key", "attribute value", "resource attribute", "scope name", "event name"]


def _bad_utf8_request(location: str, bad: bytes) -> bytes:
    """A valid request whose string field at `location` holds `bad` (invalid UTF-8), built by
    swapping a placeholder of the same length, so every length prefix stays right."""
    for char in "~`^|Q":
        marker = char * len(bad)
        raw = _utf8_template(location, marker)
        if raw.count(marker.encode()) == 1:  # the placeholder is nowhere else in the encoding
            return raw.replace(marker.encode(), bad)
    raise AssertionError("no free placeholder")


def _utf8_template(location: str, marker: str) -> bytes:
    tid = b"\x01" * 16
    names = {loc: "ok" for loc in _UTF8_LOCATIONS}
    names[location] = marker
    span = Span(
        trace_id=tid,
        span_id=b"\x02" * 8,
        name=names["span name"],
        attributes=[
            KeyValue(key="session.id", value=any_value("sess-utf8")),
            KeyValue(key=names["attribute key"], value=any_value(names["attribute value"])),
        ],
        events=[Span.Event(name=names["event name"], time_unix_nano=1)],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=any_value(names["resource attribute"]))]
                ),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name=names["scope name"]), spans=[span])],
            )
        ]
    )
    return request.SerializeToString()


def _invalid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.fault
def test_fuzz_invalid_utf8_in_string_fields_is_invalid_argument(service, sink, judge, redis_url):
    judge.default = goal_answer(["a"], [])
    svc = _fuzz_service(service)
    sender = RawSender(svc.endpoint)
    answers = []
    bad_bytes = st.one_of(
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"ab\x80cd"]),
        st.binary(min_size=1, max_size=24).filter(_invalid_utf8),
    )

    @FUZZ
    @given(st.sampled_from(_UTF8_LOCATIONS), bad_bytes)
    def bad_utf8(location, bad):
        code, response, err = sender.export(_bad_utf8_request(location, bad))
        answers.append(code.name)
        _check_answer(code, response, err, {INVALID_ARGUMENT})

    error = None
    try:
        bad_utf8()
    except Exception as exc:
        error = exc
    time.sleep(0.3)
    leaked = len(forwarded_span_counts(sink))  # nothing of a refused request goes downstream
    spans_after = assert_still_serving(svc, sink, redis_url, "utf8")
    sender.close()
    figures(
        "fuzz_invalid_utf8",
        requests_sent=len(answers),
        answers={c: answers.count(c) for c in set(answers)},
        spans_forwarded_from_refused=leaked,
        sessions_sent=1,
        verdicts_delivered=sum(carrier_counts(sink).values()),
        spans_sent_after=spans_after,
    )
    if error:
        raise error
    assert leaked == 0
    assert "sess-utf8" not in carrier_counts(sink)


@pytest.mark.fault
def test_huge_attribute_values_over_the_limit_are_resource_exhausted(service, sink, judge, redis_url):
    judge.default = goal_answer(["a"], [])
    svc = _fuzz_service(service)
    limit = 1 << 20
    sender = RawSender(svc.endpoint)
    accepted: dict[str, int] = {}
    answers = []

    def huge_request(size: int, name: str) -> bytes:
        return make_request(make_span(new_trace_id(), name, big="x" * size)).SerializeToString()

    overhead = len(huge_request(0, "huge-000000"))

    @settings(FUZZ, max_examples=12)
    @given(st.integers(limit - 2048, limit + 2048) | st.sampled_from([1000, limit // 2, 2 * limit, 8 * limit]))
    def huge(total):
        name = f"huge-{len(answers):06d}"
        raw = huge_request(max(total - overhead, 0), name)
        code, response, err = sender.export(raw)
        answers.append((len(raw), code.name))
        expected = OK if len(raw) <= limit else RESOURCE_EXHAUSTED
        _check_answer(code, response, err, {expected})
        if code == OK:
            assert response == ExportTraceServiceResponse()
            accepted[name] = max(total - overhead, 0)

    huge()
    # Below the limit, a huge value in a session's message: accepted, and the session judged once.
    content = "word " * (900_000 // 5)
    tid = new_trace_id()
    session = [
        make_request(
            make_span(
                tid,
                "ChatCompletion",
                **{
                    "session.id": "sess-huge",
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": "summarise this: " + content,
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "It is the word 'word', many times.",
                },
            )
        ),
        make_request(make_span(new_trace_id(), "end", **{"session.id": "sess-huge", "session_status": "completed"})),
    ]
    send_all(sender, session)
    wait_until(lambda: carrier_counts(sink)["sess-huge"] >= 1, 30, "the verdict of sess-huge")
    wait_until(
        lambda: len([s for _, _, s in sink.spans() if s.name.startswith("huge-")]) >= len(accepted),
        20,
        "the accepted huge spans downstream",
    )
    wait_idle(redis_url, svc.service.cfg.redis.key_prefix)
    forwarded = {s.name: attrs_of(s)["big"] for _, _, s in sink.spans() if s.name.startswith("huge-")}
    huge_prompt = max(len(p) for p in judge_prompts(judge))
    spans_after = assert_still_serving(svc, sink, redis_url, "huge")
    sender.close()
    figures(
        "huge_attribute_values",
        limit_bytes=limit,
        requests_sent=len(answers),
        accepted=sum(1 for _, c in answers if c == "OK"),
        resource_exhausted=sum(1 for _, c in answers if c == "RESOURCE_EXHAUSTED"),
        largest_accepted=max((n for n, c in answers if c == "OK"), default=0),
        smallest_refused=min((n for n, c in answers if c != "OK"), default=0),
        huge_spans_forwarded=len(forwarded),
        sessions_sent=2,
        verdicts_delivered=sum(carrier_counts(sink).values()),
        judge_calls=len(judge.requests),
        huge_session_judge_prompt_chars=huge_prompt,
        spans_sent_after=spans_after,
    )
    assert {name: len(value) for name, value in forwarded.items()} == accepted  # intact, each once
    assert carrier_counts(sink) == {"sess-huge": 1, "sess-after-huge": 1}
    assert len(judge.requests) == 2
    # The issue: "attribute values entering the transcript are capped"; a 900 KB message must not
    # go to the judge whole (judge.max_input_tokens defaults to 12000 tokens, ~50 KB of text).
    assert huge_prompt < 200_000, f"the judge got a {huge_prompt}-character prompt"


@pytest.mark.fault
def test_ten_thousand_span_sessions(service, sink, judge, redis_url):
    """10,000 spans: accepted and judged once; one span over session.max_spans (10000): truncated."""
    judge.default = goal_answer(["a"], [])
    svc = start_service(service)
    assert svc.service.cfg.session.max_spans == 10_000
    sender = RawSender(svc.endpoint)
    sent: list[tuple[bytes, bytes]] = []
    started = time.monotonic()
    for sid, extra in (("sess-10k", 0), ("sess-10k-plus-1", 1)):
        user, assistant = turn_text(sid, 0)
        requests = []
        for batch in range(10):
            tid = new_trace_id()
            spans = [make_span(tid, f"step {batch}.{i}", **{"session.id": sid}) for i in range(1000)]
            if batch == 0:
                spans[0] = make_span(
                    tid,
                    "ChatCompletion",
                    **{
                        "session.id": sid,
                        "llm.input_messages.0.message.role": "user",
                        "llm.input_messages.0.message.content": user,
                        "llm.output_messages.0.message.role": "assistant",
                        "llm.output_messages.0.message.content": assistant,
                    },
                )
            if batch == 9 and not extra:
                spans[-1] = make_span(tid, "session end", **{"session.id": sid, "session_status": "completed"})
            requests.append(make_request(*spans))
        if extra:
            end = make_span(new_trace_id(), "session end", **{"session.id": sid, "session_status": "completed"})
            requests.append(make_request(end))
        send_all(sender, requests)
        sent += request_span_ids(requests)
    sender.close()
    wait_until(lambda: len(sink.carriers()) >= 2, 60, "both verdicts")
    wait_idle(redis_url, svc.service.cfg.redis.key_prefix)
    wait_until(lambda: len(forwarded_span_counts(sink)) >= len(sent), 30, "every span downstream")
    elapsed = time.monotonic() - started
    time.sleep(0.3)
    forwarded = forwarded_span_counts(sink)
    carriers = {span_attrs(c)["session.id"]: span_attrs(c) for _, _, c in sink.carriers()}
    figures(
        "ten_thousand_span_sessions",
        sessions_sent=2,
        verdicts_delivered=len(sink.carriers()),
        spans_sent=len(sent),
        spans_forwarded=sum(forwarded.values()),
        judged_spans={sid: a["collector_eval.session.spans"] for sid, a in carriers.items()},
        truncated={sid: a["collector_eval.session.truncated"] for sid, a in carriers.items()},
        judge_calls=len(judge.requests),
        seconds=round(elapsed, 1),
    )
    assert carrier_counts(sink) == {"sess-10k": 1, "sess-10k-plus-1": 1}
    assert len(judge.requests) == 2
    assert set(forwarded) == set(sent) and set(forwarded.values()) == {1}
    assert carriers["sess-10k"]["collector_eval.session.spans"] == 10_000
    assert carriers["sess-10k"]["collector_eval.session.truncated"] is False
    assert carriers["sess-10k-plus-1"]["collector_eval.session.truncated"] is True
    assert carriers["sess-10k-plus-1"]["collector_eval.session.spans"] <= 10_000


@pytest.mark.fault
def test_missing_ids(service, sink, judge, redis_url):
    """No session id: forwarded, never judged (an end marker included). A trace id that is not 16
    bytes: that span refused through partial_success, the others of the request accepted."""
    judge.default = goal_answer(["a"], [])
    svc = _fuzz_service(service)
    sender = RawSender(svc.endpoint)
    counter = itertools.count()
    expect_forwarded: set[str] = set()
    expect_refused: set[str] = set()
    rejected_total = 0

    # Spans of one trace with no session id anywhere, one of them with the end marker.
    tid = new_trace_id()
    orphans = [make_span(tid, f"orphan-{i}") for i in range(3)]
    orphans.append(make_span(tid, "orphan-end", session_status="completed"))
    assert sender.send(make_request(*orphans)) == ExportTraceServiceResponse()
    expect_forwarded |= {s.name for s in orphans}

    @settings(FUZZ, max_examples=40)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from([0, 1, 8, 15, 16, 16, 16, 17, 32]),  # trace id length
                st.sampled_from([None, "sess-fuzz-ids", "x" * 300]),  # session id (over 256: refused)
                st.sampled_from([0, 8]),  # span id length
            ),
            min_size=1,
            max_size=8,
        )
    )
    def mixed(specs):
        nonlocal rejected_total
        spans, refused = [], 0
        for tid_len, sid, sid_len in specs:
            name = f"fz-{next(counter)}"
            attrs = {"session.id": sid} if sid else {}
            spans.append(make_span(os.urandom(tid_len), name, span_id=os.urandom(sid_len), **attrs))
            if tid_len != 16 or (sid is not None and len(sid) > 256):
                refused += 1
                expect_refused.add(name)
            else:
                expect_forwarded.add(name)
        code, response, err = sender.export(make_request(*spans))
        _check_answer(code, response, err, {OK})
        assert response.partial_success.rejected_spans == refused
        assert bool(response.partial_success.error_message) == bool(refused)
        rejected_total += refused

    error = None
    try:
        mixed()
    except Exception as exc:
        error = exc
    spans_after = assert_still_serving(svc, sink, redis_url, "ids")
    time.sleep(0.5)  # well past the settle delay: the id-less end marker must not have been judged
    names = [s.name for _, _, s in sink.spans() if s.name != CARRIER]
    sender.close()
    figures(
        "missing_ids",
        spans_sent=len(expect_forwarded) + len(expect_refused),
        spans_accepted=len(expect_forwarded),
        rejected_via_partial_success=rejected_total,
        spans_forwarded=len([n for n in names if n in expect_forwarded]),
        refused_but_forwarded=len([n for n in names if n in expect_refused]),
        sessions_sent=1,
        verdicts_delivered=sum(carrier_counts(sink).values()),
        spans_sent_after=spans_after,
    )
    if error:
        raise error
    forwarded = {n: names.count(n) for n in set(names) if n in expect_forwarded}
    assert forwarded == {n: 1 for n in expect_forwarded}
    assert not set(names) & expect_refused
    # Only the normal session and the fuzzed one with a valid id ("sess-fuzz-ids" never ended) count.
    assert carrier_counts(sink) == {"sess-after-ids": 1}
