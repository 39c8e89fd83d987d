"""Result records as a verdict gives them to the backends and their outboxes (export/results.py),
for their tests."""

from __future__ import annotations

import dataclasses

from collector_eval.export.results import ResultRecord
from collector_eval.model import Level, ResultStatus

END_TRACE = "0af7651916cd43dd8448eb211c80319c"
END_SPAN = "b7ad6b7169203331"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT_SPAN = "00f067aa0ba902b7"
SPAN = "53995c3f42cd8ad8"


def record(**overrides) -> ResultRecord:
    base = ResultRecord(
        level=Level.SESSION,
        session_id="sess-42",
        tenant="chat-app",
        trace_id=END_TRACE,
        span_id=END_SPAN,
        name="goal_completeness",
        status=ResultStatus.OK,
        score=0.5,
        label="incomplete",
        passed=False,
        explanation="One of two goals was left unresolved.",
        error_type=None,
        annotator_kind="LLM",
        revision=1,
        trigger="end_span",
        judge_model="gpt-4o-mini",
        input_tokens=120,
        output_tokens=30,
        evaluator_version="2",
    )
    return dataclasses.replace(base, **overrides)


# The metadata of record() as every backend must send it (ResultRecord.metadata(), spelled out so
# that a change to it shows here).
METADATA = {
    "revision": 1,
    "trigger": "end_span",
    "tenant": "chat-app",
    "status": "ok",
    "evaluator_version": "2",
    "input_tokens": 120,
    "output_tokens": 30,
    "judge_model": "gpt-4o-mini",
    "passed": False,
}


def verdict_records() -> list[ResultRecord]:
    """One verdict: a session result with score and label, a trace result with a score only, a span
    result with a label only, and a failed and a skipped one that no backend may score."""
    return [
        record(),
        record(level=Level.TRACE, trace_id=TRACE, span_id=ROOT_SPAN, name="trajectory", label=None, passed=None),
        record(
            level=Level.SPAN,
            trace_id=TRACE,
            span_id=SPAN,
            name="toxicity",
            score=None,
            label="non-toxic",
            passed=True,
            annotator_kind="CODE",
            judge_model=None,
        ),
        record(
            name="user_frustration",
            status=ResultStatus.ERROR,
            score=None,
            label=None,
            passed=None,
            error_type="JudgeTimeout",
        ),
        record(
            name="coherence", status=ResultStatus.SKIPPED, score=None, label=None, passed=None, error_type="no_content"
        ),
    ]
