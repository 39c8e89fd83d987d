"""The evaluator interface and the result every evaluator returns, whatever its outcome.

An evaluator judges one subject at its level: a session's Transcript, one SpanView, or one
TraceView (see spans.py). Whoever runs it asks `selects(...)` first (the evaluator's filters and its
sample draw), then awaits `evaluate(subject, judge)`, which never raises for a judge failure.
A judge-backed evaluator runs its deterministic gate first and asks the judge only when the gate
settles nothing, so what a cheap check can decide never costs a judge call.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from collector_eval.evaluation.evaluators.options import EvaluatorConfig, EvaluatorFiltersConfig
from collector_eval.evaluation.evaluators.prompting import data_block
from collector_eval.evaluation.judge.errors import JudgeError
from collector_eval.evaluation.transcript.messages import as_text
from collector_eval.evaluation.transcript.spans import SpanView, TraceView
from collector_eval.model import EvaluationResult, Level, ResultStatus

if TYPE_CHECKING:
    from collector_eval.evaluation.judge.client import Judge
    from collector_eval.evaluation.transcript.model import Transcript

ATTR_TRUNCATED = "collector_eval.transcript.truncated"

# Judge errors that mean "not judged, by choice" rather than "judging failed".
_SKIPPING_ERRORS = frozenset({"judge_budget_exhausted"})


@dataclass(frozen=True)
class Output:
    """What an evaluator's results can hold, for listings and for readers of the results."""

    labels: tuple[str, ...] = ()
    score: tuple[float, float] | None = None  # (min, max)
    direction: Literal["higher", "lower"] | None = None  # which way the score is better
    passing: str = ""  # the pass criterion, in words


class Evaluator(ABC):
    # The built-in's (a class attribute); an instance's `name` is its config entry's, the results' name.
    # Not a ClassVar, as instances set their own; the same for `version` (a custom judge's is its own).
    name: str
    level: ClassVar[Level]
    needs_judge: ClassVar[bool] = True
    version: str = "1"
    answers: ClassVar[str]  # the question it answers, in one line
    without_judge: ClassVar[str] = ""  # what its gate settles without the judge
    options: ClassVar[tuple[str, ...]] = ()  # the EvaluatorConfig keys it reads beyond the common ones
    # For the manual (docs/evaluators.md): what a span-level evaluator reads of its span, and what the
    # one-line fields leave out.
    reads: ClassVar[str] = ""
    details: ClassVar[str] = ""
    # For judge-backed evaluators: the task, and the strict-compatible JSON schema of the answer.
    system_prompt: str = ""
    schema: dict[str, Any] = {}

    def __init__(self, config: EvaluatorConfig | None = None) -> None:
        self.config = config if config is not None else EvaluatorConfig(name=type(self).name)
        self.name = self.config.name

    @property
    @abstractmethod
    def output(self) -> Output:
        """What its results can hold: a class attribute, or a property where options change it."""

    @property
    def labels(self) -> tuple[str, ...]:
        return self.output.labels

    @classmethod  # noqa: B027 (a hook: most evaluators have no options to check)
    def check_config(cls, config: EvaluatorConfig, path: str) -> None:
        """Validates the evaluator's own options; raises ConfigError naming the dotted key."""

    def sampled(self, subject_id: str) -> bool:
        """The sample draw: the same for the same subject every time, on every replica."""
        rate = self.config.sample_rate
        if rate >= 1:
            return True
        # Salted with the evaluator's name, so that two evaluators at 50% do not pick the same half.
        digest = hashlib.sha256(f"{self.name}\0{subject_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < rate * 2**64

    @abstractmethod
    def selects(self, subject: Any) -> bool:
        """Whether to judge this subject (a session id, a SpanView or a TraceView, by level): the
        evaluator's filters and its sample draw."""

    @abstractmethod
    async def evaluate(self, subject: Any, judge: Judge | None) -> EvaluationResult:
        """The result for the subject at its level (a Transcript, a SpanView or a TraceView)."""

    def gate(self, subject: Any) -> EvaluationResult | None:
        """A deterministic verdict or skip that makes the judge unnecessary; None: ask the judge."""
        return None

    def user_message(self, subject: Any) -> str:
        raise NotImplementedError(f"{type(self).__name__} needs the judge but builds no question")

    @abstractmethod
    def verdict(self, data: dict[str, Any], subject: Any) -> EvaluationResult:
        """The result from the judge's answer (already checked against the schema)."""

    async def _evaluate(self, subject: Any, judge: Judge | None) -> EvaluationResult:
        settled = self.gate(subject)
        if settled is not None:
            return settled
        if judge is None or not judge.enabled:
            reason = judge.disabled_reason if judge is not None else None
            return EvaluationResult.skipped(self.name, "judge_disabled", reason or "no judge configured")
        try:
            answer = await judge.ask(
                system=self.system_prompt,
                user=self.user_message(subject),
                schema=self.schema,
                schema_name=self.name,
                validate=self._conforms,
            )
        except JudgeError as err:
            make = EvaluationResult.skipped if err.error_type in _SKIPPING_ERRORS else EvaluationResult.failed
            result = make(self.name, err.error_type, str(err))
            result.input_tokens, result.output_tokens = err.input_tokens, err.output_tokens
        else:
            result = self.verdict(answer.data, subject)
            result.input_tokens, result.output_tokens = answer.input_tokens, answer.output_tokens
        result.judge_model = judge.model
        result.cost = judge.cost(result.input_tokens, result.output_tokens)
        return result

    def _conforms(self, data: dict[str, Any]) -> None:
        # Servers without json_schema support (and some with it) return any shape: check it here.
        error = best_match(Draft202012Validator(self.schema).iter_errors(data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the answer"
            raise ValueError(f"{where}: {error.message}")

    def _result(
        self, label: str | None, explanation: str, *, passed: bool | None, score: float | None = None, **attributes: str
    ) -> EvaluationResult:
        # Attributes with dotted names come as **{...}: a caller then passes score too (None), or a
        # type checker takes the mapping for a possible `score`.
        return EvaluationResult(
            name=self.name,
            status=ResultStatus.OK,
            score=score,
            label=label,
            explanation=explanation,
            passed=passed,
            attributes=dict(attributes),
        )


class SessionEvaluator(Evaluator):
    """Judges a whole session's conversation."""

    level: ClassVar[Level] = Level.SESSION
    task: ClassVar[str] = ""  # the first line of the question, e.g. "Evaluate the coherence of this session."

    def selects(self, session_id: str) -> bool:
        return self.sampled(session_id)

    async def evaluate(self, transcript: Transcript, judge: Judge | None) -> EvaluationResult:
        result = await self._evaluate(transcript, judge)
        if transcript.truncated and result.judge_model is not None:
            result.attributes[ATTR_TRUNCATED] = "true"
        return result

    def gate(self, transcript: Transcript) -> EvaluationResult | None:
        if not transcript.has_content:
            return EvaluationResult.skipped(self.name, "no_content", transcript.no_content_explanation)
        return None

    def user_message(self, transcript: Transcript) -> str:
        parts = [self.task]
        if transcript.truncated:
            parts.append(
                "The session was shortened to fit: elided parts are marked in it. Where an outcome falls "
                "in an elided part, infer it from the turns that follow."
            )
        parts.append(data_block("transcript", transcript.render()))
        return "\n\n".join(parts)


class SpanEvaluator(Evaluator):
    """Judges one span: its input, its output, or both."""

    level: ClassVar[Level] = Level.SPAN
    span_kinds: ClassVar[tuple[str, ...]] = ("LLM",)  # judged when the config's filters name no kind

    def applicable(self, span: SpanView) -> bool:
        """Whether the span holds what this evaluator judges (e.g. tool calls); if not, no result at all."""
        return True

    def selects(self, span: SpanView) -> bool:
        return (
            matches(span, self.config.filters, self.span_kinds) and self.applicable(span) and self.sampled(span.span_id)
        )

    async def evaluate(self, span: SpanView, judge: Judge | None) -> EvaluationResult:
        return await self._evaluate(span, judge)


class TraceEvaluator(Evaluator):
    """Judges one trace: its spans in order."""

    level: ClassVar[Level] = Level.TRACE

    def applicable(self, trace: TraceView) -> bool:
        return True

    def selects(self, trace: TraceView) -> bool:
        # Filters pick traces by their spans: a trace is judged when any of its spans passes them.
        matched = any(matches(span, self.config.filters) for span in trace.spans)
        return matched and self.applicable(trace) and self.sampled(trace.trace_id)

    async def evaluate(self, trace: TraceView, judge: Judge | None) -> EvaluationResult:
        return await self._evaluate(trace, judge)


def matches(span: SpanView, filters: EvaluatorFiltersConfig, default_kinds: tuple[str, ...] = ()) -> bool:
    """Whether a span passes an evaluator's filters; kinds not configured fall back to its defaults."""
    kinds = filters.span_kind or default_kinds
    if kinds and span.kind not in kinds:
        return False
    if filters.span_name and not any(fnmatchcase(span.name, pattern) for pattern in filters.span_name):
        return False
    return all(
        key in span.attributes and _as_config_text(span.attributes[key]) == value
        for key, value in filters.attributes.items()
    )


def _as_config_text(value: Any) -> str:
    # As YAML writes it, so `attributes: {stream: "true"}` matches a boolean attribute.
    if isinstance(value, bool):
        return "true" if value else "false"
    return as_text(value)
