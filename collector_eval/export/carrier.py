"""Carrier spans: per evaluation run one for the session, a child of the span that ended it, and one
per judged span (a child of it, and linked to it) or trace (a child of its root, and linked to it),
each carrying one `gen_ai.evaluation.result` event per evaluator plus the OpenInference flattened
form. Ended spans are immutable downstream, so results never patch a span already sent. The same
results as OTLP log records (event `gen_ai.evaluation.result` on the judged span), for backends that
index events only as logs."""

from __future__ import annotations

import json
import os

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector_eval import __version__
from collector_eval.export.results import ResultRecord, result_records
from collector_eval.export.verdict import Verdict
from collector_eval.model import EvaluationResult, StoredSession

SPAN_NAMES = {"session": "evaluate_session", "span": "evaluate_span", "trace": "evaluate_trace"}
# OpenInference's flattened form per level: session.evaluations.N..., evaluations.N..., trace.evaluations.N...
FLAT_PREFIXES = {"session": "session.evaluations", "span": "evaluations", "trace": "trace.evaluations"}
EVENT_NAME = "gen_ai.evaluation.result"
# What the transcript builder could not make consistent: on the session's carrier span and on every
# session-level result (a string array, only when there are any).
ATTR_WARNINGS = "collector_eval.transcript.warnings"
# forwarding.mode on_verdict: kept or dropped, and the index of the forwarding.keep rule that decided
# (-1: none matched, or kept past hold_max_s), on the session's carrier span.
ATTR_DECISION = "collector_eval.forwarding.decision"
ATTR_RULE = "collector_eval.forwarding.rule"


def build_carrier(verdict: Verdict) -> ExportTraceServiceRequest:
    """All carrier spans of one evaluation run: the session's, and one per judged span or trace."""
    session = verdict.session
    attrs: dict[str, object] = {
        "session.id": session.key.session_id,
        "collector_eval.tenant": session.key.tenant,
        "collector_eval.revision": session.revision,
        # What made this evaluation run: end_span, late_spans, idle_timeout, max_duration or control.
        "collector_eval.trigger": session.trigger,
        "collector_eval.session.spans": session.span_count,
        "collector_eval.session.truncated": session.truncated,
        "collector_eval.transcript.truncated": verdict.transcript_truncated,
        "gen_ai.request.model": verdict.judge_model,
        "gen_ai.usage.input_tokens": verdict.input_tokens,
        "gen_ai.usage.output_tokens": verdict.output_tokens,
    }
    if verdict.transcript_warnings:
        attrs[ATTR_WARNINGS] = list(verdict.transcript_warnings)
    if verdict.forwarding is not None:
        attrs[ATTR_DECISION] = verdict.forwarding.decision.value
        attrs[ATTR_RULE] = verdict.forwarding.rule
    for detector, count in verdict.redactions.items():
        attrs[f"collector_eval.redaction.{detector}"] = count
    if session.id_attribute and session.id_attribute != "session.id":
        attrs[session.id_attribute] = session.key.session_id
    resources = _resources_by_span(session)
    records = iter(result_records(verdict))  # in the order of the results below
    request = ExportTraceServiceRequest()
    _add(
        request,
        resources.get(session.end_span_id) or _first_resource(session),
        _carrier_span(verdict, "session", session.end_trace_id, session.end_span_id, attrs, verdict.results, records),
    )
    for subject in verdict.subjects:
        subject_attrs = {
            "session.id": session.key.session_id,
            "collector_eval.tenant": session.key.tenant,
            "collector_eval.revision": session.revision,
            "gen_ai.request.model": verdict.judge_model,
            "gen_ai.usage.input_tokens": sum(r.input_tokens for r in subject.results),
            "gen_ai.usage.output_tokens": sum(r.output_tokens for r in subject.results),
        }
        span = _carrier_span(
            verdict, subject.level, subject.trace_id, subject.span_id, subject_attrs, subject.results, records
        )
        # A link as well as the parent: a backend that lists a span's links finds its evaluation there.
        span.links.add(trace_id=subject.trace_id, span_id=subject.span_id)
        _add(request, resources.get(subject.span_id) or _first_resource(session), span)
    return request


def build_result_logs(verdict: Verdict) -> ExportLogsServiceRequest:
    """Every result of one evaluation run as an OTLP log record: event `gen_ai.evaluation.result` on
    the judged span (a session result: the span that ended the session), with the span event's
    attributes."""
    session = verdict.session
    resources = _resources_by_span(session)
    request = ExportLogsServiceRequest()
    levels = [("session", session.end_trace_id, session.end_span_id, verdict.results)]
    levels += [(s.level, s.trace_id, s.span_id, s.results) for s in verdict.subjects]
    for level, trace_id, span_id, results in levels:
        rl = request.resource_logs.add()
        rl.resource.CopyFrom(resources.get(span_id) or _first_resource(session))
        sl = rl.scope_logs.add(scope=InstrumentationScope(name="collector-eval", version=__version__))
        for result in results:
            sl.log_records.append(
                LogRecord(
                    time_unix_nano=verdict.end_ns,
                    observed_time_unix_nano=verdict.end_ns,
                    event_name=EVENT_NAME,
                    trace_id=trace_id,
                    span_id=span_id,
                    attributes=_key_values(_result_event_attributes(verdict, level, result)),
                )
            )
    return request


def _carrier_span(
    verdict: Verdict, level: str, trace_id: bytes, parent_id: bytes, attrs: dict, results, records
) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent_id,
        name=SPAN_NAMES[level],
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=verdict.start_ns,
        end_time_unix_nano=verdict.end_ns,
    )
    attrs = {"openinference.span.kind": "EVALUATOR", **attrs}
    for n, result in enumerate(results):
        record: ResultRecord = next(records)
        prefix = f"{FLAT_PREFIXES[level]}.{n}.evaluation."
        attrs[prefix + "name"] = result.name
        attrs[prefix + "identifier"] = record.identifier
        attrs[prefix + "metadata"] = json.dumps(record.metadata(), sort_keys=True)
        attrs[prefix + "status"] = result.status
        attrs[prefix + "annotator_kind"] = verdict.annotator_kinds.get(result.name, "LLM")
        if result.explanation:
            attrs[prefix + "explanation"] = result.explanation
        if result.status == "ok":
            if result.score is not None:
                attrs[prefix + "score"] = result.score
            if result.label is not None:
                attrs[prefix + "label"] = result.label
        event_attrs = _result_event_attributes(verdict, level, result)
        span.events.add(time_unix_nano=verdict.end_ns, name=EVENT_NAME, attributes=_key_values(event_attrs))
    span.attributes.extend(_key_values(attrs))
    if any(r.status == "error" for r in results):
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = "; ".join(f"{r.name}: {r.error_type}" for r in results if r.status == "error")
    return span


def _add(request: ExportTraceServiceRequest, resource: Resource, span: Span) -> None:
    rs = request.resource_spans.add()
    rs.resource.CopyFrom(resource)
    ss = rs.scope_spans.add()
    ss.scope.name = "collector-eval"
    ss.scope.version = __version__
    ss.spans.append(span)


def _result_event_attributes(verdict: Verdict, level: str, result: EvaluationResult) -> dict[str, object]:
    attrs = _event_attributes(result)
    if level == "session" and verdict.transcript_warnings:
        attrs[ATTR_WARNINGS] = list(verdict.transcript_warnings)
    return attrs


def _event_attributes(result: EvaluationResult) -> dict[str, object]:
    attrs: dict[str, object] = {
        "gen_ai.evaluation.name": result.name,
        "collector_eval.evaluation.status": result.status,
    }
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
    if result.status == "ok" and result.passed is not None:
        attrs["collector_eval.evaluation.passed"] = result.passed
    if result.cost is not None:
        attrs["collector_eval.evaluation.cost"] = result.cost
    if result.explanation:
        attrs["gen_ai.evaluation.explanation"] = result.explanation
    attrs.update(result.attributes)
    return attrs


def _resources_by_span(session: StoredSession) -> dict[bytes, Resource]:
    """Each span's resource, so a carrier span is filed with the app that sent the judged span."""
    return {span.span_id: rs.resource for rs in session.resource_spans for ss in rs.scope_spans for span in ss.spans}


def _first_resource(session: StoredSession) -> Resource:
    return session.resource_spans[0].resource if session.resource_spans else Resource()


def _key_values(attrs: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any_value(v)) for k, v in attrs.items()]


def _any_value(value: object) -> AnyValue:
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
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
    out = {
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
        "evaluations": [_session_result(r, verdict) for r in verdict.results],
        "subjects": [
            {
                "level": subject.level,
                "trace_id": subject.trace_id.hex(),
                "span_id": subject.span_id.hex(),
                "evaluations": [r.as_dict() for r in subject.results],
            }
            for subject in verdict.subjects
        ],
    }
    if verdict.forwarding is not None:
        out["forwarding"] = {"decision": verdict.forwarding.decision.value, "rule": verdict.forwarding.rule}
    return out


def _session_result(result: EvaluationResult, verdict: Verdict) -> dict:
    out = result.as_dict()
    if verdict.transcript_warnings:
        out["attributes"] = {**out["attributes"], ATTR_WARNINGS: list(verdict.transcript_warnings)}
    return out
