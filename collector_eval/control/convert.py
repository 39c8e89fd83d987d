"""Session statuses and verdict records as control API messages."""

from __future__ import annotations

from collector_eval.model import EvaluationResult, ResultStatus
from collector_eval.sessions.status import SessionStatus
from collector_eval.v1 import control_pb2 as pb

STATES = {
    "buffered": pb.SESSION_STATE_BUFFERED,
    "scheduled": pb.SESSION_STATE_SCHEDULED,
    "judging": pb.SESSION_STATE_JUDGING,
    "judged": pb.SESSION_STATE_JUDGED,
}


def session_message(status: SessionStatus) -> pb.Session:
    return pb.Session(
        tenant=status.key.tenant,
        session_id=status.key.session_id,
        state=STATES[status.state],
        spans=status.spans,
        bytes=status.bytes,
        truncated=status.truncated,
        trace_ids=[t.hex() for t in status.trace_ids],
        revision=status.revision,
        trigger=status.trigger,
        due_at_unix=status.due_at,
        unjudged_spans=status.unjudged_spans,
        id_attribute=status.id_attribute,
        end_span_id=status.end_span_id.hex(),
        ttl_s=status.ttl_s,
        verdicts=[verdict_message(record) for record in status.verdicts],
    )


def verdict_message(record: dict) -> pb.Verdict:
    """A verdict record as the worker stores it: {"revision", "results": [EvaluationResult fields]}."""
    return pb.Verdict(revision=record["revision"], evaluations=[_evaluation(r) for r in record["results"]])


def _evaluation(result: dict) -> pb.Evaluation:
    message = pb.Evaluation(
        name=result["name"],
        status=result["status"],
        explanation=result.get("explanation") or "",
        error_type=result.get("error_type") or "",
        attributes={str(k): str(v) for k, v in (result.get("attributes") or {}).items()},
        judge_model=result.get("judge_model") or "",
        input_tokens=result.get("input_tokens") or 0,
        output_tokens=result.get("output_tokens") or 0,
    )
    # Only a real verdict has a score or label: a failed or skipped one leaves them unset, never 0.
    if result["status"] == "ok":
        if result.get("score") is not None:
            message.score = result["score"]
        if result.get("label") is not None:
            message.label = result["label"]
        if result.get("passed") is not None:
            message.passed = result["passed"]
    return message


# The other way, for the command line: messages as the JSON it prints.

STATE_NAMES = {value: name for name, value in STATES.items()}


def session_dict(session: pb.Session) -> dict:
    return {
        "tenant": session.tenant,
        "session_id": session.session_id,
        "state": STATE_NAMES.get(session.state, "unknown"),
        "spans": session.spans,
        "bytes": session.bytes,
        "truncated": session.truncated,
        "trace_ids": list(session.trace_ids),
        "revision": session.revision,
        "trigger": session.trigger,
        "due_at_unix": session.due_at_unix or None,
        "unjudged_spans": session.unjudged_spans,
        "id_attribute": session.id_attribute,
        "end_span_id": session.end_span_id or None,
        "ttl_s": session.ttl_s,
        "verdicts": [
            {"revision": v.revision, "evaluations": [evaluation_dict(e) for e in v.evaluations]}
            for v in session.verdicts
        ],
    }


def evaluation_dict(e: pb.Evaluation) -> dict:
    """The same fields as an evaluation in the console verdict: one EvaluationResult.as_dict for both."""
    return EvaluationResult(
        name=e.name,
        status=ResultStatus(e.status),
        score=e.score if e.HasField("score") else None,
        label=e.label if e.HasField("label") else None,
        passed=e.passed if e.HasField("passed") else None,
        explanation=e.explanation,
        error_type=e.error_type or None,
        attributes=dict(e.attributes),
    ).as_dict()
