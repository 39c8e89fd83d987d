"""The carrier span: one per evaluation run, a child of the span that ended the session, carrying one
`gen_ai.evaluation.result` event per evaluator plus the OpenInference flattened form. Ended spans are
immutable downstream, so results never patch a span already sent."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector_eval import __version__
from collector_eval.evaluators.base import EvaluationResult
from collector_eval.sessions.buffer import StoredSession

SPAN_NAME = "evaluate_session"
EVENT_NAME = "gen_ai.evaluation.result"


@dataclass
class Verdict:
    session: StoredSession
    results: list[EvaluationResult]
    judge_model: str
    transcript_truncated: bool
    start_ns: int
    end_ns: int
    annotator_kinds: dict[str, str]  # evaluator name -> "LLM" | "CODE"
    # What redaction replaced before the judge saw the transcript: detector -> count (never values).
    redactions: dict[str, int] = field(default_factory=dict)

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.results)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.results)


def build_carrier(verdict: Verdict) -> ExportTraceServiceRequest:
    session = verdict.session
    span = Span(
        trace_id=session.end_trace_id,
        span_id=os.urandom(8),
        parent_span_id=session.end_span_id,
        name=SPAN_NAME,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=verdict.start_ns,
        end_time_unix_nano=verdict.end_ns,
    )
    attrs: dict[str, object] = {
        "openinference.span.kind": "EVALUATOR",
        "session.id": session.key.session_id,
        "collector_eval.tenant": session.key.tenant,
        "collector_eval.revision": session.revision,
        # What made this evaluation run: end_span, late_spans, idle_timeout or max_duration.
        "collector_eval.trigger": session.trigger,
        "collector_eval.session.spans": session.span_count,
        "collector_eval.session.truncated": session.truncated,
        "collector_eval.transcript.truncated": verdict.transcript_truncated,
        "gen_ai.request.model": verdict.judge_model,
        "gen_ai.usage.input_tokens": verdict.input_tokens,
        "gen_ai.usage.output_tokens": verdict.output_tokens,
    }
    for detector, count in verdict.redactions.items():
        attrs[f"collector_eval.redaction.{detector}"] = count
    if session.id_attribute and session.id_attribute != "session.id":
        attrs[session.id_attribute] = session.key.session_id
    for n, result in enumerate(verdict.results):
        prefix = f"session.evaluations.{n}.evaluation."
        attrs[prefix + "name"] = result.name
        attrs[prefix + "status"] = result.status
        attrs[prefix + "annotator_kind"] = verdict.annotator_kinds.get(result.name, "LLM")
        if result.explanation:
            attrs[prefix + "explanation"] = result.explanation
        if result.status == "ok":
            if result.score is not None:
                attrs[prefix + "score"] = result.score
            if result.label is not None:
                attrs[prefix + "label"] = result.label
        span.events.add(
            time_unix_nano=verdict.end_ns, name=EVENT_NAME, attributes=_key_values(_event_attributes(result))
        )
    span.attributes.extend(_key_values(attrs))
    if any(r.status == "error" for r in verdict.results):
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = "; ".join(f"{r.name}: {r.error_type}" for r in verdict.results if r.status == "error")
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.CopyFrom(_resource_of_end_span(session))
    ss = rs.scope_spans.add()
    ss.scope.name = "collector-eval"
    ss.scope.version = __version__
    ss.spans.append(span)
    return request


def _event_attributes(result: EvaluationResult) -> dict[str, object]:
    attrs: dict[str, object] = {"gen_ai.evaluation.name": result.name, "collector_eval.evaluation.status": result.status}
    # A failed or skipped evaluation carries no score or label: a 0 would read as a verdict.
    if result.status == "ok":
        if result.score is not None:
            attrs["gen_ai.evaluation.score.value"] = result.score
        if result.label is not None:
            attrs["gen_ai.evaluation.score.label"] = result.label
    elif result.status == "error":
        attrs["error.type"] = result.error_type or "error"
    else:
        attrs["collector_eval.evaluation.skip_reason"] = result.error_type or "skipped"
    if result.explanation:
        attrs["gen_ai.evaluation.explanation"] = result.explanation
    attrs.update(result.attributes)
    return attrs


def _resource_of_end_span(session: StoredSession) -> Resource:
    for rs in session.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if span.span_id == session.end_span_id:
                    return rs.resource
    return session.resource_spans[0].resource if session.resource_spans else Resource()


def _key_values(attrs: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any_value(v)) for k, v in attrs.items()]


def _any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def verdict_to_dict(verdict: Verdict) -> dict:
    """The console exporter's form of a verdict: one JSON object per evaluation run."""
    session = verdict.session
    return {
        "session_id": session.key.session_id,
        "tenant": session.key.tenant,
        "revision": session.revision,
        "trigger": session.trigger,
        "trace_id": session.end_trace_id.hex(),
        "parent_span_id": session.end_span_id.hex(),
        "judge_model": verdict.judge_model,
        "input_tokens": verdict.input_tokens,
        "output_tokens": verdict.output_tokens,
        "session_truncated": session.truncated,
        "transcript_truncated": verdict.transcript_truncated,
        "evaluations": [
            {
                "name": r.name,
                "status": r.status,
                "score": r.score if r.status == "ok" else None,
                "label": r.label if r.status == "ok" else None,
                "explanation": r.explanation,
                "error_type": r.error_type,
                "attributes": r.attributes,
            }
            for r in verdict.results
        ],
    }
