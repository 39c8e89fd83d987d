"""forwarding.mode on_verdict end to end: spans held in Redis until their session's verdict, then kept
(sent downstream once) or dropped, by rules; carriers always forwarded with the decision; late spans,
traces without a session, sessions with no verdict, caps and named exporters.

The verdicts are deterministic: failure_to_answer decides an empty answer without the judge (which is
off here), and skips the others, so a session with an empty answer fails and the rest do not."""

from __future__ import annotations

import time

import pytest

from collector_eval.export.carrier import ATTR_DECISION, ATTR_RULE
from tests.support.config import deep_merge
from tests.support.metrics import scrape
from tests.support.otlp_sink import OtlpSink
from tests.support.spans import attrs_of, end_span, llm_span, request, span, trace_id

ON_VERDICT = {
    "forwarding": {"mode": "on_verdict"},
    "evaluators": [{"name": "failure_to_answer"}],
    "judge": {"api_key_env": "COLLECTOR_EVAL_UNSET_KEY"},  # off: only what needs no judge decides
}


def on_verdict(**overrides) -> dict:
    return deep_merge(ON_VERDICT, overrides)


def send_session(client, session_id: str, answer: str, end: bool = True) -> set[bytes]:
    """A root span and an LLM span in one request, then the end span in another: the span ids sent."""
    tid = trace_id()
    root = span(tid, "chat_turn", **{"session.id": session_id})
    llm = llm_span(tid, "What is 2 + 2?", answer, parent=root.span_id, **{"session.id": session_id})
    client.export(request(root, llm))
    if not end:
        return {root.span_id, llm.span_id}
    last = end_span(session_id)
    client.export(request(last))
    return {root.span_id, llm.span_id, last.span_id}


def held_span_ids(sink: OtlpSink) -> list[bytes]:
    """Span ids that reached the downstream, carriers aside, with repeats (a span sent twice shows twice)."""
    return [s.span_id for _, _, s in sink.spans() if not s.name.startswith("evaluate_")]


def decisions(sink: OtlpSink) -> dict[str, list[tuple[str, int]]]:
    """Per session id, the (decision, rule) of each of its carriers, in arrival order."""
    out: dict[str, list[tuple[str, int]]] = {}
    for _, _, carrier in sink.carriers():
        attrs = attrs_of(carrier)
        out.setdefault(attrs["session.id"], []).append((attrs[ATTR_DECISION], attrs[ATTR_RULE]))
    return out


def metric(samples: dict, name: str, **labels) -> float:
    """A counter's value (absent: 0)."""
    return samples.get((f"collector_eval_{name}_total", tuple(sorted(labels.items()))), 0.0)


def settle(sink: OtlpSink, seconds: float = 1.0) -> None:
    """Long enough for anything still on its way to arrive (what must not arrive would have by then)."""
    time.sleep(seconds)


def test_twenty_sessions_only_the_five_that_failed_are_forwarded(service, sink, client_for):
    st = service(**ON_VERDICT)
    client = client_for(st.endpoint)
    failing = {f"sess-{i}" for i in range(0, 20, 4)}
    sent = {sid: send_session(client, sid, "" if sid in failing else "4") for sid in (f"sess-{i}" for i in range(20))}
    kept = set().union(*(sent[sid] for sid in failing))

    sink.wait_for(lambda s: len(s.carriers()) == 20 and set(held_span_ids(s)) >= kept)
    settle(sink)
    assert sorted(held_span_ids(sink)) == sorted(kept)  # every span of the five, once; none of the others
    assert decisions(sink) == {
        sid: [("kept", 0)] if sid in failing else [("dropped", -1)] for sid in sent
    }  # the default rule, keep[0] {failed: true}, kept the five; no rule matched the others
    samples = scrape(st)
    assert metric(samples, "spans_held", protocol="grpc") == 60
    assert metric(samples, "forwarding_spans_kept") == 15
    assert metric(samples, "forwarding_spans_dropped", rule="-1") == 45
    assert metric(samples, "forwarding_sessions", decision="kept", rule="0") == 5
    assert metric(samples, "forwarding_sessions", decision="dropped", rule="-1") == 15
    assert metric(samples, "forwarding_bytes_kept") > 0
    assert metric(samples, "spans_forwarded") == 0  # nothing went on arrival


def test_late_spans_follow_the_decision_and_a_flip_forwards_what_was_held_once(service, sink, client_for):
    st = service(**ON_VERDICT)
    client = client_for(st.endpoint)
    kept = send_session(client, "kept", "")
    dropped = send_session(client, "dropped", "4")
    sink.wait_for(lambda s: len(s.carriers()) == 2 and set(held_span_ids(s)) >= kept)

    # A late span of the kept session is sent; one of the dropped session is held (and judged again).
    late_kept = llm_span(trace_id(), "And 3 + 3?", "", **{"session.id": "kept"})
    late_dropped = llm_span(trace_id(), "And 3 + 3?", "6", **{"session.id": "dropped"})
    client.export(request(late_kept, late_dropped))
    sink.wait_for(lambda s: len(s.carriers()) == 4 and late_kept.span_id in held_span_ids(s))
    settle(sink)
    assert sorted(held_span_ids(sink)) == sorted(kept | {late_kept.span_id})

    # Now the dropped session fails: its new verdict keeps it, and every span it held goes, once.
    flip = llm_span(trace_id(), "Anything else?", "", **{"session.id": "dropped"})
    client.export(request(flip))
    everything = kept | {late_kept.span_id} | dropped | {late_dropped.span_id, flip.span_id}
    sink.wait_for(lambda s: set(held_span_ids(s)) == everything)
    settle(sink)
    assert sorted(held_span_ids(sink)) == sorted(everything)
    assert decisions(sink)["dropped"] == [("dropped", -1), ("dropped", -1), ("kept", 0)]
    assert metric(scrape(st), "forwarding_spans_late") >= 1


OUTCOMES = {"forward": "forwarded", "drop": "dropped"}


@pytest.mark.parametrize("without_session", list(OUTCOMES))
def test_a_trace_that_never_joins_a_session_is_forwarded_or_dropped_after_its_ttl(
    service, sink, client_for, without_session
):
    st = service(
        **on_verdict(
            session={"settle_delay_s": 0.2, "orphan_trace_ttl_s": 1}, forwarding={"without_session": without_session}
        )
    )
    client = client_for(st.endpoint)
    tid = trace_id()
    orphan = [span(tid, "no session"), span(tid, "no session either")]
    client.export(request(*orphan))
    settle(sink, 0.5)
    assert held_span_ids(sink) == []  # held while the trace may still join a session
    if without_session == "forward":
        sink.wait_for(lambda s: sorted(held_span_ids(s)) == sorted(x.span_id for x in orphan), timeout_s=10)
    settle(sink, 2)
    samples = scrape(st)
    assert metric(samples, "forwarding_traces_without_session", outcome=OUTCOMES[without_session]) == 1
    if without_session == "drop":
        assert held_span_ids(sink) == []
    else:
        assert sorted(held_span_ids(sink)) == sorted(x.span_id for x in orphan)
        assert metric(samples, "forwarding_spans_without_session") == 2


def test_a_trace_that_joins_later_goes_with_its_session_not_as_an_orphan(service, sink, client_for):
    st = service(**on_verdict(session={"settle_delay_s": 0.2, "orphan_trace_ttl_s": 1}))
    client = client_for(st.endpoint)
    tid = trace_id()
    root = span(tid, "chat_turn", **{"session.id": "joined"})
    child = llm_span(tid, "What is 2 + 2?", "", parent=root.span_id)  # no id: waits for its root
    client.export(request(child))
    client.export(request(root, end_span("joined")))
    sink.wait_for(lambda s: len(s.carriers()) == 1 and child.span_id in held_span_ids(s))
    settle(sink, 2.5)  # past the orphan TTL: the trace joined, so it is not released again
    assert held_span_ids(sink).count(child.span_id) == 1
    assert metric(scrape(st), "forwarding_traces_without_session", outcome="forwarded") == 0


def test_a_session_with_no_verdict_by_hold_max_is_forwarded_whole(service, sink, client_for):
    st = service(**on_verdict(forwarding={"hold_max_s": 1}))
    client = client_for(st.endpoint)
    ids = send_session(client, "never-ends", "4", end=False)
    settle(sink, 0.5)
    assert held_span_ids(sink) == []
    assert scrape(st)[("collector_eval_forwarding_sessions_held", ())] == 1  # waiting for its verdict
    sink.wait_for(lambda s: set(held_span_ids(s)) == ids, timeout_s=10)
    samples = scrape(st)
    assert metric(samples, "forwarding_sessions", decision="kept", rule="-1") == 1
    assert samples[("collector_eval_forwarding_sessions_held", ())] == 0
    # Its verdict, when it comes, decides the spans after it; those held so far went once.
    client.export(request(end_span("never-ends")))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    settle(sink)
    assert sorted(set(held_span_ids(sink))) == sorted(held_span_ids(sink))


def test_spans_past_a_cap_are_forwarded_at_once(service, sink, client_for):
    st = service(**on_verdict(session={"settle_delay_s": 0.2, "max_spans": 2}))
    client = client_for(st.endpoint)
    tid = trace_id()
    first = [span(tid, "a", **{"session.id": "capped"}), span(tid, "b", **{"session.id": "capped"})]
    over = [span(tid, "c", **{"session.id": "capped"}), span(tid, "d", **{"session.id": "capped"})]
    client.export(request(*first))
    client.export(request(*over))
    sink.wait_for(lambda s: sorted(held_span_ids(s)) == sorted(x.span_id for x in over), timeout_s=5)
    samples = scrape(st)
    assert metric(samples, "spans_held", protocol="grpc") == 2
    assert metric(samples, "spans_forwarded") == 2


def test_a_rule_sends_its_sessions_to_a_named_exporter_with_their_verdicts(service, sink, client_for):
    review = OtlpSink().start()
    try:
        st = service(
            **on_verdict(
                exporters={"named": {"review": {"otlp": {"endpoint": review.endpoint}}}},
                forwarding={
                    "keep": [{"when": {"evaluator": "failure_to_answer", "failed": True}, "exporters": ["review"]}]
                },
            )
        )
        client = client_for(st.endpoint)
        failed = send_session(client, "to-review", "")
        send_session(client, "fine", "4")
        review.wait_for(lambda s: set(held_span_ids(s)) == failed and len(s.carriers()) == 1)
        sink.wait_for(lambda s: len(s.carriers()) == 2)
        settle(sink)
        assert held_span_ids(sink) == []  # the default exporter gets the verdicts only
        assert decisions(review) == {"to-review": [("kept", 0)]}
        assert decisions(sink) == {"to-review": [("kept", 0)], "fine": [("dropped", -1)]}
    finally:
        review.stop()


def test_on_a_redis_cluster_kept_spans_go_once_wherever_their_traces_live(service, sink, client_for, redis_cluster_url):
    """Sessions, traces and release streams spread over three nodes; traces whose children came first
    (held as orphans in their own shard) join their session in another."""
    st = service(**on_verdict(redis={"url": redis_cluster_url}))
    client = client_for(st.endpoint)
    sent: dict[str, set[bytes]] = {}
    for i in range(12):
        sid = f"cluster-{i}"
        tid = trace_id()
        root = span(tid, "chat_turn", **{"session.id": sid})
        child = llm_span(tid, "What is 2 + 2?", "" if i % 3 == 0 else "4", parent=root.span_id)
        client.export(request(child))  # no id: held with its trace until the root names the session
        last = end_span(sid)
        client.export(request(root, last))
        sent[sid] = {root.span_id, child.span_id, last.span_id}
    kept = set().union(*(ids for sid, ids in sent.items() if int(sid.split("-")[1]) % 3 == 0))
    sink.wait_for(lambda s: len(s.carriers()) == 12 and set(held_span_ids(s)) >= kept, timeout_s=30)
    settle(sink)
    assert sorted(held_span_ids(sink)) == sorted(kept)
