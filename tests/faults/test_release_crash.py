"""forwarding.mode on_verdict, a process killed mid-release (SIGKILL) and another taking over: the
downstream ends with every span of every kept session exactly once, none of a dropped session, and one
verdict per session.

Why exactly once can be asserted: the releaser marks each chunk sent ("x" + its field) right after
the downstream took the request holding it, so a takeover sends only what is unmarked. A duplicate is
possible for one request only: the one in flight at the instant of the kill, if the downstream had
taken it and the process died before marking it (the answer's way back and one Redis round trip, for
every request: short, but a kill at a random moment lands in it now and then). So this test does not
kill at a random moment: the downstream answers the first release requests, then holds every later
one unanswered; the kill comes once a held request is waiting, no request is being answered, every
chunk of the answered ones is marked in Redis, and every verdict is delivered and acknowledged (the
outbox has the same window for a verdict in flight); after the kill the held requests are refused,
never counted as received. What the takeover sends is then exactly what was never taken, and a
second copy of anything is a bug. The window itself is not exercised here.

The takeover is by another process (another consumer name, as another pod), so it waits for the
release entry's visibility timeout and the session lock's lease (both jobs.visibility_timeout_s) to
pass: both are exercised, with a short timeout. Prints one JSON line of figures (pytest -s)."""

from __future__ import annotations

import copy
import os
import threading
import time

import grpc
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from collector_eval.export.carrier import SPAN_NAMES
from collector_eval.sessions.buffer import unpack
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.release import GROUP as RELEASERS
from collector_eval.sessions.release import SENT
from tests.support.config import deep_merge
from tests.support.fault_helpers import (
    RawSender,
    ServeProcess,
    carrier_counts,
    figures,
    make_request,
    make_span,
    new_trace_id,
    pipeline_idle,
    redis_client,
    send_all,
    serve_config,
    unique_prefix,
    wait_until,
)
from tests.support.otlp_sink import OtlpSink

UNSET_KEY = "COLLECTOR_EVAL_RELEASE_CRASH_UNSET_KEY"  # the judge is off: failure_to_answer decides alone
VISIBILITY_TIMEOUT_S = 3.0
KEPT_SESSIONS = 6
CHUNKS = 30  # Export requests per kept session, each one chunk in Redis
PAD = "p" * 200_000  # per span: ~6 chunks fill one 1 MiB release request, so ~5 requests per session
DROPPED_SESSIONS = 2
ANSWER_FIRST = 8  # release requests the downstream answers before it holds the rest
# A verdict's request: the session's carrier, and one per judged span or trace beside it.
CARRIERS = tuple(SPAN_NAMES.values())


class HoldingSink(OtlpSink):
    """The downstream: answers verdicts (carriers) always, and the first `answer_first` requests of
    released spans; every later one is held unanswered until the gate opens, then refused without
    being recorded (held and refused: never received, as far as the test counts). `holding = False`
    first and the gate opened next: every request from then on is answered."""

    def __init__(self, answer_first: int):
        super().__init__()
        self.answer_first = answer_first
        self.holding = True
        self.gate = threading.Event()
        self.answered_span_requests = 0
        self.answering = 0  # span requests being answered (not yet recorded)
        self.held = 0
        self._count = threading.Lock()

    def Export(self, request, context):
        spans = [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
        if not any(span.name.startswith(CARRIERS) for span in spans):
            with self._count:
                hold = self.holding and self.answered_span_requests >= self.answer_first
                if hold:
                    self.held += 1
                else:
                    self.answered_span_requests += 1
                    self.answering += 1
            if hold:
                self.gate.wait(60)
                context.abort(grpc.StatusCode.UNAVAILABLE, "held, then refused: never taken")
            try:
                return super().Export(request, context)
            finally:
                with self._count:
                    self.answering -= 1
        return super().Export(request, context)


def released_ids(sink: OtlpSink) -> list[bytes]:
    """Span ids the downstream took, carriers aside, with repeats."""
    return [s.span_id for _, _, s in sink.spans() if not s.name.startswith(CARRIERS)]


def marked_ids(client, prefix: str) -> set[bytes]:
    """Span ids of the chunks marked sent in Redis (in every hash under the prefix)."""
    out: set[bytes] = set()
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        if client.type(key) != b"hash":
            continue
        marks = [name[1:] for name in client.hkeys(key) if name[:1] == SENT]
        for value in client.hmget(key, marks) if marks else ():
            if value is not None:
                data = TracesData.FromString(unpack(value))
                out.update(s.span_id for rs in data.resource_spans for ss in rs.scope_spans for s in ss.spans)
    return out


def pending_releases(client, prefix: str) -> dict[str, int]:
    """Release entries read and not acknowledged, per consumer."""
    out: dict[str, int] = {}
    for shard in Keys(prefix).shards:
        if client.exists(shard.release):
            for entry in client.xpending_range(shard.release, RELEASERS, "-", "+", 100):
                out[entry["consumer"].decode()] = out.get(entry["consumer"].decode(), 0) + 1
    return out


def release_locks(client, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{prefix}:*:releasing", count=1000))


def release_streams_empty(client, prefix: str) -> bool:
    return all(client.xlen(shard.release) == 0 for shard in Keys(prefix).shards)


def session_requests(session_id: str, answer: str, chunks: int, pad: str) -> tuple[list, list[bytes]]:
    """`chunks` Export requests of one session: a root and an LLM span with the answer, padded spans
    one per request, then the end span. Returns the requests and the span ids in them."""
    tid = new_trace_id()
    root = make_span(tid, "chat_turn", **{"session.id": session_id, "pad": pad})
    llm = make_span(
        tid,
        "ChatCompletion",
        parent=root.span_id,
        **{
            "session.id": session_id,
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "What is 2 + 2?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": answer,
        },
    )
    requests = [make_request(root, llm)]
    ids = [root.span_id, llm.span_id]
    for i in range(chunks - 2):
        step = make_span(tid, f"step {i}", parent=root.span_id, **{"session.id": session_id, "pad": pad})
        requests.append(make_request(step))
        ids.append(step.span_id)
    end = make_span(new_trace_id(), "session end", **{"session.id": session_id, "session_status": "completed"})
    requests.append(make_request(end))
    ids.append(end.span_id)
    return requests, ids


@pytest.mark.fault
def test_kill_during_release_restart_each_kept_span_reaches_the_downstream_once(tmp_path, redis_url, judge):
    assert UNSET_KEY not in os.environ
    sink = HoldingSink(ANSWER_FIRST).start()
    prefix = unique_prefix("release-crash")
    cfg = serve_config(
        redis_url,
        prefix,
        judge,
        sink,
        VISIBILITY_TIMEOUT_S,
        forwarding={"mode": "on_verdict"},
        evaluators=[{"name": "failure_to_answer"}],
        # The downstream's deadline above any hold here: a held request is never retried by A.
        exporters={"otlp": {"timeout_s": 30}},
    )
    cfg = deep_merge(cfg, {"judge": {"api_key_env": UNSET_KEY}})
    pod_a = ServeProcess(copy.deepcopy(cfg), tmp_path, "pod-a")
    pod_b = ServeProcess(copy.deepcopy(cfg), tmp_path, "pod-b")  # another pod: a takeover, not a resume
    client = redis_client(redis_url)
    kept: list[bytes] = []
    dropped: list[bytes] = []
    try:
        pod_a.start()
        sender = RawSender(pod_a.endpoint)
        try:
            for n in range(KEPT_SESSIONS):
                requests, ids = session_requests(f"sess-kept-{n}", "", CHUNKS, PAD)  # empty answer: fails, kept
                send_all(sender, requests)
                kept += ids
            for n in range(DROPPED_SESSIONS):
                requests, ids = session_requests(f"sess-dropped-{n}", "4", 4, "d" * 1000)  # skipped: dropped
                send_all(sender, requests)
                dropped += ids
        finally:
            sender.close()
        sessions = KEPT_SESSIONS + DROPPED_SESSIONS

        # Kill A once: every verdict is delivered and acknowledged (no carrier can come twice), a
        # release request is held by the downstream (A is mid-release; from then on no request is
        # answered), none is being answered, and every chunk of the requests the downstream answered is
        # marked sent (A is past the mark, waiting on the held one).
        def state() -> dict:
            return {
                "carriers": len(sink.carriers()),
                "pipeline_idle": pipeline_idle(client, prefix),
                "held": sink.held,
                "answering": sink.answering,
                "answered": sink.answered_span_requests,
                "spans_marked": len(marked_ids(client, prefix)),
                "spans_received": len(released_ids(sink)),
            }

        def mid_release() -> bool:
            return (
                len(sink.carriers()) >= sessions
                and pipeline_idle(client, prefix)
                and sink.held >= 1
                and sink.answering == 0
            )

        def all_answered_marked() -> bool:
            return marked_ids(client, prefix) == set(released_ids(sink))

        for check, timeout_s, what in (
            (mid_release, 40, "every verdict delivered and a release request held"),
            (all_answered_marked, 10, "every chunk the downstream took to be marked sent"),
        ):
            try:
                wait_until(check, timeout_s, what, interval_s=0.1)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {state()}\n{pod_a.log()[-3000:]}") from None
        pod_a.kill()
        killed = time.monotonic()
        before_kill = released_ids(sink)
        requests_before_kill = sink.answered_span_requests
        held_at_kill = sink.held
        pending_at_kill = pending_releases(client, prefix)
        locks_at_kill = release_locks(client, prefix)
        sink.holding = False
        sink.gate.set()  # the held requests: refused, A is gone

        restarted = time.monotonic()
        pod_b.start()
        listening = time.monotonic()
        everything = set(kept)
        wait_until(
            lambda: (
                everything <= set(released_ids(sink))
                and release_streams_empty(client, prefix)
                and pipeline_idle(client, prefix)
            ),
            40,
            "B to release the rest",
            interval_s=0.1,
        )
        done = time.monotonic()
        time.sleep(1.0)  # anything more on its way (a second copy) would arrive meanwhile

        after = released_ids(sink)
        counts: dict[bytes, int] = {}
        for span_id in after:
            counts[span_id] = counts.get(span_id, 0) + 1
        figures(
            "kill_during_release",
            kept_sessions=KEPT_SESSIONS,
            dropped_sessions=DROPPED_SESSIONS,
            kept_spans=len(kept),
            release_requests_answered_before_kill=requests_before_kill,
            requests_held_at_kill=held_at_kill,
            release_entries_pending_at_kill=pending_at_kill,
            session_locks_at_kill=locks_at_kill,
            spans_sent_before_kill=len(before_kill),
            spans_sent_after_kill=len(after) - len(before_kill),
            spans_received_twice=sum(1 for c in counts.values() if c > 1),
            verdicts_delivered=len(sink.carriers()),
            visibility_timeout_s=VISIBILITY_TIMEOUT_S,
            seconds_kill_to_done=round(done - killed, 2),
            seconds_restart_to_listening=round(listening - restarted, 2),
            seconds_restart_to_done=round(done - restarted, 2),
        )
        assert 0 < len(before_kill) < len(kept), "the kill did not land mid-release"
        assert held_at_kill >= 1
        # What B took over: A's entry (read, never acknowledged) and A's lock on its session.
        assert pending_at_kill.get(pod_a.consumer, 0) >= 1 and locks_at_kill >= 1
        duplicates = {span_id.hex(): c for span_id, c in counts.items() if c > 1}
        assert duplicates == {}, f"kept spans received more than once: {duplicates}"
        assert sorted(after) == sorted(kept), "a kept span missing, or a span of a dropped session sent"
        assert not set(after) & set(dropped)
        assert carrier_counts(sink) == {
            **{f"sess-kept-{n}": 1 for n in range(KEPT_SESSIONS)},
            **{f"sess-dropped-{n}": 1 for n in range(DROPPED_SESSIONS)},
        }
    finally:
        sink.gate.set()
        for proc in (pod_a, pod_b):
            if proc.proc is not None:
                proc.stop()
        client.close()
        sink.stop()
