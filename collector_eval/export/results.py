"""One verdict as the flat result records the evaluation backends take (Phoenix annotations,
Langfuse scores, Datadog evaluation metrics): one record per result, with the subject it judged and
what the backends keep as metadata. Records travel through the destinations' outboxes as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from collector_eval.export.verdict import Verdict
from collector_eval.model import EvaluationResult, Level, ResultStatus


@dataclass(frozen=True)
class ResultRecord:
    level: Level
    session_id: str
    tenant: str
    # The judged subject: for a session result the span that ended the session, for a trace result its
    # root span, for a span result that span (hex).
    trace_id: str
    span_id: str
    name: str  # the evaluator's result name
    status: ResultStatus
    score: float | None  # only when status is ok
    label: str | None  # only when status is ok
    passed: bool | None  # the evaluator's pass criterion; None without one or when not ok
    explanation: str
    error_type: str | None  # why an error or a skip
    annotator_kind: str  # "LLM" (the judge decided) or "CODE" (deterministic)
    revision: int
    trigger: str
    judge_model: str | None
    input_tokens: int
    output_tokens: int
    evaluator_version: str
    # When the evaluation run ended (ns since the epoch): the result's time at every backend, the same
    # on each resend. 0 in records queued before it was kept.
    end_ns: int = 0

    @property
    def ok(self) -> bool:
        return self.status == ResultStatus.OK

    @property
    def identifier(self) -> str:
        """Stable across revisions: the same evaluator on the same subject, so that a backend keyed on
        it updates the result in place when the session is judged again."""
        subject = {Level.SESSION: "", Level.TRACE: self.trace_id, Level.SPAN: self.span_id}[self.level]
        return f"collector-eval:{self.tenant}:{self.session_id}:{self.level}:{subject}:{self.name}"

    def metadata(self) -> dict[str, Any]:
        """What a backend keeps beside the result: where it came from and what it cost."""
        out: dict[str, Any] = {
            "revision": self.revision,
            "trigger": self.trigger,
            "tenant": self.tenant,
            "status": str(self.status),
            "evaluator_version": self.evaluator_version,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.judge_model:
            out["judge_model"] = self.judge_model
        if self.error_type:
            out["error_type"] = self.error_type
        if self.passed is not None:
            out["passed"] = self.passed
        return out


def result_records(verdict: Verdict) -> list[ResultRecord]:
    session = verdict.session

    def record(level: Level, trace_id: bytes, span_id: bytes, result: EvaluationResult) -> ResultRecord:
        ok = result.status == ResultStatus.OK
        return ResultRecord(
            level=level,
            session_id=session.key.session_id,
            tenant=session.key.tenant,
            trace_id=trace_id.hex(),
            span_id=span_id.hex(),
            name=result.name,
            status=result.status,
            score=result.score if ok else None,
            label=result.label if ok else None,
            passed=result.passed if ok else None,
            explanation=result.explanation,
            error_type=result.error_type,
            annotator_kind=verdict.annotator_kinds.get(result.name, "LLM"),
            revision=session.revision,
            trigger=session.trigger,
            judge_model=result.judge_model,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            evaluator_version=verdict.evaluator_versions.get(result.name, "1"),
            end_ns=verdict.end_ns,
        )

    records = [record(Level.SESSION, session.end_trace_id, session.end_span_id, r) for r in verdict.results]
    for subject in verdict.subjects:
        records += [record(Level(subject.level), subject.trace_id, subject.span_id, r) for r in subject.results]
    return records


def records_to_json(records: list[ResultRecord]) -> str:
    return json.dumps([asdict(r) for r in records], ensure_ascii=False)


def records_from_json(text: str | bytes) -> list[ResultRecord]:
    out = []
    for item in json.loads(text):
        item["level"], item["status"] = Level(item["level"]), ResultStatus(item["status"])
        out.append(ResultRecord(**item))
    return out
