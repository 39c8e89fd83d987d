"""Topic relevancy: is the user's input about what the application is for (the configured topics)?"""

from __future__ import annotations

from typing import ClassVar

from collector_eval.config.checks import ConfigError
from collector_eval.evaluation.evaluators.base import Output, SpanEvaluator
from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.evaluators.prompting import DATA_RULE, data_block
from collector_eval.evaluation.transcript.spans import SpanView
from collector_eval.model import EvaluationResult

ATTR_TOPIC = "gen_ai.evaluation.topic_relevancy.topic"

SYSTEM_PROMPT = f"""\
You decide whether the input given to an AI application is on topic: about one of the topics the \
application is meant to cover.

{DATA_RULE}

The topics are listed in <topics>, one per line; the input is in <input>. The input is on topic when \
it asks about, or continues a conversation about, one of the topics, including follow-ups and \
clarifications; greetings and thanks are on topic. It is off topic when it is about something else.

Give the evidence first, then whether it is on topic, the topic it matches (empty when none), then a \
one-sentence explanation."""

SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["evidence", "on_topic", "topic", "explanation"],
    "properties": {
        "evidence": {"type": "string"},
        "on_topic": {"type": "boolean"},
        "topic": {"type": "string"},
        "explanation": {"type": "string"},
    },
}


class TopicRelevancy(SpanEvaluator):
    name = "topic_relevancy"
    reads = "input"
    details = "`topics` is required."
    answers: ClassVar[str] = "Is the user's input about one of the configured topics?"
    options: ClassVar[tuple[str, ...]] = ("topics",)
    output = Output(labels=("on_topic", "off_topic"), passing="on_topic")
    system_prompt = SYSTEM_PROMPT
    schema = SCHEMA

    @classmethod
    def check_config(cls, config: EvaluatorConfig, path: str) -> None:
        if not config.topics:
            raise ConfigError(
                f"{path}.topics: topic_relevancy needs the topics the application covers, "
                "e.g. topics: [billing, shipping]"
            )
        for i, topic in enumerate(config.topics):
            if not topic.strip():
                raise ConfigError(f"{path}.topics[{i}]: must not be empty")

    def gate(self, span: SpanView) -> EvaluationResult | None:
        if not (span.input or "").strip():
            return EvaluationResult.skipped(self.name, "no_content", "the span records no input text")
        return None

    def user_message(self, span: SpanView) -> str:
        return "\n\n".join(
            [
                "Is this input on topic?",
                data_block("topics", "\n".join(self.config.topics)),
                data_block("input", span.input or ""),
            ]
        )

    def verdict(self, data: dict, span: SpanView) -> EvaluationResult:
        if data["on_topic"]:
            return self._result("on_topic", data["explanation"], passed=True, **{ATTR_TOPIC: data["topic"]})
        return self._result("off_topic", data["explanation"], passed=False)
