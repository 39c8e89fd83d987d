"""One evaluation run of a session: its results at every level, and what the run knew about how they
were made. The carrier spans, the console line and the backends' result records are all made from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector_eval.model import EvaluationResult, ForwardingDecision, StoredSession


@dataclass
class SubjectResults:
    """Span- or trace-level results for one judged span (the trace's root for trace level)."""

    level: str
    trace_id: bytes
    span_id: bytes
    results: list[EvaluationResult]


@dataclass
class Verdict:
    session: StoredSession
    results: list[EvaluationResult]
    judge_model: str
    transcript_truncated: bool
    start_ns: int
    end_ns: int
    annotator_kinds: dict[str, str]  # evaluator name -> "LLM" | "CODE"
    # evaluator name -> its version (evaluators/base.py), for the backends' metadata; absent: "1".
    evaluator_versions: dict[str, str] = field(default_factory=dict)
    # What redaction replaced before the judge saw the transcript: detector -> count (never values).
    redactions: dict[str, int] = field(default_factory=dict)
    subjects: list[SubjectResults] = field(default_factory=list)
    # Every span and trace subject judged up to and including this run (see StoredSession).
    judged_subjects: set[str] = field(default_factory=set)
    # The transcript's warnings (evaluation/transcript/doubt.py): the session-level results rest on it.
    transcript_warnings: list[str] = field(default_factory=list)
    # forwarding.mode on_verdict: what the keep rules decided for the session's spans; None: not held.
    forwarding: ForwardingDecision | None = None

    def all_results(self):
        yield from self.results
        for subject in self.subjects:
            yield from subject.results

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.all_results())

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.all_results())
