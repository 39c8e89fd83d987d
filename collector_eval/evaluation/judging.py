"""Judging one session, apart from the job loop that feeds it (evaluation/worker.py) and the offline
`evaluate` command."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from collector_eval.evaluation.evaluators.base import Evaluator
from collector_eval.evaluation.judge.client import Judge
from collector_eval.evaluation.transcript.budget import elide
from collector_eval.evaluation.transcript.builder import build_transcript, readers_for
from collector_eval.evaluation.transcript.model import Transcript
from collector_eval.evaluation.transcript.options import OnDoubt, TranscriptConfig
from collector_eval.evaluation.transcript.redaction import redact
from collector_eval.evaluation.transcript.spans import SpanView, TraceView, span_views, trace_views
from collector_eval.export.verdict import SubjectResults, Verdict
from collector_eval.model import EvaluationResult, StoredSession

log = logging.getLogger(__name__)

DOUBTFUL = "doubtful_transcript"  # the skip reason of transcript.on_doubt: skip


@dataclass
class SessionJudging:
    """How a session is judged: the evaluators, the judge (None: deterministic checks only), and
    what is done to the transcript before the judge sees it."""

    evaluators: list[Evaluator]
    judge: Judge | None
    judge_model: str
    max_input_tokens: int  # judge.max_input_tokens: the transcript is elided past it
    redaction: list[str] = field(default_factory=list)
    # transcript.*: the mappings the transcript is read with, and what a doubtful transcript gets.
    transcript: TranscriptConfig = field(default_factory=TranscriptConfig)

    async def run(self, stored: StoredSession) -> Verdict:
        """Rebuild a session's transcript and run every evaluator on it concurrently: session-level
        ones on the transcript, span- and trace-level ones on each span or trace they select. The one
        place a session is judged: the worker and the offline `evaluate` command both come through here."""
        evaluators, judge = self.evaluators, self.judge
        start_ns = time.time_ns()
        transcript = build_transcript(stored.resource_spans, stored.resource_logs, self.transcript)
        readers = readers_for(self.transcript)
        if judge is not None:
            transcript = elide(transcript, self.max_input_tokens)
        redactions: dict[str, int] = {}
        if self.redaction:
            transcript, redactions = redact(transcript, self.redaction)
        by_level: dict[str, list[Evaluator]] = {"session": [], "span": [], "trace": []}
        for ev in evaluators:
            by_level[ev.level].append(ev)
        session_evs = [ev for ev in by_level["session"] if ev.selects(stored.key.session_id)]
        # (level, trace id, span id, evaluator, the view it judges)
        subjects: list[tuple[str, str, str, Evaluator, SpanView | TraceView]] = []
        done = stored.judged_subjects
        if by_level["span"]:
            for view in span_views(stored.resource_spans, readers):
                subjects += [
                    ("span", view.trace_id, view.span_id, ev, view)
                    for ev in by_level["span"]
                    if f"{ev.name}:{view.span_id}" not in done and ev.selects(view)
                ]
        if by_level["trace"]:
            for trace in trace_views(stored.resource_spans, readers):
                # A trace that grew since it was judged is judged again: it is a new trajectory.
                subject = f"{len(trace.spans)}:{trace.trace_id}"
                subjects += [
                    ("trace", trace.trace_id, trace.root.span_id, ev, trace)
                    for ev in by_level["trace"]
                    if f"{ev.name}:{subject}" not in done and ev.selects(trace)
                ]
        judged_now = {
            f"{ev.name}:{view.span_id}"
            if isinstance(view, SpanView)  # the span level's views
            else f"{ev.name}:{len(view.spans)}:{view.trace_id}"
            for _, _, _, ev, view in subjects
        }
        results = await asyncio.gather(
            *(self._evaluate_session(ev, transcript, judge) for ev in session_evs),
            *(_evaluate(ev, view, judge) for _, _, _, ev, view in subjects),
        )
        grouped: dict[tuple[str, str, str], list[EvaluationResult]] = {}
        for (level, trace_id, span_id, _, _), result in zip(subjects, results[len(session_evs) :]):
            grouped.setdefault((level, trace_id, span_id), []).append(result)
        return Verdict(
            session=stored,
            results=list(results[: len(session_evs)]),
            judge_model=self.judge_model,
            transcript_truncated=transcript.truncated,
            transcript_warnings=list(transcript.warnings),
            start_ns=start_ns,
            end_ns=time.time_ns(),
            annotator_kinds={ev.name: "LLM" if ev.needs_judge else "CODE" for ev in evaluators},
            evaluator_versions={ev.name: ev.version for ev in evaluators},
            redactions=redactions,
            subjects=[
                SubjectResults(level, bytes.fromhex(trace_id), bytes.fromhex(span_id), group)
                for (level, trace_id, span_id), group in grouped.items()
            ],
            judged_subjects=done | judged_now,
        )

    async def _evaluate_session(
        self, evaluator: Evaluator, transcript: Transcript, judge: Judge | None
    ) -> EvaluationResult:
        if evaluator.needs_judge and transcript.warnings and self.transcript.on_doubt == OnDoubt.SKIP:
            # The judge would rate a conversation that may not be the one that took place.
            warnings = "; ".join(transcript.warnings)
            return EvaluationResult.skipped(evaluator.name, DOUBTFUL, f"the transcript is doubtful: {warnings}")
        return await _evaluate(evaluator, transcript, judge)


async def _evaluate(evaluator: Evaluator, subject, judge: Judge | None) -> EvaluationResult:
    try:
        return await evaluator.evaluate(subject, judge)
    except Exception as exc:  # an evaluator bug must not cost the other evaluators their verdicts
        log.exception("evaluator %s crashed", evaluator.name)
        return EvaluationResult.failed(evaluator.name, "evaluator_error", f"{type(exc).__name__}: {exc}")
