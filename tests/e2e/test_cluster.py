"""Past one machine: two `collector-eval serve` processes on a 3-node Redis Cluster on loopback, spans
of one session sent to either, one process killed mid-load. Every session is judged exactly once
and every span forwarded (at least once); the sessions and queues are spread over all three nodes. The control API
and metrics of a service on the Cluster see every node."""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from redis.crc import key_slot

from collector_eval.evaluation.worker import GROUP as EVALUATORS
from collector_eval.model import SessionKey
from collector_eval.sessions.keys import Keys, shard_tags
from collector_eval.store.options import RedisConfig
from collector_eval.v1 import control_pb2 as pb
from tests.support.app import goal_answer, span_attrs
from tests.support.control import TENANT, send_turns
from tests.support.fault_helpers import (
    JUDGE_ENV,
    RawSender,
    ServeProcess,
    attrs_of,
    carrier_counts,
    figures,
    forwarded_span_counts,
    judge_prompts,
    make_request,
    make_span,
    redis_client,
    request_span_ids,
    send_all,
    serve_config,
    session_requests,
    turn_text,
    unique_prefix,
    wait_idle,
    wait_until,
)
from tests.support.metrics import scrape

SESSIONS = 24
JUDGE_DELAY_S = 0.5  # long enough that the process killed is caught holding jobs


def _without(span: Span, attribute: str) -> Span:
    copied = Span()
    copied.CopyFrom(span)
    del copied.attributes[:]
    copied.attributes.extend(kv for kv in span.attributes if kv.key != attribute)
    return copied


def spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def cluster_session_requests(i: int, session_id: str) -> list[ExportTraceServiceRequest]:
    """The requests of one session. Some send a trace's spans before any span names the session, so
    the trace waits in its own shard (on a Cluster, most often another node) and joins later."""
    requests = session_requests(session_id)
    if i % 4 == 1:
        # Turn 0's LLM span first and alone, without the session id; its root (with the id) after.
        llm, root = spans_of(requests[0])
        requests[0:1] = [make_request(_without(llm, "session.id")), make_request(root)]
    elif i % 4 == 2:
        # The end span without the session id; a later span of its trace names the session, and the
        # end span waiting in the trace's shard must then end the session in its own shard.
        (end,) = spans_of(requests[-1])
        handoff = make_span(end.trace_id, "handoff", **{"session.id": session_id})
        requests[-1:] = [make_request(_without(end, "session.id")), make_request(handoff)]
    return requests


def carrier_ids(sink) -> dict[str, set[tuple[bytes, bytes]]]:
    """session id -> the distinct carrier spans (trace id, span id) the downstream got for it."""
    ids: dict[str, set[tuple[bytes, bytes]]] = {}
    for _, _, span in sink.carriers():
        ids.setdefault(attrs_of(span)["session.id"], set()).add((span.trace_id, span.span_id))
    return ids


def pending_of(client, keys: Keys, consumer: str) -> int:
    """Jobs a consumer of this process has taken and not acknowledged, over every shard."""
    taken = 0
    for shard in keys.shards:
        if client.exists(shard.jobs):
            for entry in client.xpending_range(shard.jobs, EVALUATORS, "-", "+", 1000):
                taken += entry["consumer"].decode() == consumer
    return taken


def test_two_replicas_on_a_cluster_one_killed_mid_load(tmp_path, redis_cluster_url, sink, judge):
    answer = goal_answer(["a"], ["b"])
    judge.default = lambda request: (time.sleep(JUDGE_DELAY_S), answer)[1]
    prefix = unique_prefix("cluster")
    # Acknowledged once forwarded: a process killed mid-load holds no span it acknowledged.
    cfg = serve_config(redis_cluster_url, prefix, judge, sink, receiver={"acknowledge": "forwarded"})
    keys = Keys(prefix, RedisConfig(url=redis_cluster_url).shard_count)
    procs = [ServeProcess(copy.deepcopy(cfg), tmp_path, name, env=JUDGE_ENV) for name in ("a", "b")]
    for proc in procs:
        proc.start()
    senders = [RawSender(proc.endpoint) for proc in procs]
    client = redis_client(redis_cluster_url)
    sessions = [f"sess-cluster-{i:02d}" for i in range(SESSIONS)]
    plans = [cluster_session_requests(i, sid) for i, sid in enumerate(sessions)]
    spans = [ident for requests in plans for ident in request_span_ids(requests)]
    # Session after session, each session's requests in order, every other request to either process.
    sequence = [request for requests in plans for request in requests]
    killed = threading.Event()
    progress = {"sent": 0, "failed_over": 0}

    def send_everything() -> None:
        for k, request in enumerate(sequence):
            to = 1 if killed.is_set() else k % 2
            code, _, _ = senders[to].export(request)
            if code != grpc.StatusCode.OK:
                # The process died under this request: the sender tries the other one, as an
                # exporter behind a load balancer would.
                progress["failed_over"] += 1
                send_all(senders[1], [request])
            progress["sent"] += 1
            time.sleep(0.01)

    sender = threading.Thread(target=send_everything)
    sender.start()
    try:
        # The kill comes while requests are still going to both processes, once process a is judging.
        wait_until(lambda: progress["sent"] >= len(sequence) // 3, 30, "a third of the requests sent")
        wait_until(lambda: pending_of(client, keys, procs[0].consumer) > 0, 10, "process a to hold a job")
        held, sent_before_kill = pending_of(client, keys, procs[0].consumer), progress["sent"]
        killed.set()
        procs[0].kill()
        sender.join(60)
        assert not sender.is_alive()
        wait_until(lambda: len(carrier_ids(sink)) >= SESSIONS, 60, "a verdict for every session")
        wait_idle(redis_cluster_url, prefix)
        time.sleep(0.5)  # anything doubled would arrive now
        # A verdict the process killed had delivered but not yet acknowledged in the outbox is
        # delivered again by the survivor (the outbox is at least once), as the same span: a
        # downstream keeping one span per id sees one verdict. So count carrier spans by id.
        verdicts = Counter({sid: len(ids) for sid, ids in carrier_ids(sink).items()})
        deliveries = carrier_counts(sink)
        forwarded = forwarded_span_counts(sink)
        prompts = judge_prompts(judge)
        session_keys = [keys.session(SessionKey("fault-app", sid)) for sid in sessions]
        assert all(client.exists(key) for key in session_keys)
        session_nodes = {client.get_node_from_key(key).name for key in session_keys}
        queue_nodes = {client.get_node_from_key(shard.jobs).name for shard in keys.shards}
        figures(
            "cluster_two_replicas_one_killed",
            sessions_sent=len(sessions),
            requests=len(sequence),
            requests_sent_before_the_kill=sent_before_kill,
            requests_failed_over=progress["failed_over"],
            jobs_held_by_the_killed_process=held,
            verdicts=sum(verdicts.values()),
            verdict_deliveries=sum(deliveries.values()),
            judge_calls=len(judge.requests),
            spans_sent=len(spans),
            spans_forwarded=sum(forwarded.values()),
            spans_forwarded_twice=sum(1 for n in forwarded.values() if n > 1),
            nodes_holding_sessions=len(session_nodes),
            nodes_holding_job_queues=len(queue_nodes),
        )
        assert verdicts == {sid: 1 for sid in sessions}
        # Judged once: one verdict committed per session, whichever process judged it.
        committed = [
            sum(client.exists(keys.session_result(SessionKey("fault-app", sid), r)) for r in range(1, 4))
            for sid in sessions
        ]
        assert committed == [1] * len(sessions)
        # At least once: a request forwarded by the process killed before it could answer is sent
        # again by the sender.
        assert set(forwarded) == set(spans) and max(forwarded.values()) <= 2
        for sid in sessions:
            # Judged whole: every turn, whichever process and shard its spans went through.
            judged = [p for p in prompts if turn_text(sid, 0)[0] in p]
            assert judged, sid
            for prompt in judged:
                for t in range(3):
                    assert all(text in prompt for text in turn_text(sid, t)), (sid, t)
        assert len(session_nodes) == 3 and len(queue_nodes) == 3
    finally:
        killed.set()
        sender.join(60)
        client.close()
        for s in senders:
            s.close()
        code = procs[1].stop()
    assert code == 0, procs[1].log()


def test_control_api_and_metrics_see_every_node(service, redis_cluster_url, client_for, control, sink, judge):
    judge.default = goal_answer(["answer question 0"], [])
    svc = service(redis={"url": redis_cluster_url}, session={"settle_delay_s": 0.1})
    client = client_for(svc.endpoint)
    names = [f"c-{i:02d}" for i in range(30)]
    for name in names:
        send_turns(client, name, turns=1)
    ctl = control(svc.control_endpoint)

    # A listing pages through every primary in turn (a SCAN sees one node's keys).
    seen, token, pages = [], "", 0
    while True:
        page = ctl.list(limit=4, page_token=token, tenant=TENANT)
        seen += [s.session_id for s in page.sessions]
        pages, token = pages + 1, page.next_page_token
        if not token:
            break
    assert sorted(seen) == names and pages >= 8

    ctl.end(TENANT, "c-07")
    wait_until(lambda: ctl.get(TENANT, "c-07").state == pb.SESSION_STATE_JUDGED, 20, "c-07 judged")
    judged = ctl.get(TENANT, "c-07")
    assert judged.trigger == "control" and judged.verdicts[0].evaluations[0].score == 1.0
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert span_attrs(sink.carriers()[0][2])["session.id"] == "c-07"

    samples = scrape(svc)
    assert samples[("collector_eval_redis_up", ())] == 1
    assert samples[("collector_eval_verdicts_total", ())] == 1


def test_shard_tags_fall_in_equal_slot_ranges_and_sessions_spread_over_them():
    for shards in (1, 3, 16, 1024):
        tags = shard_tags(shards)
        assert len(set(tags)) == shards
        for i, tag in enumerate(tags):
            assert i * 16384 // shards <= key_slot(tag.encode()) < (i + 1) * 16384 // shards
    keys = Keys("ce", 16)
    used = {keys.shard_of(SessionKey("app", f"s-{i}")).index for i in range(500)}
    assert used == set(range(16))
    # Every key of a session names its shard's tag: one slot for the session and its queues.
    session = SessionKey("app", "s-1")
    shard = keys.shard_of(session)
    named = [
        keys.session(session),
        keys.session_result(session, 3).encode(),
        shard.due.encode(),
        shard.jobs.encode(),
        shard.outbox.encode(),
    ]
    assert len({key_slot(key) for key in named}) == 1
