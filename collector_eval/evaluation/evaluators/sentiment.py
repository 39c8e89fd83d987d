"""Sentiment: the mood of the user's input, and of the model's response beside it."""

from __future__ import annotations

from typing import ClassVar

from collector_eval.evaluation.evaluators.base import Output, SpanEvaluator
from collector_eval.evaluation.evaluators.prompting import DATA_RULE, data_block
from collector_eval.evaluation.transcript.spans import SpanView
from collector_eval.model import EvaluationResult

LABELS = ("positive", "negative", "neutral")
ATTR_OUTPUT = "gen_ai.evaluation.sentiment.output"

SYSTEM_PROMPT = f"""\
You evaluate the sentiment of one exchange with an AI model: the input it was given and its response.

{DATA_RULE}

For the input in <input> and for the response in <output>, separately: quote the words that carry \
the sentiment, then choose positive, negative or neutral. Positive: pleased, grateful, enthusiastic. \
Negative: annoyed, upset, disappointed, hostile, sad. Neutral: factual or mixed without a clear lean. \
A negative topic asked about calmly is neutral. When <output> says it was not recorded, answer neutral \
for it. Then explain in one sentence."""

_SIDE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["evidence", "sentiment"],
    "properties": {"evidence": {"type": "string"}, "sentiment": {"type": "string", "enum": list(LABELS)}},
}
SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["input", "output", "explanation"],
    "properties": {"input": _SIDE, "output": _SIDE, "explanation": {"type": "string"}},
}


class Sentiment(SpanEvaluator):
    name = "sentiment"
    reads = "input and output"
    details = "The pass criterion is on the user's input; the response's sentiment is kept beside it as an attribute."
    answers: ClassVar[str] = "Is the input positive, negative or neutral (and the response, as an attribute)?"
    output = Output(labels=LABELS, passing="the input is not negative")
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA

    def gate(self, span: SpanView) -> EvaluationResult | None:
        if not (span.input or "").strip():
            return EvaluationResult.skipped(self.name, "no_content", "the span records no input text")
        return None

    def user_message(self, span: SpanView) -> str:
        output = span.output if span.output is not None else "(not recorded)"
        return "\n\n".join(
            [
                "Evaluate the sentiment of this exchange.",
                data_block("input", span.input or ""),
                data_block("output", output),
            ]
        )

    def verdict(self, data: dict, span: SpanView) -> EvaluationResult:
        label = data["input"]["sentiment"]
        attributes = {ATTR_OUTPUT: data["output"]["sentiment"]} if span.output is not None else {}
        return self._result(label, data["explanation"], passed=label != "negative", **attributes)
