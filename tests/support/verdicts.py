"""Helpers shared by several test modules."""

from __future__ import annotations

from types import SimpleNamespace

from collector_eval.export.verdict import Verdict
from collector_eval.model import EvaluationResult, SessionKey


def _verdict(results: list[EvaluationResult]) -> Verdict:
    # Only the attributes the carrier reads: the layout of the stored session is not the README's business.
    session = SimpleNamespace(
        key=SessionKey("chat-app", "sess-1"),
        revision=1,
        trigger="end_span",
        end_trace_id=b"\x01" * 16,
        end_span_id=b"\x02" * 8,
        id_attribute="gen_ai.conversation.id",
        resource_spans=[],
        span_count=3,
        truncated=False,
    )
    return Verdict(
        session=session,
        results=results,
        judge_model="gpt-4o-mini",
        transcript_truncated=True,
        start_ns=1,
        end_ns=2,
        annotator_kinds={r.name: "LLM" for r in results},
    )
