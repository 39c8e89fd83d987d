"""transcript.on_doubt, through SessionJudging (the one place a session is judged): with `judge` the
judge still sees a doubtful transcript, with `skip` its judge evaluators are skipped with reason
doubtful_transcript; either way every session-level result carries the warnings, in the carrier span
(a string array) and in the console form. And a session with no readable content names its scopes."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from collector_eval.evaluation.evaluators.base import Output, SessionEvaluator
from collector_eval.evaluation.evaluators.goal_completeness import GoalCompleteness
from collector_eval.evaluation.judging import SessionJudging
from collector_eval.evaluation.transcript.model import Transcript
from collector_eval.evaluation.transcript.options import TranscriptConfig
from collector_eval.export.carrier import ATTR_WARNINGS, EVENT_NAME, build_carrier, verdict_to_dict
from collector_eval.export.verdict import Verdict
from collector_eval.model import EvaluationResult, ResultStatus, SessionKey, StoredSession
from tests.support.judge_server import JudgeServer, goal_completeness_answer
from tests.support.judging import TRACE_ID, llm_attrs, make_judge, raw_span

QUESTIONS = ["Which vaccinations does a puppy need?", "And when?", "What food, too?"]
WARNING = "3 user turns but 1 LLM call"


class TurnCount(SessionEvaluator):
    """A deterministic session-level check: on_doubt is about the judge, so it runs either way."""

    name = "turn_count"
    needs_judge: ClassVar[bool] = False
    answers = "How many turns?"
    output = Output(score=(0, 1000))

    def gate(self, transcript: Transcript) -> EvaluationResult | None:
        return self._result(None, "", passed=None, score=len(transcript.turns))

    def verdict(self, data: dict[str, Any], subject: Any) -> EvaluationResult:
        raise AssertionError("never asks the judge")


def session(*spans: Any, scope: str = "openinference.instrumentation.openai") -> StoredSession:
    resource = ResourceSpans(
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope, version="0.1"), spans=spans)]
    )
    return StoredSession(
        key=SessionKey("app", "s-1"),
        end_trace_id=TRACE_ID,
        end_span_id=spans[-1].span_id,
        id_attribute="session.id",
        resource_spans=[resource],
        span_count=len(spans),
    )


def doubtful() -> StoredSession:
    """Three questions in one LLM call's input: more user turns than LLM calls."""
    messages = [{"role": "user", "content": q} for q in QUESTIONS]
    return session(raw_span(1, llm_attrs(messages, {"role": "assistant", "content": "Rabies; at 8 weeks; kibble."})))


def judge_session(stored: StoredSession, on_doubt: str, server: JudgeServer | None = None) -> Verdict:
    async def run() -> Verdict:
        judge = make_judge(server) if server is not None else None
        judging = SessionJudging(
            [GoalCompleteness(), TurnCount()],
            judge,
            "test-judge",
            12000,
            transcript=TranscriptConfig(on_doubt=on_doubt),
        )
        try:
            return await judging.run(stored)
        finally:
            if judge is not None:
                await judge.aclose()

    return asyncio.run(run())


def test_on_doubt_judge_still_asks_the_judge_and_the_results_carry_the_warnings() -> None:
    with JudgeServer([goal_completeness_answer(True)]) as server:
        verdict = judge_session(doubtful(), "judge", server)
    assert len(server.requests) == 1
    goal, turns = verdict.results
    assert goal.status == ResultStatus.OK and turns.status == ResultStatus.OK
    assert verdict.transcript_warnings == [WARNING]


def test_on_doubt_skip_skips_judge_evaluators_only_with_the_warnings_as_explanation() -> None:
    with JudgeServer([goal_completeness_answer(True)]) as server:
        verdict = judge_session(doubtful(), "skip", server)
    assert server.requests == []
    goal, turns = verdict.results
    assert (goal.status, goal.error_type) == (ResultStatus.SKIPPED, "doubtful_transcript")
    assert WARNING in goal.explanation
    assert turns.status == ResultStatus.OK and turns.score == 4


def test_on_doubt_skip_judges_a_consistent_transcript() -> None:
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    stored = session(raw_span(1, llm_attrs(messages, {"role": "assistant", "content": "Rabies."})))
    with JudgeServer([goal_completeness_answer(True)]) as server:
        verdict = judge_session(stored, "skip", server)
    assert len(server.requests) == 1
    assert verdict.results[0].status == ResultStatus.OK
    assert verdict.transcript_warnings == []


def test_warnings_in_the_carrier_span_and_on_every_session_level_event() -> None:
    verdict = judge_session(doubtful(), "skip")
    (span,) = build_carrier(verdict).resource_spans[0].scope_spans[0].spans
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert [v.string_value for v in attrs[ATTR_WARNINGS].array_value.values] == [WARNING]
    events = [e for e in span.events if e.name == EVENT_NAME]
    assert len(events) == 2
    for event in events:
        values = {kv.key: kv.value for kv in event.attributes}
        assert [v.string_value for v in values[ATTR_WARNINGS].array_value.values] == [WARNING]


def test_warnings_in_the_console_form() -> None:
    line = verdict_to_dict(judge_session(doubtful(), "judge"))
    assert [e["attributes"][ATTR_WARNINGS] for e in line["evaluations"]] == [[WARNING], [WARNING]]


def test_no_warnings_no_attribute() -> None:
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    verdict = judge_session(
        session(raw_span(1, llm_attrs(messages, {"role": "assistant", "content": "Rabies."}))), "judge"
    )
    (span,) = build_carrier(verdict).resource_spans[0].scope_spans[0].spans
    keys = {kv.key for kv in span.attributes} | {kv.key for e in span.events for kv in e.attributes}
    assert ATTR_WARNINGS not in keys
    assert all(ATTR_WARNINGS not in e["attributes"] for e in verdict_to_dict(verdict)["evaluations"])


def test_no_content_names_the_scopes_seen() -> None:
    stored = session(raw_span(1, {"foo.model": "m-1"}, "foo.call"), scope="openinference.instrumentation.foo")
    stored.resource_spans.append(
        ResourceSpans(scope_spans=[ScopeSpans(scope=InstrumentationScope(name="my-app"), spans=[raw_span(2, {})])])
    )
    goal, _ = judge_session(stored, "judge").results
    assert (goal.status, goal.error_type) == (ResultStatus.SKIPPED, "no_content")
    assert "no message content in spans of scopes: openinference.instrumentation.foo 0.1, my-app" in goal.explanation
