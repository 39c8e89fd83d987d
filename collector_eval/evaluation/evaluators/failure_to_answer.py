"""Failure to answer: did the model's response answer, or fail in one of five recognised ways?

An empty response and an empty code object are plain to see: they are decided without the judge.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.evaluators.base import Output, SpanEvaluator
from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.evaluators.prompting import DATA_RULE, data_block
from collector_eval.evaluation.transcript.spans import SpanView
from collector_eval.model import EvaluationResult

FAILURES = {
    "empty_code_response": "an empty code object, such as an empty list, tuple, object or code block: no data or results",
    "empty_response": "no meaningful response at all, nothing or only whitespace",
    "no_content_response": 'an empty result with a message that no content is available ("No results found")',
    "redirection_response": 'sends the user elsewhere or to another approach instead of answering ("check the documentation")',
    "refusal_response": "explicitly declines to answer or to do what was asked",
}
CATEGORIES = ("answered", *FAILURES)

SYSTEM_PROMPT = (
    f"""\
You evaluate whether one response of an AI model answered its input or failed to answer it.

{DATA_RULE}

Classify the response in <output>, given the input in <input>, into exactly one category:
- answered: the response addresses the input, even partly, briefly or with caveats.
"""
    + "\n".join(f"- {name}: {text}." for name, text in FAILURES.items())
    + """

Give the evidence first (quote the part of the response that decides it), then the category, then a \
one-sentence explanation."""
)

SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["evidence", "category", "explanation"],
    "properties": {
        "evidence": {"type": "string"},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "explanation": {"type": "string"},
    },
}

_PLAIN = {
    "empty_response": "the response is empty or only whitespace",
    "empty_code_response": "the response is an empty code object",
}
_FENCE = re.compile(r"^```[\w+-]*\s*\n?(.*?)\n?\s*```$", re.DOTALL)
# Empty values as code writes them, for the languages models answer in most.
_EMPTY_LITERALS = {"()", "None", "nil", "null", "NULL", "set()", "''", '""', "[]", "{}", "undefined"}


def empty_kind(output: str) -> str | None:
    """empty_response or empty_code_response when the output is plainly one of them, else None."""
    text = output.strip()
    if not text:
        return "empty_response"
    fenced = _FENCE.match(text)
    inner = fenced.group(1).strip() if fenced else text
    if fenced and not inner:
        return "empty_code_response"
    if inner in _EMPTY_LITERALS:
        return "empty_code_response"
    try:
        value = json.loads(inner)
    except json.JSONDecodeError:
        return None
    return "empty_code_response" if value in ([], {}, "", None) else None


class FailureToAnswer(SpanEvaluator):
    name = "failure_to_answer"
    reads = "output"
    answers: ClassVar[str] = (
        "Did the response answer, or was it empty, empty code, no content, a redirection or a refusal?"
    )
    without_judge: ClassVar[str] = "empty and empty-code responses"
    options: ClassVar[tuple[str, ...]] = ("fail_categories",)
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA

    @property
    def output(self) -> Output:
        return Output(
            labels=CATEGORIES, passing="category not in fail_categories: " + ", ".join(self.config.fail_categories)
        )

    @classmethod
    def check_config(cls, config: EvaluatorConfig, path: str) -> None:
        for i, category in enumerate(config.fail_categories):
            if category not in FAILURES:
                raise ConfigError(f"{path}.fail_categories[{i}]: {category!r} is not one of {', '.join(FAILURES)}")

    def applicable(self, span: SpanView) -> bool:
        # A response that only calls tools is a step towards an answer, not a failure to give one.
        return not (span.tool_calls and not (span.output or "").strip())

    def gate(self, span: SpanView) -> EvaluationResult | None:
        if span.output is None:
            return EvaluationResult.skipped(
                self.name, "no_content", "the span records no output (content capture off?)"
            )
        kind = empty_kind(span.output)
        if kind is None:
            return None
        return self._result(kind, _PLAIN[kind], passed=kind not in self.config.fail_categories)

    def user_message(self, span: SpanView) -> str:
        return "\n\n".join(
            [
                "Classify this response.",
                data_block("input", span.input if span.input is not None else "(not recorded)"),
                data_block("output", span.output or ""),
            ]
        )

    def verdict(self, data: dict, span: SpanView) -> EvaluationResult:
        category = data["category"]
        return self._result(category, data["explanation"], passed=category not in self.config.fail_categories)
